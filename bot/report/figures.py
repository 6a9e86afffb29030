"""The framework's measures for one incident, from its state. Pure: no I/O, no formatting.

Every figure comes from a recorded time; what was not recorded stays None (shown as unknown), never an
estimate. An incident the bot did not see from the start (rebuilt from its notes) is `partial`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from ..config import Config
from ..exercise import csat_average
from ..shifts import in_shift
from ..state import IncidentState
from ..timeutil import parse_time


@dataclass
class Action:
    """A postmortem follow-up issue: due date, and when it was closed (None while open)."""

    iid: int
    due: date | None
    closed_at: datetime | None


@dataclass
class Gap:
    start: datetime
    end: datetime
    minutes: float
    cadence: int  # the cadence at the time, in minutes

    @property
    def late(self) -> bool:
        return self.minutes > self.cadence


@dataclass
class IncidentRow:
    iid: int
    title: str
    url: str | None
    severity: int
    status: str
    regions: list[str]
    drill: bool
    partial: bool
    partial_reason: str | None
    reopened: bool  # resolved, then made active again (the state's timeline records it)
    detected: datetime | None
    first_communication: datetime | None
    mitigated: datetime | None
    resolved: datetime | None
    ttfc_min: float | None  # detection to the first customer communication (Initial Status Update)
    ttm_min: float | None
    ttr_min: float | None
    response_target_min: int
    response_target_met: bool | None
    updates: int
    updates_on_time: int
    updates_timed: int  # updates whose due time was recorded (the on-time share counts these)
    longest_gap_min: float | None
    cadence_min: int
    gap_over_cadence: bool | None
    handoffs: int
    handoffs_before_shift_end: int
    handoffs_timed: int
    peak_tickets: int | None
    cmoc_engaged: bool
    smoc_engaged: bool
    escalations: int
    escalation_answer_min: list[float]
    postmortem_iid: int | None
    actions_done_on_time: int
    actions_done_late: int
    actions_overdue: int
    actions_open: int
    csat_pct: float | None
    csat_count: int
    timeline: dict[str, Any] = field(default_factory=dict)  # for the charts: times and gaps

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("timeline")
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return data


def minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60, 1)


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if value else None
    except ValueError:
        return None


def _moments(state: IncidentState, what: str, latest: datetime | None = None) -> list[datetime]:
    """When the state's timeline recorded `what` (mitigated, resolved, reopened), oldest first; a state
    with no such moment (rebuilt from notes, or written before the timeline) has at most `latest`."""
    moments = sorted(t for m in state.timeline if m.get("what") == what and (t := _time(m.get("at"))))
    return moments or [t for t in [latest] if t]


def _status_at(changes: list[tuple[datetime, str]], at: datetime) -> str:
    """The incident's status just after `at`, from its status changes (a reopen makes it active again)."""
    status = "active"
    for when, what in changes:
        if when > at:
            break
        status = "active" if what == "reopened" else what
    return status


def _gaps(cfg: Config, state: IncidentState, end: datetime | None) -> list[Gap]:
    """The gaps between consecutive communications: the Initial Status Update, each periodic update, each
    mitigation and resolution, each reopening, and the end (the resolution, or `end` for an open incident).
    The cadence is the status's at the start of the gap (mitigated incidents get a longer one); the time
    between a resolution and a reopening is under no cadence, so it is no gap."""
    changes = sorted([(t, "mitigated") for t in _moments(state, "mitigated", state.mitigated_at)]
                     + [(t, "resolved") for t in _moments(state, "resolved", state.resolved_at)]
                     + [(t, "reopened") for t in _moments(state, "reopened")])
    # The mitigation and resolution notes tell customers where things stand too: they count as communications.
    points = sorted({t for t in [state.initial_update_at] + [_time(u.get("at")) for u in state.updates] if t}
                    | {t for t, _ in changes})
    if not points:
        return []
    stop = state.resolved_at or end
    if stop and stop > points[-1]:
        points.append(stop)
    gaps = []
    for a, b in zip(points, points[1:], strict=False):
        status = _status_at(changes, a)
        if status == "resolved":
            continue
        gaps.append(Gap(a, b, minutes(a, b) or 0.0, cfg.cadence_minutes(status, state.severity)))
    return gaps


def _handoffs(cfg: Config, state: IncidentState) -> tuple[int, int, list[datetime]]:
    """(handoffs, made before the handing-off region's shift ended, their times)."""
    before, times = 0, []
    for h in state.handoffs:
        at = _time(h.get("at"))
        if at is None:
            continue
        times.append(at)
        shift = cfg.regions.get(h.get("from") or "")
        if shift and in_shift(shift[0], shift[1], at.hour * 60 + at.minute):
            before += 1
    return len(state.handoffs), before, times


def _escalations(state: IncidentState) -> tuple[int, list[float]]:
    """Escalations to the SMOC (the escalation reminders sent) and the time until the SMOC answered:
    the first status update posted after the escalation, which is what it asks for."""
    sent = sorted(t for key, value in state.reminders.items() if key.startswith("escalation:")
                  if (t := _time(value)))
    updates = sorted(t for u in state.updates if (t := _time(u.get("at"))))
    answers = []
    for at in sent:
        answer = next((u for u in updates if u >= at), None)
        if answer is not None:
            answers.append(minutes(at, answer))
    return len(sent), answers


def _actions(actions: list[Action], today: date) -> tuple[int, int, int, int]:
    """(done on time, done late, open and overdue, open and not yet due)."""
    on_time = late = overdue = open_ = 0
    for a in actions:
        if a.closed_at is not None:
            if a.due is None or a.closed_at.date() <= a.due:
                on_time += 1
            else:
                late += 1
        elif a.due is not None and a.due < today:
            overdue += 1
        else:
            open_ += 1
    return on_time, late, overdue, open_


def incident_row(cfg: Config, state: IncidentState, *, iid: int, title: str, url: str | None,
                 labels: list[str], actions: list[Action], now: datetime, partial: str | None = None) -> IncidentRow:
    sev = state.severity
    gaps = _gaps(cfg, state, now)
    longest = max(gaps, key=lambda g: g.minutes, default=None)
    timed = [u for u in state.updates if _time(u.get("at")) and _time(u.get("due"))]
    on_time = sum(1 for u in timed if _time(u["at"]) <= _time(u["due"]))
    handoffs, before, handoff_times = _handoffs(cfg, state)
    escalations, answers = _escalations(state)
    done, late, overdue, open_ = _actions(actions, now.date())
    regions = [r for r in [state.region] + [h.get("from") for h in state.handoffs] + [h.get("to") for h in state.handoffs]
               if r]
    target = cfg.response_target_minutes(sev)
    ttfc = minutes(state.detected_at, state.initial_update_at)
    return IncidentRow(
        iid=iid, title=title, url=url, severity=sev, status=state.status,
        regions=sorted(set(regions)), drill=state.drill,
        partial=partial is not None, partial_reason=partial, reopened=bool(_moments(state, "reopened")),
        detected=state.detected_at, first_communication=state.initial_update_at,
        mitigated=state.mitigated_at, resolved=state.resolved_at,
        ttfc_min=ttfc, ttm_min=minutes(state.detected_at, state.mitigated_at),
        ttr_min=minutes(state.detected_at, state.resolved_at),
        response_target_min=target, response_target_met=None if ttfc is None else ttfc <= target,
        updates=max(state.update_count, len(state.updates)), updates_on_time=on_time, updates_timed=len(timed),
        longest_gap_min=longest.minutes if longest else None, cadence_min=cfg.cadence_minutes("active", sev),
        gap_over_cadence=any(g.late for g in gaps) if gaps else None,
        handoffs=handoffs, handoffs_before_shift_end=before, handoffs_timed=len(handoff_times),
        peak_tickets=state.peak_tickets,
        cmoc_engaged="cmoc" in state.roles, smoc_engaged="smoc" in state.roles,
        escalations=escalations, escalation_answer_min=answers,
        postmortem_iid=state.postmortem_iid,
        actions_done_on_time=done, actions_done_late=late, actions_overdue=overdue, actions_open=open_,
        csat_pct=csat_average(state), csat_count=len(state.csat),
        timeline={"detected": state.detected_at, "first": state.initial_update_at,
                  "updates": sorted(t for u in state.updates if (t := _time(u.get("at")))),
                  "handoffs": handoff_times, "mitigated": _moments(state, "mitigated", state.mitigated_at),
                  "resolved": _moments(state, "resolved", state.resolved_at),
                  "reopened": _moments(state, "reopened"),
                  "gaps": gaps, "end": state.resolved_at or now},
    )


def week_of(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"

