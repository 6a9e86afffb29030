"""The templates that report without moving the incident: resources, impact, CMOC activation,
technical-to-support handoff and the executive summary. Impact reports, the technical handoff and
resource allocations also record what the postmortem needs (segments, regions, workarounds, head counts)."""

from __future__ import annotations

import copy

from ..routing import CommandRegistry, Context, Effects, Reply
from .common import int_field, internal_only, template_reply

commands = CommandRegistry()

_TICKET_FIELDS = ("tickets", "active_tickets", "total_customers")


# What each report records for the postmortem: finding kind -> how to read it from the fields.
_FINDINGS = {
    "impact": {"segments": lambda f: f.get("segments"), "regions": lambda f: f.get("regions")},
    "tech-handoff": {"workarounds": lambda f: f.get("workaround")},
    "resources": {"allocations": lambda f: allocation(f)},
}


def allocation(fields: dict) -> str | None:
    """"AMER 4, EMEA 6 engineers (Update)" from a resource allocation's head counts."""
    counts = [f"{region.upper()} {fields[region]}" for region in ("amer", "emea", "apac")
              if isinstance(fields.get(region), int)]
    if not counts:
        return None
    total = sum(fields[region] for region in ("amer", "emea", "apac") if isinstance(fields.get(region), int))
    kind = f" ({fields['request_type']})" if fields.get("request_type") else ""
    return ", ".join(counts) + (" engineer" if total == 1 else " engineers") + kind


def post_report(ctx: Context, verb: str, kind: str, fields: dict, guidance: Reply | None = None,
                **extra) -> Effects:
    state = ctx.new_state()
    before = copy.deepcopy(state)
    reply = template_reply(ctx, verb, state, fields, kind, **extra)
    replies = [reply] + ([guidance] if guidance else [])
    state.report_tickets(int_field(fields, *_TICKET_FIELDS), internal_only=internal_only(ctx))
    for finding, read in _FINDINGS.get(verb, {}).items():
        state.record_finding(finding, read(fields), internal_only=internal_only(ctx))
    if state == before:
        return Effects(replies)  # nothing to record: the description stays as it is
    return Effects(replies, state)


@commands.command("resources", usage="resources", summary="Post the Support Resource Allocation (SMOC).")
def post_support_resources(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "resources", "resources", fields)


@commands.command("impact", usage="impact", summary="Post the Customer Impact Report (SMOC).")
def post_impact_report(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "impact", "impact", fields)


@commands.command("activate-cmoc", usage="activate-cmoc", summary="Post the CMOC Activation (SMOC).")
def post_cmoc_activation(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    # The criteria are guidance for the SMOC, not part of the message: an internal note of their own, and
    # only when the activation does not name the criteria met.
    guidance = None if fields.get("criteria") else Reply(
        "guidance", ctx.render("engagement_criteria.md.j2", roles=["cmoc"]), internal=True)
    return post_report(ctx, "activate-cmoc", "activate-cmoc", fields, guidance, actor=ctx.actor)


@commands.command("tech-handoff", usage="tech-handoff", summary="Post the Technical to Support Handoff.")
def post_tech_handoff(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "tech-handoff", "tech-handoff", fields)


@commands.command("exec", usage="exec", summary="Post the Executive Summary.")
def post_executive_summary(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    return post_report(ctx, "exec", "exec", fields)
