"""Per-verb field schema for comment commands, and validation of the fields a person gave.

Pure. A command's fields are the placeholders of its framework template that the bot cannot fill
itself (incident number, title, status, severity, times, region, role holders and ticket counts it
already knows). ``validate_fields(verb, given)`` returns every field of the verb — ``None`` when not
given — with values coerced; anything unknown or malformed raises :class:`FieldError`, which names the
problem and lists what is valid, so the bot can reply once and change nothing.

Values may arrive as YAML-typed values or as plain strings (for example from a YAML ``BaseLoader``);
both are accepted. A ``next`` value is checked but kept as the string the person wrote, for the caller
to parse with :func:`bot.timeutil.parse_next` at the right ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from .timeutil import format_clock, iso, parse_next

__all__ = [
    "Field",
    "FieldError",
    "VERB_FIELDS",
    "POSTMORTEM_FIELDS",
    "KINDS",
    "validate_fields",
    "normalise_name",
    "fields_for",
]

KINDS = ("text", "list", "int", "choice", "next")
MAX_INT = 10**9  # ticket counts and head counts; int() of a longer digit string can raise


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "text" | "list" | "int" | "choice" | "next"
    help: str
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice field {self.name!r} needs choices")


class FieldError(ValueError):
    """A field the verb does not have, or a value it cannot take."""

    def __init__(self, message: str, valid: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.valid = list(valid or [])

    def __str__(self) -> str:
        return self.message


# -- the schema ----------------------------------------------------------------------------------
def _text(name: str, help: str) -> Field:
    return Field(name, "text", help)


def _list(name: str, help: str) -> Field:
    return Field(name, "list", help)


def _int(name: str, help: str) -> Field:
    return Field(name, "int", help)


def _choice(name: str, help: str, *choices: str) -> Field:
    return Field(name, "choice", f"{help}: {' / '.join(choices)}", tuple(choices))


_NEXT = Field("next", "next", "When the next status update is due: 45m, 1h30m, HH:MM (UTC) or an ISO time")
_STATUS_3 = ("In Progress", "On Hold", "Resolved")
_ON_TRACK = ("On track", "Delayed", "Blocked")
_HML = ("High", "Medium", "Low")

VERB_FIELDS: dict[str, tuple[Field, ...]] = {
    # 1. Initial Status Update
    "declare": (
        _text("summary", "Brief description of the issue (1-2 sentences)"),
        _text("services", "Systems/services affected"),
        _choice("impact_type", "Impact type", "complete outage", "degraded performance",
                "feature unavailability"),
        _text("customers", "Estimated affected customers (number/percentage if known)"),
        _list("actions", "What the team is currently doing"),
        _NEXT,
        _text("detected", "When the issue was detected, if before this comment: 45m ago, HH:MM (UTC) or an ISO time"),
        _choice("drill", "A simulation exercise (DRILL in every note; counted apart in the report)",
                "yes", "no", "true", "false"),
    ),
    # 2. Periodic Status Update
    "update": (
        _text("summary", "Brief description of the current state (1-2 sentences)"),
        _list("progress", "Actions taken and progress made since the last update"),
        _list("impact", "Updated impact assessment"),
        _int("tickets", "Current ticket volume"),
        _text("patterns", "Notable patterns in customer reports"),
        _list("next_steps", "Planned actions"),
        _NEXT,
    ),
    # 3. Resolution Update
    "resolve": (
        _text("summary", "How the issue was resolved"),
        _text("services", "Systems/services affected"),
        _text("customers", "Total customers impacted (number/percentage if known)"),
        _int("tickets", "Total tickets received"),
        _list("customer_actions", "Post-incident actions customers should take"),
        _list("monitoring", "Monitoring customers should perform"),
    ),
    # 4. Regional Handoff (the target region is the command's argument, not a field)
    "handoff": (
        _text("summary", "Brief summary of the current status (2-3 sentences)"),
        _int("active_tickets", "Active tickets"),
        _int("pending_responses", "Pending responses"),
        _int("escalated", "Escalated issues"),
        _text("last_status_update", "Time of the last status.io update (UTC)"),
        _text("draft_update", "Draft status update: a link or the text"),
        _list("priorities", "Priority actions for the next shift, most important first"),
        _list("stakeholders", "Key contacts involved (role holders are listed automatically)"),
        _NEXT,
    ),
    # 5. Support Resource Allocation
    "resources": (
        _choice("request_type", "Resource request type", "Initial", "Update", "Release"),
        _int("tickets", "Active incident-related tickets"),
        _text("response_time", "Current response time"),
        _choice("queue_health", "Queue health status", "Healthy", "Strained", "Critical"),
        _int("amer", "AMER engineers allocated to the incident"),
        _int("emea", "EMEA engineers allocated to the incident"),
        _int("apac", "APAC engineers allocated to the incident"),
        _list("priorities", "Priority guidelines: issue types, top priority first"),
        _list("instructions", "Special routing/handling instructions, customer-specific considerations"),
        _text("team_leads", "Action requested from team leads"),
        _text("regional_managers", "Action requested from regional managers"),
        _text("other_stakeholders", "Action requested from other stakeholders"),
        _text("duration", "How long this allocation is expected to remain in place"),
    ),
    # 6. Customer Impact Report
    "impact": (
        _choice("status", "Status (defaults to the incident's)", "In Progress", "Resolved"),
        _text("summary", "Brief description of customer impact (2-3 sentences)"),
        _text("customers", "Total customers reporting issues"),
        _text("percentage", "Estimated percentage of the customer base"),
        _text("regions", "Geographic distribution: regions affected"),
        _text("segments", "Customer segments affected (Enterprise/SMB/Personal)"),
        _list("issues", "Common issues reported, most common first, e.g. 'Pipelines stuck - 12 reports'"),
        _choice("csat", "Current CSAT trending", "Stable", "Declining", "Improving"),
        _text("concerns", "Notable customer concerns: major themes"),
        _text("technical_team", "Recommended action for the technical team"),
        _text("communications_team", "Recommended action for the communications team"),
        _text("customer_success", "Recommended action for customer success"),
        _text("additional", "Any other relevant details about customer impact"),
    ),
    # 7. CMOC Activation
    "activate-cmoc": (
        _text("requested_by", "Name/role of the requester (defaults to the commenter)"),
        _list("criteria", "The engagement criteria that triggered activation"),
        _int("tickets", "Active tickets"),
        _text("customers", "Affected customers (number/types)"),
        _text("response_time", "Current response time"),
        _list("cmoc_actions", "Initial CMOC actions, in order"),
        _text("personnel", "Personnel needed (roles/numbers)"),
        _text("tools", "Tools/access needed"),
        _text("stakeholders", "Stakeholder engagement needed (teams)"),
        _text("regional_managers", "Action requested from regional managers"),
        _text("technical_teams", "Action requested from technical teams"),
        _text("first_communication", "Initial customer communication to be sent by (time)"),
        _text("coordination_meeting", "Coordination meeting scheduled for (time)"),
        _text("reporting_cadence", "Reporting cadence (frequency)"),
    ),
    # 9. Technical to Support Handoff
    "tech-handoff": (
        _choice("status", "Status (defaults to the incident's)", *_STATUS_3),
        _text("summary", "Brief technical explanation, simple and customer-focused"),
        _text("symptoms", "What customers are seeing (observable symptoms)"),
        _text("components", "Affected components/features"),
        _choice("scope", "Scope of impact", "broad", "limited", "specific customers"),
        _text("workaround", "Step-by-step workaround, if available"),
        _list("key_points", "Key points to communicate"),
        _list("avoid", "Points to avoid mentioning"),
        _text("verified_by", "Technical accuracy verified by (name)"),
        _text("eta", "Estimated time to resolution"),
        _text("fix_delivery", "Fix delivery method (hotfix/regular release/...)"),
        _text("support_team", "Guidance for the support team on ticket handling"),
        _text("cmoc", "Guidance for the CMOC on status.io messaging"),
        _text("other_teams", "Any other coordination needed"),
    ),
    # 10. Executive Summary
    "exec": (
        _choice("status", "Status (defaults to the incident's)", *_STATUS_3),
        _text("summary", "Concise explanation of the incident (1-2 sentences)"),
        _choice("customer_impact", "Customer impact", *_HML),
        _text("customer_impact_detail", "Customer impact: brief description"),
        _choice("revenue_impact", "Revenue impact", "Yes", "No", "Unknown"),
        _text("revenue_impact_detail", "Revenue impact: brief description if yes"),
        _choice("reputation_risk", "Reputation risk", *_HML),
        _text("reputation_risk_detail", "Reputation risk: brief explanation"),
        _choice("technical_response", "Technical response", *_ON_TRACK),
        _text("technical_response_detail", "Technical response: brief status"),
        _choice("support_response", "Support response", *_ON_TRACK),
        _text("support_response_detail", "Support response: brief status"),
        _choice("communications", "Communications", *_ON_TRACK),
        _text("communications_detail", "Communications: brief status"),
        _text("eta", "Estimated time to resolution (or unknown)"),
        _int("tickets", "Support tickets"),
        _text("customers", "Affected customers (number/percentage)"),
        _list("decisions", "Decisions requiring executive input"),
        Field("next_exec", "next", "When the next executive update is scheduled: 45m, 1h30m, HH:MM or an ISO time"),
    ),
    "mitigate": (
        _text("summary", "What mitigated the impact"),
        _NEXT,
    ),
    "csat": (_text("comment", "The customer's comment, if any"),),
    "severity": (),
    "detected": (),
    "cmoc": (),
    "smoc": (),
    "imoc": (),
    "status": (),
    "help": (),
    "reopen": (),
}

# 8. Post-Incident Support Summary: filled by the bot on resolve; not a command verb, but its fields can
# be validated the same way (validate_fields("postmortem", {...})).
POSTMORTEM_FIELDS: tuple[Field, ...] = (
    _text("summary", "Brief overview of the support response (3-4 sentences)"),
    _int("tickets", "Total tickets handled"),
    _text("peak_per_hour", "Peak tickets per hour"),
    _text("response_time", "Average response time"),
    _text("staff", "Support resources utilized (number of staff)"),
    _text("segments", "Most affected customer segments"),
    _text("regions", "Geographic distribution"),
    _list("workarounds", "Common workarounds provided"),
    _list("worked_well", "What worked well"),
    _list("improvements", "Improvement areas"),
    _list("gaps", "Tool/process gaps identified"),
    _list("actions", "Follow-up actions: '<action> @owner due:YYYY-MM-DD'"),
    _text("lessons", "Key takeaways for future incident response"),
)

_SCHEMAS: dict[str, tuple[Field, ...]] = {**VERB_FIELDS, "postmortem": POSTMORTEM_FIELDS}


def fields_for(verb: str) -> tuple[Field, ...]:
    """The fields of a verb (or of "postmortem"); FieldError for an unknown verb."""
    try:
        return _SCHEMAS[verb]
    except KeyError:
        raise FieldError(f"unknown command `{verb}`", sorted(VERB_FIELDS)) from None


# -- validation ----------------------------------------------------------------------------------
def normalise_name(name: Any) -> str:
    """'Next-Steps', 'next_steps', ' NEXT STEPS ' -> 'next_steps'."""
    return re.sub(r"[\s\-_]+", "_", str(name).strip().lower()).strip("_")


def _norm_choice(value: str) -> str:
    return re.sub(r"[\s\-_]+", " ", value.strip().lower())


def _scalar_text(value: Any) -> str | None:
    """One value as text; YAML's typed scalars back to what the person most likely typed."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        # "- Team leads: check the queue" is a one-key mapping to YAML; keep it as the line it was.
        return "; ".join(f"{_scalar_text(k)}: {_scalar_text(v) or ''}".rstrip() for k, v in value.items())
    if isinstance(value, (list, tuple)):
        parts = [p for p in (_scalar_text(v) for v in value) if p]
        return ", ".join(parts)
    return str(value)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _coerce(verb: str, field: Field, value: Any) -> Any:
    name = field.name
    if field.kind == "list":
        items = value if isinstance(value, (list, tuple)) else [value]
        out = [t.strip() for t in (_scalar_text(v) for v in items) if not _blank(t)]
        return out or None

    if field.kind == "int":
        if isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
            raise FieldError(f"`{name}` must be a whole number, not `{_scalar_text(value)}`")
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # "tickets:" with nothing after it: not given
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip().replace(",", "").replace("_", "")
            if not re.fullmatch(r"\+?\d+", text):
                raise FieldError(f"`{name}` must be a whole number, not `{str(value).strip()}`")
            if len(text.lstrip("+0")) > len(str(MAX_INT)):
                raise FieldError(f"`{name}` must be a whole number of at most {MAX_INT:,}")
            number = int(text)
        if number < 0:
            raise FieldError(f"`{name}` must be a whole number of zero or more, not `{number}`")
        if number > MAX_INT:
            raise FieldError(f"`{name}` must be a whole number of at most {MAX_INT:,}")
        return number

    if field.kind == "next":
        if isinstance(value, bool):
            raise FieldError(f"`{name}` must be a duration (45m, 1h30m), a time (14:30) or an ISO time")
        if isinstance(value, int):
            # YAML 1.1 reads an unquoted 14:30 as the base-60 integer 870; give the clock time back.
            if 60 <= value < 24 * 60:
                return format_clock(value)
            raise FieldError(f"`{name}` must be a duration (45m, 1h30m), a time (14:30) or an ISO time, "
                             f"not `{value}`")
        text = _scalar_text(value)
        if _blank(text):
            return None
        text = text.strip()
        if parse_next(text, datetime(2000, 1, 1, tzinfo=timezone.utc)) is None:
            raise FieldError(f"`{name}` must be a duration (45m, 1h30m), a time (14:30) or an ISO time, "
                             f"not `{text}`")
        return text

    text = _scalar_text(value)
    if _blank(text):
        return None
    text = text.strip()

    if field.kind == "choice":
        wanted = _norm_choice(text)
        for choice in field.choices:
            if _norm_choice(choice) == wanted:
                return choice
        raise FieldError(f"`{name}` cannot be `{text}`", list(field.choices))

    return text  # text


def validate_fields(verb: str, given: dict | None) -> dict:
    """Every field of ``verb`` -> its coerced value, ``None`` when not given.

    Raises FieldError for an unknown verb, an unknown field (valid: the verb's fields), a field given
    twice, or a value the field cannot take (valid: its choices, when it has them).
    """
    schema = fields_for(verb)
    by_name = {f.name: f for f in schema}
    result: dict[str, Any] = {f.name: None for f in schema}
    if given is None:
        return result
    if not isinstance(given, dict):
        raise FieldError(f"the lines after `{verb}` must be `name: value` fields", list(by_name))
    seen: dict[str, Any] = {}
    for raw_name, value in given.items():
        name = normalise_name(raw_name)
        field = by_name.get(name)
        if field is None:
            if not schema:
                raise FieldError(f"`{verb}` takes no fields, but `{raw_name}` was given")
            raise FieldError(f"unknown field `{raw_name}` for `{verb}`", list(by_name))
        if name in seen:
            raise FieldError(f"field `{name}` is given twice", list(by_name))
        seen[name] = raw_name
        result[name] = _coerce(verb, field, value)
    return result
