"""Helpers the handlers share: severity words, next-update times, template replies."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ..render import TEMPLATE_FOR_VERB, incident_context
from ..routing import CommandRefused, Context, Reply
from ..state import IncidentState
from ..timeutil import human, parse_next

_SEV = re.compile(r"^(?:sev|s|severity::?|severity)?\s*([123])$", re.IGNORECASE)
SEVERITY_WORDS = ["sev1", "sev2", "sev3"]


def parse_severity(word: str) -> int:
    m = _SEV.match(word.strip())
    if not m:
        raise CommandRefused(f"'{word}' is not a severity", SEVERITY_WORDS)
    return int(m.group(1))


def cadence_due(ctx: Context, state: IncidentState, since: datetime) -> datetime:
    return since + timedelta(minutes=ctx.cfg.cadence_minutes(state.status, state.severity))


def next_update(ctx: Context, state: IncidentState, fields: dict) -> datetime:
    """`next:` when given (45m, 14:30, or a time), else the severity's cadence from now."""
    text = fields.get("next")
    if text:
        at = parse_next(text, ctx.now)
        if at is None or at <= ctx.now:
            raise CommandRefused(f"next: '{text}' is not a future time",
                                 ["a duration like 45m or 1h30m", "a UTC clock time like 14:30",
                                  "an ISO time like 2026-11-27T15:00Z"])
        return at
    return cadence_due(ctx, state, ctx.now)


# A `next:` past this many cadence intervals is accepted, with a word in the reply.
FAR_NEXT_INTERVALS = 3


def next_warning(ctx: Context, state: IncidentState, at: datetime) -> str | None:
    """A word when the announced next update is far beyond the severity's cadence (15 h on a SEV2)."""
    interval = ctx.cfg.cadence_minutes(state.status, state.severity)
    if at - ctx.now <= timedelta(minutes=interval * FAR_NEXT_INTERVALS):
        return None
    return (f"the next update is announced for {human(at)}, far beyond the SEV{state.severity} cadence of "
            f"{interval} minutes; the bot reminds at that time, so correct `next:` if it was a mistake")


def with_warnings(reply: Reply, warnings: list[str | None]) -> list[Reply]:
    """The reply, and when something looks wrong (the command ran all the same) one more note saying
    what: apart, so a message meant for customers stays pasteable as it is."""
    said = [f"**Warning:** {warning}." for warning in warnings if warning]
    return [reply, Reply("warning", "\n\n".join(said))] if said else [reply]


def int_field(fields: dict, *names: str) -> int | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, int):
            return value
    return None


def internal_only(ctx: Context) -> bool:
    """Facts from an internal note on a public issue stay out of its description, and so out of every
    public note and the public postmortem. A confidential issue is as private as the note: all is kept."""
    return ctx.internal and not ctx.confidential


def incident(ctx: Context, state: IncidentState) -> dict:
    return incident_context(state, iid=ctx.iid, title=ctx.title, now=ctx.now)


def template_reply(ctx: Context, verb: str, state: IncidentState, fields: dict, kind: str,
                   n: int | None = None, **extra) -> Reply:
    body = ctx.render(TEMPLATE_FOR_VERB[verb], incident=incident(ctx, state), f=fields,
                      now=human(ctx.now), **extra)
    return Reply(kind, body, n=n)


def require_open(state: IncidentState, what: str) -> None:
    if state.status == "resolved":
        raise CommandRefused(f"the incident is resolved, so {what} does not apply",
                             ["status", "help", "cmoc release", "smoc release", "imoc release"])
