"""Cadence maths for the scheduled check: which reminders are due for one incident at `now`.

Pure: no I/O. `check_incident` decides, the caller posts and then calls `mark_sent` and writes the block.
Every check accounts for itself on every call: each kind in KINDS comes back either as a Reminder or
as a Skip saying why not, so the command can print what was skipped and why.

Boundaries (all times aware UTC; `now` exactly at a threshold counts as reached):
- overdue: due <= now < due + interval; escalation: once in each further interval (now >= due + k *
  interval, k >= 1), with the interval of the current status/severity.
- response_target: now >= detected_at + response_target[severity] and no initial update yet, or the
  initial update was posted after that deadline.
- handoff: 0 < shift_end - now <= handoff_lead_minutes, where shift_end is the region's next shift end
  strictly after now. A region off shift (neither on shift nor starting within the lead) that holds an
  active incident is reminded at once, once per off-shift stretch (from exactly its end, e.g. 07:00).
- role_release: now >= resolved_at + role_release_after_hours; stale_mitigation: now >= mitigated_at +
  stale_mitigation_hours.
Shifts are half-open [start, end) in minutes after midnight UTC; start > end crosses midnight,
start == end means all day.

Template context per kind (times are "YYYY-MM-DD HH:MM UTC" strings):
- overdue: due_at, interval_minutes, sev, status
- escalation: due_at, interval_minutes, escalate_to (SMOC or None), smoc_engaged (bool), imoc (or None),
  missed (intervals missed), next_at (when the next escalation follows), sev, status
- response_target: target_minutes, detected, sev, initial_at (None when no initial update yet)
- handoff: region, next_region, shift_end; off_shift (True) when the region's shift is already over
- role_release: roles ([{"role", "username"}]), resolved
- stale_mitigation: mitigated_at, hours
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .config import Config
from .shifts import aware, current_region, next_region, on_shift_soon, shift_end
from .state import IncidentState
from .state_schema import ROLES
from .timeutil import human, iso, short_duration

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


def missed_intervals(due: datetime, interval_minutes: int, now: datetime) -> int:
    """Whole cadence intervals gone by since `due` (0 during the first): one reminder each."""
    return int((now - due) // timedelta(minutes=interval_minutes))


def cadence_key(kind: str, due: datetime, missed: int) -> str:
    """The first overdue and the first escalation keep the keys older blocks recorded them under."""
    return f"{kind}:{iso(due)}" if missed <= 1 else f"{kind}:{iso(due)}:{missed}"


def _check_overdue(state, cfg, now, author) -> list[Reminder | Skip]:
    """Every missed interval gets one note until someone posts: the first a reminder to the CMOC, each
    further one an escalation to the SMOC (the CMOC and the IMOC named). The key carries the interval,
    so a schedule that runs often sends each once, and one that ran late sends only the current one."""
    due = next_update_due(state, cfg)
    if due is None:
        reason = "no update or detection time recorded"
        return [Skip("overdue", reason), Skip("escalation", reason)]
    interval = cfg.cadence_minutes(state.status, state.severity)
    base_ctx = {"due_at": human(due), "interval_minutes": interval, "sev": f"SEV{state.severity}",
                "status": state.status}
    if now < due:
        return [Skip("overdue", f"next update due in {short_duration(due - now)} ({human(due)})"),
                Skip("escalation", f"escalates {interval} min after the due time if no update is posted")]
    missed = missed_intervals(due, interval, now)
    next_at = due + timedelta(minutes=interval * (missed + 1))
    if missed == 0:
        return [Reminder("overdue", cadence_key("overdue", due, 0), _holder(state, author), TEMPLATES["overdue"],
                         dict(base_ctx)),
                Skip("escalation", f"escalates in {short_duration(next_at - now)} ({human(next_at)}) "
                                   "if no update is posted")]
    smoc, cmoc, imoc = state.holder("smoc"), state.holder("cmoc"), state.holder("imoc")
    mentions = _unique((smoc, cmoc or _author(state, author)))
    ctx = dict(base_ctx, escalate_to=smoc, smoc_engaged=smoc is not None, imoc=imoc, missed=missed,
               next_at=human(next_at))
    return [Skip("overdue", f"{missed} intervals missed: escalated instead"),
            Reminder("escalation", cadence_key("escalation", due, missed), mentions, TEMPLATES["escalation"], ctx)]


def _check_response_target(state, cfg, now, author) -> Reminder | Skip:
    """Detected (GitLab's time of the declaring note or label, or `detected:`) to the Initial Status
    Update: none by the target, or one posted after it (the incident was declared late), is said once."""
    if state.detected_at is None:
        return Skip("response_target", "no detection time recorded")
    target = cfg.response_target_minutes(state.severity)
    deadline = state.detected_at + timedelta(minutes=target)
    first = state.initial_update_at
    if first is not None and first <= deadline:
        return Skip("response_target", f"initial update posted at {human(first)}, within the target")
    if first is None and now < deadline:
        return Skip("response_target", f"initial update target in {short_duration(deadline - now)} ({human(deadline)})")
    mentions = (state.holder("smoc") or state.holder("cmoc") or _author(state, author),)
    ctx = {"target_minutes": target, "detected": human(state.detected_at), "sev": f"SEV{state.severity}",
           "initial_at": human(first)}
    return Reminder("response_target", "response_target", _unique(mentions), TEMPLATES["response_target"], ctx)


def _check_off_shift(state, cfg, now, author) -> Reminder:
    """The holding region is off shift (its shift ended, or a handoff went to it outside its hours):
    nobody there will post, so say so at once, once per off-shift stretch, naming who is on shift."""
    region = state.region
    ended = shift_end(cfg, region, now) - timedelta(days=1)  # the end of its last shift
    following = current_region(cfg, now) or next_region(cfg, region)
    ctx = {"region": region, "next_region": following, "shift_end": human(ended), "off_shift": True}
    return Reminder("handoff", f"offshift:{region}:{iso(ended)}", _holder(state, author), TEMPLATES["handoff"], ctx)


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
    if not on_shift_soon(cfg, region, now):
        return _check_off_shift(state, cfg, now, author)
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
    now = aware(now)
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
    """Record each reminder's key as sent at now; the caller then writes the block. An escalation
    replaces the earlier escalations for the same due time: only the current interval's key is read."""
    for r in reminders:
        if r.kind == "escalation":
            stem = r.key if r.key.endswith("Z") else r.key.rsplit(":", 1)[0]  # escalation:<due>
            for old in [k for k in state.reminders if k == stem or k.startswith(stem + ":")]:
                del state.reminders[old]
        state.reminders[r.key] = iso(aware(now))
