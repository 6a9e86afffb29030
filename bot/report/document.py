"""`--format md` (GitLab-flavoured Markdown) and `--format html` (one self-contained file): the summary
table, the incidents, and the charts. Rendered from templates/report.*.j2."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, StrictUndefined, select_autoescape

from ..neutralize import neutralize
from ..render import _bundled_loader
from .charts import Chart
from .figures import IncidentRow
from .summary import TIMES, Summary


def _fmt_min(value) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    if value < 120:
        return f"{value:g} min"
    return f"{value / 60:.1f} h"


def _fmt_pct(value) -> str:
    return "n/a" if value is None else f"{value:g}%"


def _fmt_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "unknown"


def _env(html: bool) -> Environment:
    env = Environment(loader=_bundled_loader(), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      autoescape=select_autoescape(["html.j2"]) if html else False, keep_trailing_newline=True)
    # `person`: text people wrote (titles) as the bot may post it: --post-issue writes the Markdown as the bot.
    env.filters.update(minutes=_fmt_min, pct=_fmt_pct, when=_fmt_time, person=neutralize)
    return env


def _context(meta: dict, rows: list[IncidentRow], summary: Summary, skipped: list[dict]) -> dict:
    return {"meta": meta, "rows": [r for r in rows if not r.drill], "drills": [r for r in rows if r.drill],
            "summary": summary, "skipped": skipped, "times": TIMES}


def to_markdown(meta: dict, rows, summary, skipped, images: dict[str, str]) -> str:
    """`images` maps a chart name to where the Markdown shows it from (a file path or an upload URL)."""
    return _env(False).get_template("report.md.j2").render(images=images, **_context(meta, rows, summary, skipped))


def to_html(meta: dict, rows, summary, skipped, charts: list[Chart]) -> str:
    """Every chart inlined as SVG: the file needs no network to be viewed."""
    svgs = [{"name": c.name, "title": c.title, "svg": c.svg()} for c in charts]
    return _env(True).get_template("report.html.j2").render(charts=svgs, **_context(meta, rows, summary, skipped))
