"""Declaring an incident: by command, or by a person adding the incident label."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..batch import guidance
from ..exercise import is_drill
from ..fields import validate_fields
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply, Router
from ..shifts import current_region
from ..state import IncidentState
from ..timeutil import format_duration, human, iso, parse_past
from .common import (
    incident,
    int_field,
    internal_only,
    next_update,
    next_warning,
    parse_severity,
    template_reply,
    with_warnings,
)

commands = CommandRegistry()
router = Router()


def severity_from_labels(ctx: Context) -> int | None:
    """The most severe severity::N label on the issue, if any."""
    found = [sev for sev, label in ctx.cfg.labels["severity"].items() if label in ctx.labels]
    return min(found) if found else None


def open_incident(ctx: Context, severity: int, detected: datetime, fields: dict) -> Effects:
    """Detected: when it happened (GitLab's time, or `detected:`); the Initial Status Update goes out
    now, so time to first communication is the time between the two."""
    now = ctx.now
    region = current_region(ctx.cfg, now)
    state = IncidentState(status="active", severity=severity, detected_at=detected, author=ctx.author,
                          region=region, region_since=now if region else None,
                          initial_update_at=now, last_update_at=now,
                          drill=fields.get("drill") in ("yes", "true") or is_drill(None, ctx.labels))
    state.next_update_due = next_update(ctx, state, fields)
    state.report_tickets(int_field(fields, "tickets", "customers"), internal_only=internal_only(ctx))
    reply = template_reply(ctx, "declare", state, fields, "initial")
    reply.extra["detected"] = iso(detected)  # a rebuilt state reads it back from the marker
    # The Initial Status Update is pasted to customers as it is: the team's guidance is a note of its own.
    return Effects(replies=[*with_warnings(reply, [next_warning(ctx, state, state.next_update_due)]),
                            guidance(ctx.render, state)], state=state)


@commands.command("declare", usage="declare [sev1|sev2|sev3]", needs_incident=False,
                  summary="Declare this issue an incident and post the Initial Status Update.")
def declare_incident(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if ctx.state is not None:
        raise CommandRefused(f"this issue is already an incident (SEV{ctx.state.severity}, {ctx.state.status})",
                             ["status", "severity sev1|sev2|sev3"])
    if len(args) > 1:
        raise CommandRefused(f"declare takes one severity, not '{' '.join(args)}'", ["sev1", "sev2", "sev3"])
    severity = parse_severity(args[0]) if args else (severity_from_labels(ctx) or ctx.cfg.default_severity)
    detected = past_time(ctx, fields.get("detected"), "detected") if fields.get("detected") else None
    return open_incident(ctx, severity, detected or ctx.event_at or ctx.now, fields)


PAST_FORMS = ["a duration before the comment like 45m ago", "a UTC clock time like 14:30",
              "an ISO time like 2026-11-27T15:00Z"]


# An incident detected further back than this is a typo (a wrong year), and would skew every measure.
MAX_PAST = timedelta(days=30)


def past_time(ctx: Context, text: str, name: str) -> datetime:
    """A time given for something that already happened, read relative to the comment's own time."""
    ref = ctx.event_at or ctx.now
    at = parse_past(text, ref)
    if at is None or at > ctx.now:
        raise CommandRefused(f"{name}: '{text}' is not a time that has passed", PAST_FORMS)
    if at < ref - MAX_PAST:
        raise CommandRefused(f"{name}: {human(at)} is more than 30 days before this comment; check the date",
                             PAST_FORMS)
    return at


@commands.command("detected", usage="detected <time>",
                  summary="Correct when the incident was detected (45m ago, HH:MM UTC or an ISO time).")
def correct_detected(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if not args:
        raise CommandRefused("say when the incident was detected", PAST_FORMS)
    state = ctx.new_state()
    at = past_time(ctx, " ".join(args), "detected")
    if state.resolved_at is not None and at > state.resolved_at:
        raise CommandRefused(f"detected: {human(at)} is after the resolution at {human(state.resolved_at)}")
    previous, state.detected_at = state.detected_at, at
    first = state.initial_update_at
    body = (f"Time detected corrected to {human(at)} (was {human(previous) or '_not recorded_'})."
            + (f" Time to first communication: {format_duration(first - at)}." if first and first >= at else ""))
    return Effects([Reply("detected", body, extra={"detected": iso(at)})], state)


@router.trigger("incident_labeled", stands_for="declaring an incident (the incident label)")
def incident_label_added(event, cfg) -> bool:
    return cfg.labels["incident"] in event.labels_added


@router.register("incident_labeled")
def declare_from_label(ctx: Context, event) -> Effects:
    """A person added the incident label: detected when the label was added. On an incident whose label
    was taken off, it is tracked again."""
    if ctx.state is not None:
        if ctx.state.status == "resolved":
            return Effects()
        body = ctx.render("tracked_again.md.j2", incident=incident(ctx, ctx.state), by=event.actor.username)
        return Effects([Reply("tracked", body)], ctx.new_state())
    severity = severity_from_labels(ctx) or ctx.cfg.default_severity
    return open_incident(ctx, severity, event.updated_at or ctx.now, validate_fields("declare", {}))
