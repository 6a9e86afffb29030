"""Labels people set by hand that stand for commands: a status label (`incident::mitigated`,
`incident::resolved`) is `mitigate` or `resolve`; taking `incident` off an open incident stops the bot
tracking it, and the bot says so and how to undo it. The permission check is the commands' (bot/permissions.py)."""

from __future__ import annotations

from ..fields import validate_fields
from ..routing import CommandRefused, Context, Effects, Reply, Router
from .lifecycle import mitigate_incident, resolve

router = Router()


def _status_added(event, cfg) -> list[str]:
    return [status for status in ("mitigated", "resolved") if cfg.labels["status"][status] in event.labels_added]


@router.trigger("status_labeled", stands_for="changing the incident's status (a status label)")
def status_label_added(event, cfg) -> bool:
    return bool(_status_added(event, cfg))


@router.register("status_labeled")
def status_from_label(ctx: Context, event) -> Effects:
    added = _status_added(event, ctx.cfg)
    if ctx.state is None or not added or ctx.state.status in added:
        return Effects()
    status = "resolved" if "resolved" in added else "mitigated"
    try:
        if status == "resolved":
            return resolve(ctx, validate_fields("resolve", {}), close=True)
        return mitigate_incident(ctx, (), validate_fields("mitigate", {}))
    except CommandRefused as exc:
        # The label says what the incident is not: say why, and put the labels back as the incident has them.
        body = ctx.render("label_refused.md.j2", label=ctx.cfg.labels["status"][status], reason=exc.message,
                          prefix=ctx.cfg.prefix)
        return Effects([Reply("error", body)], ctx.new_state())


@router.trigger("incident_unlabeled", stands_for="stopping the tracking of an incident (the incident label)")
def incident_label_removed(event, cfg) -> bool:
    return cfg.labels["incident"] in event.labels_removed


@router.register("incident_unlabeled")
def untracked(ctx: Context, event) -> Effects:
    """No state change: writing the block would put the label back, which is the person's call."""
    if ctx.state is None or ctx.state.status == "resolved" or ctx.cfg.labels["incident"] in ctx.labels:
        return Effects()
    body = ctx.render("untracked.md.j2", label=ctx.cfg.labels["incident"], by=event.actor.username,
                      status=ctx.state.status, prefix=ctx.cfg.prefix)
    return Effects([Reply("untracked", body)])
