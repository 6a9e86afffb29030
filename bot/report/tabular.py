"""`--format json` and `--format csv`: the per-incident rows and the summary, for charting elsewhere."""

from __future__ import annotations

import csv
import io
import json

from .figures import IncidentRow
from .summary import Summary


def to_json(meta: dict, rows: list[IncidentRow], summary: Summary, skipped: list[dict]) -> str:
    return json.dumps({**meta, "summary": summary.to_json(), "incidents": [r.to_json() for r in rows],
                       "skipped": skipped}, indent=2, default=str)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection): a title is person text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if isinstance(value, list):
        value = ";".join(map(str, value))
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def to_csv(rows: list[IncidentRow], summary: Summary) -> str:
    """One row per incident, then a blank line and the summary as `measure,value` rows."""
    buf = io.StringIO()
    data = [r.to_json() for r in rows]
    columns = list(IncidentRow.__dataclass_fields__)
    columns.remove("timeline")
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for item in data:
        writer.writerow({k: _cell(v) for k, v in item.items()})
    buf.write("\n")
    plain = csv.writer(buf, lineterminator="\n")
    plain.writerow(["measure", "value"])
    for key, value in summary.to_json().items():
        if not isinstance(value, (dict, list)):
            plain.writerow([key, value])
    for group in ("by_severity", "by_region"):
        for name, figures in getattr(summary, group).items():
            plain.writerow([f"{name} count", figures["count"]])
            for measure, st in figures.items():
                if isinstance(st, dict):
                    for stat in ("median", "p90", "worst"):
                        plain.writerow([f"{name} {measure} {stat}", st[stat]])
    return buf.getvalue()
