"""The report's summary over the incident rows: per severity and per region, the shares the framework
targets, and a trend per week. Pure. Drills are summarised apart from real incidents."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .figures import IncidentRow, week_of

TIMES = (("ttfc_min", "Time to first communication"), ("ttm_min", "Time to mitigate"),
         ("ttr_min", "Time to resolve"))
CSAT_TARGET = 90.0


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0-100): a value that occurred, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def stats(values: list[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    return {"n": len(known), "median": percentile(known, 50), "p90": percentile(known, 90),
            "worst": max(known) if known else None}


def share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _group(rows: list[IncidentRow]) -> dict[str, Any]:
    return {"count": len(rows), **{key: stats([getattr(r, key) for r in rows]) for key, _ in TIMES}}


@dataclass
class Summary:
    incidents: int
    drills: int
    partial: int
    skipped: int
    by_severity: dict[str, dict] = field(default_factory=dict)
    by_region: dict[str, dict] = field(default_factory=dict)
    response_target_met_pct: float | None = None
    cadence_kept_pct: float | None = None
    actions_on_time_pct: float | None = None
    csat_avg_pct: float | None = None
    csat_scores: int = 0
    csat_target_pct: float = CSAT_TARGET
    csat_met: bool | None = None
    handoffs_before_shift_end_pct: float | None = None
    escalation_answer: dict = field(default_factory=dict)
    weekly: list[dict] = field(default_factory=list)
    drill_weeks: list[dict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarise(rows: list[IncidentRow], skipped: int = 0) -> Summary:
    real = [r for r in rows if not r.drill]
    drills = [r for r in rows if r.drill]
    s = Summary(incidents=len(real), drills=len(drills), partial=sum(r.partial for r in rows), skipped=skipped)
    for sev in sorted({r.severity for r in real}):
        s.by_severity[f"SEV{sev}"] = _group([r for r in real if r.severity == sev])
    for region in sorted({g for r in real for g in r.regions}):
        s.by_region[region] = _group([r for r in real if region in r.regions])
    judged = [r for r in real if r.response_target_met is not None]
    s.response_target_met_pct = share(sum(r.response_target_met for r in judged), len(judged))
    s.cadence_kept_pct = share(sum(r.updates_on_time for r in real), sum(r.updates_timed for r in real))
    done = sum(r.actions_done_on_time for r in real)
    due = done + sum(r.actions_done_late + r.actions_overdue for r in real)
    s.actions_on_time_pct = share(done, due)
    scored = [r for r in real if r.csat_pct is not None]
    s.csat_scores = sum(r.csat_count for r in scored)
    if scored:  # every score weighs the same, whichever incident it was given for
        s.csat_avg_pct = round(sum(r.csat_pct * r.csat_count for r in scored) / s.csat_scores, 1)
        s.csat_met = s.csat_avg_pct > CSAT_TARGET
    s.handoffs_before_shift_end_pct = share(sum(r.handoffs_before_shift_end for r in real),
                                            sum(r.handoffs_timed for r in real))
    s.escalation_answer = stats([m for r in real for m in r.escalation_answer_min])
    s.weekly = trend(real)
    s.drill_weeks = [{"week": w["week"], "drills": w["count"]} for w in trend(drills)]
    return s


def trend(rows: list[IncidentRow]) -> list[dict[str, Any]]:
    """Per ISO week of detection: count, median times, cadence kept."""
    weeks: dict[str, list[IncidentRow]] = {}
    for r in rows:
        if r.detected is not None:
            weeks.setdefault(week_of(r.detected), []).append(r)
    out = []
    for week in sorted(weeks):
        group = weeks[week]
        out.append({"week": week, "count": len(group),
                    **{key: stats([getattr(r, key) for r in group])["median"] for key, _ in TIMES},
                    "cadence_kept_pct": share(sum(r.updates_on_time for r in group),
                                              sum(r.updates_timed for r in group))})
    return out
