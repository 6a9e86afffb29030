"""Periodic status updates and regional handoffs (CMOC templates 2 and 4)."""

from __future__ import annotations

from ..config import Config
from ..routing import CommandRefused, CommandRegistry, Context, Effects
from ..shifts import next_region, on_shift_soon
from ..timeutil import format_clock, iso
from .common import (
    int_field,
    internal_only,
    next_update,
    next_warning,
    require_open,
    template_reply,
    with_warnings,
)

commands = CommandRegistry()


@commands.command("update", usage="update", summary="Post the Periodic Status Update (UPDATE #N).")
def post_status_update(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    if args:
        raise CommandRefused("update takes its content as fields on the following lines, not words",
                             ["summary:", "progress:", "tickets:", "next:"])
    if all(value is None for value in fields.values()):
        # An empty UPDATE would tell customers nothing and still count as on time.
        raise CommandRefused("an update needs at least one field, on the lines below the command",
                             [f"{name}:" for name in fields])
    state = ctx.new_state()
    require_open(state, "a status update")
    state.update_count += 1
    state.updates.append({"n": state.update_count, "at": iso(ctx.now), "due": iso(state.next_update_due)})
    state.last_update_at = ctx.now
    state.next_update_due = next_update(ctx, state, fields)
    state.report_tickets(int_field(fields, "tickets"), internal_only=internal_only(ctx))
    reply = template_reply(ctx, "update", state, fields, "update", n=state.update_count)
    return Effects(with_warnings(reply, [next_warning(ctx, state, state.next_update_due)]), state)


@commands.command("handoff", usage="handoff amer|emea|apac",
                  summary="Post the Regional Handoff and move the incident to that region.")
def post_regional_handoff(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    regions = list(ctx.cfg.regions)
    if len(args) != 1:
        raise CommandRefused("say which region takes the incident", [r.lower() for r in regions])
    target = args[0].upper()
    if target not in regions:
        raise CommandRefused(f"'{args[0]}' is not a region", [r.lower() for r in regions])
    state = ctx.new_state()
    require_open(state, "a handoff")
    if state.region == target:
        raise CommandRefused(f"{target} already holds the incident", [r.lower() for r in regions if r != target])
    previous = state.region
    state.record_handoff(previous, target, iso(ctx.now), internal_only=internal_only(ctx))
    state.report_tickets(int_field(fields, "active_tickets", "tickets"), internal_only=internal_only(ctx))
    warnings = handoff_warnings(ctx.cfg, previous, target, ctx.now)
    if fields.get("next"):  # the handoff names when the next update comes: that is the due time now
        state.next_update_due = next_update(ctx, state, fields)
        warnings.append(next_warning(ctx, state, state.next_update_due))
    # Rendered before the move: the template's Current Region is the one handing off.
    reply = template_reply(ctx, "handoff", state, fields, "handoff", handoff_from=previous, handoff_to=target)
    state.region, state.region_since = target, ctx.now
    return Effects(with_warnings(reply, warnings), state)


def handoff_warnings(cfg: Config, source: str | None, target: str, now) -> list[str | None]:
    """The handoff runs either way; a word when the region taking it is off shift (nobody there to
    post) or when it skips the configured order."""
    warnings: list[str | None] = []
    start, end = cfg.regions[target]
    if not on_shift_soon(cfg, target, now):
        warnings.append(f"{target} is off shift now (its shift is {format_clock(start)}-{format_clock(end)} "
                        "UTC), so nobody there may post; the bot reminds while an off-shift region holds it")
    expected = next_region(cfg, source) if source in cfg.regions else None
    if expected and expected != target:
        warnings.append(f"the configured handoff order passes {source} to {expected}, not {target}")
    return warnings
