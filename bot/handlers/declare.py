"""Declaring an incident: by command, or by a person adding the incident label."""

from __future__ import annotations

from datetime import datetime

from ..cadence import current_region
from ..exercise import is_drill
from ..fields import validate_fields
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Router
from ..state import IncidentState
from .common import int_field, internal_only, next_update, parse_severity, template_reply

commands = CommandRegistry()
router = Router()


def severity_from_labels(ctx: Context) -> int | None:
    """The most severe severity::N label on the issue, if any."""
    found = [sev for sev, label in ctx.cfg.labels["severity"].items() if label in ctx.labels]
    return min(found) if found else None


def open_incident(ctx: Context, severity: int, detected: datetime, fields: dict) -> Effects:
    now = ctx.now
    region = current_region(ctx.cfg, now)
    state = IncidentState(status="active", severity=severity, detected_at=detected, author=ctx.author,
                          region=region, region_since=now if region else None,
                          initial_update_at=now, last_update_at=now,
                          drill=fields.get("drill") in ("yes", "true") or is_drill(None, ctx.labels))
    state.next_update_due = next_update(ctx, state, fields)
    state.report_tickets(int_field(fields, "tickets", "customers"), internal_only=internal_only(ctx))
    reply = template_reply(ctx, "declare", state, fields, "initial")
    reply.body += "\n\n---\n\n" + ctx.render("engagement_criteria.md.j2", roles=["cmoc", "smoc"])
    return Effects(replies=[reply], state=state)


@commands.command("declare", usage="declare [sev1|sev2|sev3]", needs_incident=False,
                  summary="Declare this issue an incident and post the Initial Status Update.")
def declare_incident(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if ctx.state is not None:
        raise CommandRefused(f"this issue is already an incident (SEV{ctx.state.severity}, {ctx.state.status})",
                             ["status", "severity sev1|sev2|sev3"])
    if len(args) > 1:
        raise CommandRefused(f"declare takes one severity, not '{' '.join(args)}'", ["sev1", "sev2", "sev3"])
    severity = parse_severity(args[0]) if args else (severity_from_labels(ctx) or ctx.cfg.default_severity)
    return open_incident(ctx, severity, ctx.now, fields)


@router.trigger("incident_labeled", stands_for="declaring an incident (the incident label)")
def incident_label_added(event, cfg) -> bool:
    return cfg.labels["incident"] in event.labels_added


@router.register("incident_labeled")
def declare_from_label(ctx: Context, event) -> Effects:
    """A person added the incident label: detected when the label was added."""
    if ctx.state is not None:
        return Effects()
    severity = severity_from_labels(ctx) or ctx.cfg.default_severity
    return open_incident(ctx, severity, event.updated_at or ctx.now, validate_fields("declare", {}))
