"""Cadence maths for the scheduled check: which reminders are due for one incident at `now`.

Pure: no I/O. `check_incident` decides, the caller posts and then calls `mark_sent` and writes the block.
Every check accounts for itself on every call: each kind in KINDS comes back either as a Reminder or
as a Skip saying why not, so the command can print what was skipped and why.

Boundaries (all times aware UTC; `now` exactly at a threshold counts as reached):
- overdue: now >= due;  escalation: now >= due + the cadence interval of the current status/severity.
- response_target: now >= detected_at + response_target[severity] and no initial update yet.
- handoff: 0 < shift_end - now <= handoff_lead_minutes, where shift_end is the region's next shift end
  strictly after now. At exactly the end (e.g. 07:00 for APAC) the shift is over: no reminder.
- role_release: now >= resolved_at + role_release_after_hours; stale_mitigation: now >= mitigated_at +
  stale_mitigation_hours.
Shifts are half-open [start, end) in minutes after midnight UTC; start > end crosses midnight,
start == end means all day.

Template context per kind (times are "YYYY-MM-DD HH:MM UTC" strings):
- overdue: due_at, interval_minutes, sev, status
- escalation: due_at, interval_minutes, escalate_to (SMOC or None), smoc_engaged (bool), sev, status
- response_target: target_minutes, detected, sev
- handoff: region, next_region, shift_end
- role_release: roles ([{"role", "username"}]), resolved
- stale_mitigation: mitigated_at, hours
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .config import Config
from .state import IncidentState
from .state_schema import ROLES
from .timeutil import UTC, human, iso, short_duration

KINDS = ("overdue", "escalation", "response_target", "handoff", "role_release", "stale_mitigation")
TEMPLATES = {kind: f"reminder_{kind}.md.j2" for kind in KINDS}


@dataclass(frozen=True)
class Reminder:
    kind: str
    key: str  # idempotency key, stored in state.reminders once posted and used in the note marker
    mentions: tuple[str, ...]
    template: str
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    kind: str
    reason: str


# -- time helpers -------------------------------------------------------------------
def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _at(now: datetime, minute_of_day: int) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=minute_of_day)


# -- regions ------------------------------------------------------------------------
def _in_shift(start: int, end: int, minute: int) -> bool:
    if start == end:
        return True
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def current_region(cfg: Config, now: datetime) -> str | None:
    """The first region (config order) whose shift [start, end) holds now; None when no shift does."""
    now = _aware(now).astimezone(UTC)
    minute = now.hour * 60 + now.minute
    for name, (start, end) in cfg.regions.items():
        if _in_shift(start, end, minute):
            return name
    return None


def shift_end(cfg: Config, region: str, now: datetime) -> datetime | None:
    """The region's next shift end strictly after now (the current shift's end when on shift);
    None for a region not in config. Exactly at the end time, this is the next day's end."""
    shift = cfg.regions.get(region)
    if shift is None:
        return None
    now = _aware(now)
    end = _at(now, shift[1])
    return end if end > now else end + timedelta(days=1)


def next_region(cfg: Config, region: str) -> str:
    """The region whose shift starts when this one's ends (first such in config order after it),
    else the next region in config order (cyclic). The region itself when it is the only one."""
    regions = cfg.regions
    names = list(regions)
    if region not in regions:
        return names[0]
    i = names.index(region)
    after = names[i + 1:] + names[:i]
    end = regions[region][1]
    for name in after:
        if regions[name][0] == end:
            return name
    return after[0] if after else region


# -- who to mention -----------------------------------------------------------------
def _author(state: IncidentState, author: str | None) -> str | None:
    return author or state.author


def _holder(state: IncidentState, author: str | None) -> tuple[str, ...]:
    """CMOC, else SMOC, else the incident's author."""
    who = state.holder("cmoc") or state.holder("smoc") or _author(state, author)
    return (who,) if who else ()


def _unique(names) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return tuple(out)


# -- the checks ---------------------------------------------------------------------
def next_update_due(state: IncidentState, cfg: Config) -> datetime | None:
    """When the next status update is due; None when resolved or nothing to count from."""
    if state.status == "resolved":
        return None
    if state.next_update_due is not None:
        return state.next_update_due
    base = state.last_update_at or state.initial_update_at or state.detected_at
    if base is None:
        return None
    return base + timedelta(minutes=cfg.cadence_minutes(state.status, state.severity))


def _check_overdue(state, cfg, now, author) -> list[Reminder | Skip]:
    due = next_update_due(state, cfg)
    if due is None:
        reason = "no update or detection time recorded"
        return [Skip("overdue", reason), Skip("escalation", reason)]
    interval = cfg.cadence_minutes(state.status, state.severity)
    escalate_at = due + timedelta(minutes=interval)
    base_ctx = {"due_at": human(due), "interval_minutes": interval, "sev": f"SEV{state.severity}",
                "status": state.status}
    out: list[Reminder | Skip] = []
    if now < due:
        out.append(Skip("overdue", f"next update due in {short_duration(due - now)} ({human(due)})"))
    else:
        out.append(Reminder("overdue", f"overdue:{iso(due)}", _holder(state, author), TEMPLATES["overdue"],
                            dict(base_ctx)))
    if now < escalate_at:
        out.append(Skip("escalation", f"escalates in {short_duration(escalate_at - now)} ({human(escalate_at)}) "
                                      "if no update is posted"))
    else:
        smoc = state.holder("smoc")
        mentions = (smoc,) if smoc else _unique((state.holder("cmoc"), _author(state, author)))
        ctx = dict(base_ctx, escalate_to=smoc, smoc_engaged=smoc is not None)
        out.append(Reminder("escalation", f"escalation:{iso(due)}", mentions, TEMPLATES["escalation"], ctx))
    return out


def _check_response_target(state, cfg, now, author) -> Reminder | Skip:
    if state.initial_update_at is not None:
        return Skip("response_target", f"initial update posted at {human(state.initial_update_at)}")
    if state.detected_at is None:
        return Skip("response_target", "no detection time recorded")
    target = cfg.response_target_minutes(state.severity)
    deadline = state.detected_at + timedelta(minutes=target)
    if now < deadline:
        return Skip("response_target", f"initial update target in {short_duration(deadline - now)} ({human(deadline)})")
    mentions = (state.holder("smoc") or state.holder("cmoc") or _author(state, author),)
    ctx = {"target_minutes": target, "detected": human(state.detected_at), "sev": f"SEV{state.severity}"}
    return Reminder("response_target", "response_target", _unique(mentions), TEMPLATES["response_target"], ctx)


def _check_handoff(state, cfg, now, author) -> Reminder | Skip:
    if state.status != "active":
        return Skip("handoff", f"incident is {state.status}; handoff reminders are for active incidents")
    region = state.region
    if not region:
        return Skip("handoff", "no region holds the incident")
    end = shift_end(cfg, region, now)
    if end is None:
        return Skip("handoff", f"region {region} has no shift in config")
    following = next_region(cfg, region)
    if following == region:
        return Skip("handoff", f"{region} is the only region; no one to hand off to")
    lead = timedelta(minutes=int(cfg.data["handoff_lead_minutes"]))
    if end - now > lead:
        return Skip("handoff", f"{region} shift ends in {short_duration(end - now)} ({human(end)})")
    ctx = {"region": region, "next_region": following, "shift_end": human(end)}
    return Reminder("handoff", f"handoff:{region}:{iso(end)}", _holder(state, author), TEMPLATES["handoff"], ctx)


def _check_role_release(state, cfg, now) -> Reminder | Skip:
    if state.status != "resolved":
        return Skip("role_release", "incident is not resolved")
    held = [(r, state.roles[r].username) for r in ROLES if state.holder(r)]
    held += [(r, v.username) for r, v in state.roles.items() if r not in ROLES and v.username]
    if not held:
        return Skip("role_release", "no role is engaged")
    if state.resolved_at is None:
        return Skip("role_release", "resolution time not recorded")
    at = state.resolved_at + timedelta(hours=float(cfg.data["role_release_after_hours"]))
    if now < at:
        return Skip("role_release", f"roles still engaged; reminder in {short_duration(at - now)} ({human(at)})")
    ctx = {"roles": [{"role": r, "username": u} for r, u in held], "resolved": human(state.resolved_at)}
    return Reminder("role_release", "role_release", _unique(u for _, u in held), TEMPLATES["role_release"], ctx)


def _check_stale_mitigation(state, cfg, now, author) -> Reminder | Skip:
    if state.status != "mitigated":
        return Skip("stale_mitigation", "incident is not mitigated")
    if state.mitigated_at is None:
        return Skip("stale_mitigation", "mitigation time not recorded")
    hours = cfg.data["stale_mitigation_hours"]
    at = state.mitigated_at + timedelta(hours=float(hours))
    if now < at:
        return Skip("stale_mitigation", f"mitigated for {short_duration(now - state.mitigated_at)}; nudge in "
                                        f"{short_duration(at - now)} ({human(at)})")
    ctx = {"mitigated_at": human(state.mitigated_at), "hours": hours}
    return Reminder("stale_mitigation", "stale_mitigation", _holder(state, author), TEMPLATES["stale_mitigation"],
                    ctx)


def check_incident(state: IncidentState, cfg: Config, now: datetime, *, author: str | None,
                   open_: bool = True) -> tuple[list[Reminder], list[Skip]]:
    """Reminders due at now (not yet sent) and, for every other check, why it was skipped.

    `author` is the issue's author (state.author is the fallback). `open_` False means the issue is
    closed: only the role-release check still runs."""
    now = _aware(now)
    results: list[Reminder | Skip] = []
    if not open_ or state.status == "resolved":
        why = "issue is closed" if not open_ else "incident is resolved"
        results += [Skip(k, why) for k in ("overdue", "escalation", "response_target", "handoff")]
        results.append(_check_stale_mitigation(state, cfg, now, author) if open_
                       else Skip("stale_mitigation", why))
    else:
        results += _check_overdue(state, cfg, now, author)
        results.append(_check_response_target(state, cfg, now, author))
        results.append(_check_handoff(state, cfg, now, author))
        results.append(_check_stale_mitigation(state, cfg, now, author))
    results.append(_check_role_release(state, cfg, now))

    reminders: list[Reminder] = []
    skips: list[Skip] = []
    for item in results:
        if isinstance(item, Reminder) and item.key in state.reminders:
            skips.append(Skip(item.kind, f"already reminded at {state.reminders[item.key]}"))
        elif isinstance(item, Reminder):
            reminders.append(item)
        else:
            skips.append(item)
    return reminders, skips


def mark_sent(state: IncidentState, reminders, now: datetime) -> None:
    """Record each reminder's key as sent at now; the caller then writes the block."""
    for r in reminders:
        state.reminders[r.key] = iso(_aware(now))
