"""Postmortems: action items become follow-up issues, and a postmortem answers `status`.

Pure: each handler names the follow-up job that does the I/O (bot/followups.py). The postmortem itself
is opened by the `postmortem` job that `lifecycle.resolve` asks for.

`postmortem_commands` holds the verbs that run on a postmortem issue (label `postmortem`, no incident
state); `process.run_command` looks there first on such an issue, so `status` there lists the action
items instead of refusing for want of an incident.
"""

from __future__ import annotations

from ..postmortem import parse_actions
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Router

postmortem_commands = CommandRegistry()
router = Router()


def is_postmortem(ctx: Context) -> bool:
    return ctx.state is None and ctx.cfg.labels["postmortem"] in ctx.labels


@postmortem_commands.command("actions", usage="actions", needs_incident=False,
                             summary="On a postmortem: open a follow-up issue for each new action item.")
def open_action_issues(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if not is_postmortem(ctx):
        raise CommandRefused("`actions` works on a postmortem issue", ["status"])
    return Effects(followups=["postmortem_actions_reply"])


@postmortem_commands.command("status", usage="status", needs_incident=False,
                             summary="On a postmortem: list its action items, open, overdue and done.")
def postmortem_status(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return Effects(followups=["postmortem_status"])


@router.trigger("postmortem_edited",
                stands_for="opening, closing or reopening follow-up issues (editing action items)")
def postmortem_description_changed(event, cfg) -> bool:
    """A person's edit of a postmortem may add action items."""
    return event.description_changed and cfg.labels["postmortem"] in event.issue.labels


@router.trigger("action_state",
                stands_for="ticking a postmortem's action item (closing or reopening its follow-up)")
def followup_closed_or_reopened(event, cfg) -> bool:
    return (event.closed or event.reopened) and cfg.labels["postmortem_action"] in event.issue.labels


@router.register("postmortem_edited")
def postmortem_edited(ctx: Context, event) -> Effects:
    """A person edited a postmortem's description: new action items get follow-up issues, and a ticked
    (or unticked) line closes (or reopens) its follow-up, as GitLab's checklist system note says."""
    if not is_postmortem(ctx):
        return Effects()
    items = parse_actions(ctx.description)
    jobs = []
    if any(i.issue_iid is None and not i.done for i in items):
        jobs.append("postmortem_actions")
    if getattr(event, "checklist_changed", False) and any(i.issue_iid is not None for i in items):
        jobs.append("action_ticks")
    return Effects(followups=jobs)


@router.register("action_state")
def action_closed_or_reopened(ctx: Context, event) -> Effects:
    """A follow-up issue was closed or reopened: tick or untick its line in the postmortem."""
    if ctx.cfg.labels["postmortem_action"] not in ctx.labels:
        return Effects()
    return Effects(followups=["action_state"])
