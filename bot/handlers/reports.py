"""The templates that report without moving the incident: resources, impact, CMOC activation,
technical-to-support handoff and the executive summary."""

from __future__ import annotations

from ..routing import CommandRegistry, Context, Effects
from .common import int_field, internal_only, template_reply

commands = CommandRegistry()

_TICKET_FIELDS = ("tickets", "active_tickets", "total_customers")


def post_report(ctx: Context, verb: str, kind: str, fields: dict, extra_body: str = "") -> Effects:
    state = ctx.new_state()
    count = int_field(fields, *_TICKET_FIELDS)
    reply = template_reply(ctx, verb, state, fields, kind)
    reply.body += extra_body
    if count is None:
        return Effects([reply])  # nothing to record: the description stays as it is
    state.report_tickets(count, internal_only=internal_only(ctx))
    return Effects([reply], state)


@commands.command("resources", usage="resources", summary="Post the Support Resource Allocation (SMOC).")
def post_support_resources(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "resources", "resources", fields)


@commands.command("impact", usage="impact", summary="Post the Customer Impact Report (SMOC).")
def post_impact_report(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "impact", "impact", fields)


@commands.command("activate-cmoc", usage="activate-cmoc", summary="Post the CMOC Activation (SMOC).")
def post_cmoc_activation(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    criteria = "\n\n---\n\n" + ctx.render("engagement_criteria.md.j2", roles=["cmoc"])
    return post_report(ctx, "activate-cmoc", "activate-cmoc", fields, criteria)


@commands.command("tech-handoff", usage="tech-handoff", summary="Post the Technical to Support Handoff.")
def post_tech_handoff(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "tech-handoff", "tech-handoff", fields)


@commands.command("exec", usage="exec", summary="Post the Executive Summary.")
def post_executive_summary(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "exec", "exec", fields)
