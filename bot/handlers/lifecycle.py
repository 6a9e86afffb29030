"""Mitigating, resolving and reopening, by command or by a person closing or reopening the issue."""

from __future__ import annotations

from ..fields import validate_fields
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply, Router
from .common import (
    cadence_due,
    incident,
    int_field,
    internal_only,
    next_update,
    next_warning,
    template_reply,
    with_warnings,
)

commands = CommandRegistry()
router = Router()


@commands.command("mitigate", usage="mitigate", summary="Mark the incident mitigated; updates slow to the mitigated cadence.")
def mitigate_incident(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    state = ctx.new_state()
    if state.status != "active":
        raise CommandRefused(f"only an active incident can be mitigated; this one is {state.status}",
                             ["resolve", "status"])
    state.status, state.mitigated_at = "mitigated", ctx.now
    state.record_moment(ctx.now, "mitigated")
    state.next_update_due = next_update(ctx, state, fields)
    body = ctx.render("mitigated.md.j2", incident=incident(ctx, state), f=fields,
                      next_update=incident(ctx, state)["next_update"])
    return Effects(with_warnings(Reply("mitigated", body), [next_warning(ctx, state, state.next_update_due)]), state)


def resolve(ctx: Context, fields: dict, close: bool) -> Effects:
    state = ctx.new_state()
    if state.status == "resolved":
        raise CommandRefused("the incident is already resolved", ["status"])
    state.status, state.resolved_at, state.next_update_due = "resolved", ctx.now, None
    state.record_moment(ctx.now, "resolved")
    state.report_tickets(int_field(fields, "total_tickets", "tickets"), internal_only=internal_only(ctx))
    reply = template_reply(ctx, "resolve", state, fields, "resolved")
    return Effects([reply], state, close=close, followups=["postmortem"])


@commands.command("resolve", usage="resolve",
                  summary="Post the Resolution Update, mark the incident resolved and close the issue.")
def resolve_incident(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return resolve(ctx, fields, close=True)


@router.trigger("closed", stands_for="resolving an incident (closing it)")
def issue_closed(event, cfg) -> bool:
    return event.closed


@router.register("closed")
def resolve_on_close(ctx: Context, event) -> Effects:
    """A person closed the issue while the incident was open: that is a resolution. Only while GitLab
    still has it closed (a replayed close of a reopened incident resolves nothing)."""
    if ctx.state is None or ctx.state.status == "resolved" or ctx.issue_state != "closed":
        return Effects()
    return resolve(ctx, validate_fields("resolve", {}), close=False)


def reopen(ctx: Context, reopen_issue: bool) -> Effects:
    """A resolved incident is active again: its record (updates, handoffs, roles, postmortem) stays."""
    state = ctx.new_state()
    if state.status != "resolved":
        raise CommandRefused(f"only a resolved incident can be reopened; this one is {state.status}", ["status"])
    resolved = incident(ctx, state)["resolved"]
    state.status, state.resolved_at, state.mitigated_at = "active", None, None
    state.next_update_due = cadence_due(ctx, state, ctx.now)
    state.record_moment(ctx.now, "reopened")
    body = ctx.render("reopened.md.j2", incident=incident(ctx, state), by=ctx.actor, resolved=resolved,
                      prefix=ctx.cfg.prefix)
    return Effects([Reply("reopened", body)], state, reopen=reopen_issue)


@commands.command("reopen", usage="reopen",
                  summary="Make a resolved incident active again (reopens the issue); its history is kept.")
def reopen_incident(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return reopen(ctx, reopen_issue=True)


@router.trigger("reopened", stands_for="reopening a resolved incident")
def issue_reopened(event, cfg) -> bool:
    return event.reopened and cfg.labels["incident"] in event.issue.labels


@router.register("reopened")
def reopen_on_reopen(ctx: Context, event) -> Effects:
    """A person reopened a resolved incident: it is active again. Only while GitLab still has it open."""
    if ctx.state is None or ctx.state.status != "resolved" or ctx.issue_state != "opened":
        return Effects()
    return reopen(ctx, reopen_issue=False)
