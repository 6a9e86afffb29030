"""Changing severity, by command or by a person changing the severity::N label. The cadence follows."""

from __future__ import annotations

from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply, Router
from ..timeutil import human
from .common import cadence_due, incident, parse_severity, require_open

commands = CommandRegistry()
router = Router()


def change_severity(ctx: Context, severity: int) -> Effects:
    state = ctx.new_state()
    require_open(state, "a severity change")
    if state.severity == severity:
        raise CommandRefused(f"the incident is already SEV{severity}", ["sev1", "sev2", "sev3"])
    previous, state.severity = state.severity, severity
    # The next update follows the new cadence from the last update; a sooner time the CMOC announced
    # (`next:`) still stands, and the reply says when the due time moves.
    before = state.next_update_due
    due = cadence_due(ctx, state, state.last_update_at or ctx.now)
    if before is None or due < before:
        state.next_update_due = due
    moved = human(before) if before is not None and state.next_update_due != before else None
    body = ctx.render("severity_changed.md.j2", incident=incident(ctx, state), previous=f"SEV{previous}",
                      current=f"SEV{severity}",
                      cadence_minutes=ctx.cfg.cadence_minutes(state.status, severity),
                      next_update=incident(ctx, state)["next_update"])
    if moved:
        body += f"\n\nThe next update is now due by {human(state.next_update_due)} (it was due by {moved})."
        if state.next_update_due <= ctx.now:
            body += " That time has passed: please post an update now."
    elif before is not None:
        body += f"\n\nThe next update stays due by {human(before)}, as announced."
    return Effects(replies=[Reply("severity", body)], state=state)


@commands.command("severity", usage="severity sev1|sev2|sev3",
                  summary="Change the severity; the update cadence follows.")
def set_severity(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if len(args) != 1:
        raise CommandRefused("say which severity", ["sev1", "sev2", "sev3"])
    return change_severity(ctx, parse_severity(args[0]))


@router.trigger("severity_labeled", stands_for="changing the severity (a severity label)")
def severity_label_added(event, cfg) -> bool:
    return any(label in event.labels_added for label in cfg.labels["severity"].values())


@router.register("severity_labeled")
def severity_from_label(ctx: Context, event) -> Effects:
    labels = ctx.cfg.labels["severity"]
    added = [sev for sev, label in labels.items() if label in event.labels_added]
    if ctx.state is None or not added or min(added) == ctx.state.severity or ctx.state.status == "resolved":
        return Effects()
    return change_severity(ctx, min(added))
