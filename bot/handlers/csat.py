"""`/incident csat SCORE [comment: ...]`: record a CSAT score from a survey or Zendesk's rating."""

from __future__ import annotations

from ..exercise import CSAT_SCALE, csat_average, csat_percent
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply
from ..timeutil import iso
from .common import internal_only

commands = CommandRegistry()
TARGET = 90  # the framework's CSAT target for incident handling, in percent


@commands.command("csat", usage="csat SCORE",
                  summary=f"Record a CSAT score: {CSAT_SCALE}; any number of times. Field: comment.")
def record_csat(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    state = ctx.new_state()
    score = csat_percent(" ".join(args)) if args else None
    if score is None:
        raise CommandRefused(f"'{' '.join(args) or 'nothing'}' is not a CSAT score ({CSAT_SCALE})",
                             ["csat 4", "csat 4/5", "csat 92%"])
    pct, given = score
    record = {"pct": pct, "given": given, "at": iso(ctx.now), "by": ctx.actor}
    comment = fields.get("comment")
    if comment and not internal_only(ctx):  # a comment in an internal note stays out of the description
        record["comment"] = comment[:200]
    state.csat.append(record)
    body = ctx.render("csat_recorded.md.j2", given=given, pct=pct, count=len(state.csat),
                      average=csat_average(state), target=TARGET)
    return Effects([Reply("csat", body)], state)
