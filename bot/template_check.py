"""Every template rendered once with sample data, as the bot would render it: a custom template that
cannot render (a syntax error, a name the bot does not give, a filter that does not exist) is found at
start. At run time such an error would be retried as if GitLab were down, and no reply would appear.

``SAMPLES`` names, per template, what the bot gives it (see each call site); tests check that every
bundled template renders with its sample, so the table cannot drift from the templates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from jinja2 import TemplateError

from .fields import VERB_FIELDS
from .postmortem import action_status, parse_actions, support_summary
from .render import TEMPLATE_FOR_VERB, Renderer, incident_context
from .state import IncidentState
from .state_schema import Role
from .timeutil import UTC, human

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PREFIX = "/incident"


def _state() -> IncidentState:
    return IncidentState(status="active", severity=1, detected_at=NOW - timedelta(hours=2), region="AMER",
                         roles={"cmoc": Role("alice", 2), "smoc": Role("bob", 3)}, author="alice",
                         initial_update_at=NOW - timedelta(hours=1), last_update_at=NOW - timedelta(minutes=30),
                         next_update_due=NOW + timedelta(minutes=30), update_count=2, tickets=12, peak_tickets=20,
                         mitigated_at=NOW - timedelta(minutes=10), postmortem_iid=8)


def _incident() -> dict:
    return incident_context(_state(), iid=7, title="SSO logins failing", now=NOW)


def _fields(verb: str) -> dict:
    samples = {"text": "sample text", "list": ["first", "second"], "int": 3, "next": "45m"}
    return {f.name: f.choices[0] if f.kind == "choice" else samples[f.kind] for f in VERB_FIELDS[verb]}


def _command(spec: Any) -> dict:
    from .handlers.info import describe

    return describe(spec)


def _help(one: bool) -> dict:
    from .wiring import COMMANDS

    specs = COMMANDS.specs()
    return {"command": _command(specs[0])} if one else {"commands": [_command(s) for s in specs]}


def _reminder(**context: Any) -> Callable[[], dict]:
    return lambda: dict(incident=_incident(), mentions=["alice"], prefix=PREFIX, now=NOW, **context)


_ITEMS = "- [ ] Add a runbook @alice due:2026-01-10\n- [x] Page earlier @bob due:2026-01-01\n"
_PROBLEM = {"owner": "nobody", "due": "someday", "item": "Add a runbook", "iid": 9}
_OVERDUE = {"due_at": human(NOW), "interval_minutes": 30, "sev": "SEV1", "status": "active"}

SAMPLES: dict[str, Callable[[], dict]] = {
    **{name: (lambda verb=verb: {"incident": _incident(), "f": _fields(verb), "now": human(NOW),
                                 "handoff_from": "AMER", "handoff_to": "EMEA"})
       for verb, name in TEMPLATE_FOR_VERB.items() if verb != "postmortem"},
    "support_summary.md.j2": lambda: {"incident": _incident(), "summary": support_summary(_state()), "now": NOW,
                                      "f": {}},
    "mitigated.md.j2": lambda: {"incident": _incident(), "f": _fields("mitigate"), "next_update": human(NOW)},
    "severity_changed.md.j2": lambda: {"incident": _incident(), "previous": "SEV2", "current": "SEV1",
                                       "cadence_minutes": 15, "next_update": human(NOW)},
    "status.md.j2": lambda: {"incident": _incident()},
    "state_table.md.j2": lambda: {"incident": _incident()},
    "engagement_criteria.md.j2": lambda: {"roles": ["cmoc", "smoc"]},
    "role_assigned.md.j2": lambda: {"role": "CMOC", "username": "alice", "previous": "bob"},
    "role_released.md.j2": lambda: {"role": "CMOC", "username": "alice"},
    "release_checklist.md.j2": lambda: {"role": "CMOC", "holder": "alice"},
    "help.md.j2": lambda: dict(_help(False), prefix=PREFIX),
    "help_verb.md.j2": lambda: dict(_help(True), prefix=PREFIX),
    "error.md.j2": lambda: {"message": "there is no command 'x'", "valid": ["declare", "update"], "prefix": PREFIX},
    "refusal.md.j2": lambda: {"reason": "incident commands need at least Developer access to this project"},
    "rebuilt_notice.md.j2": lambda: {"reason": "the incident-bot block was missing", "prefix": PREFIX},
    "description_too_long.md.j2": lambda: {"limit": 1_048_576},
    "reminder_overdue.md.j2": _reminder(**_OVERDUE),
    "reminder_escalation.md.j2": _reminder(**_OVERDUE, escalate_to="bob", smoc_engaged=True),
    "reminder_response_target.md.j2": _reminder(target_minutes=15, detected=human(NOW), sev="SEV1"),
    "reminder_handoff.md.j2": _reminder(region="AMER", next_region="APAC", shift_end=human(NOW)),
    "reminder_role_release.md.j2": _reminder(roles=[{"role": "cmoc", "username": "alice"}], resolved=human(NOW)),
    "reminder_stale_mitigation.md.j2": _reminder(mitigated_at=human(NOW), hours=4),
    "reminder_action_overdue.md.j2": lambda: {"mentions": ["alice"], "item": "Add a runbook", "due": "2026-01-01",
                                              "owner": "alice", "postmortem": 8},
    "postmortem_opened.md.j2": lambda: {"postmortem_iid": 8, "assignee": "alice"},
    "postmortem_action.md.j2": lambda: {"item": "Add a runbook", "owner": "alice", "owner_unresolved": False,
                                        "due": "2026-01-10", "postmortem_iid": 8, "incident_iid": 7},
    "postmortem_owners.md.j2": lambda: {"owners": [_PROBLEM], "dates": [_PROBLEM]},
    "postmortem_actions_capped.md.j2": lambda: {"new": 30, "cap": 20, "waiting": 10, "prefix": PREFIX},
    "postmortem_actions.md.j2": lambda: {"opened": [9, 10], "total": 2, "waiting": 0, "cap": 20, "prefix": PREFIX},
    "csat_recorded.md.j2": lambda: {"given": "4/5", "pct": 80, "count": 2, "average": 85, "target": 90},
    "label_refused.md.j2": lambda: {"label": "incident::resolved", "reason": "the incident is already resolved",
                                    "prefix": PREFIX},
    "not_carried_out.md.j2": lambda: {"what": "command", "link": "https://gitlab.example.com/x#note_1",
                                      "reason": "GitLab could not be reached", "delivery_id": "d1"},
    "reopened.md.j2": lambda: {"incident": _incident(), "by": "alice", "resolved": human(NOW), "prefix": PREFIX},
    "tracked_again.md.j2": lambda: {"incident": _incident(), "by": "alice"},
    "untracked.md.j2": lambda: {"label": "incident", "by": "alice", "status": "active", "prefix": PREFIX},
    "postmortem_status.md.j2": lambda: {"postmortem": {"iid": 8, "title": "Postmortem"}, "incident_iid": 7,
                                        "today": "2026-01-05",
                                        "status": action_status(parse_actions(_ITEMS), date(2026, 1, 5))},
}


# `incident-bot report`'s own templates: a broken one fails that command, not a reply to anyone.
REPORT_TEMPLATES = frozenset({"report.md.j2", "report.html.j2"})


def render_problem(renderer: Renderer, name: str) -> str | None:
    """Why ``name`` cannot render with its sample data, or None."""
    context = SAMPLES.get(name)
    try:
        renderer.render(name, **(context() if context else {}))
    except Exception as exc:  # a filter given the wrong type, too: the bot would fail the same way
        line = getattr(exc, "lineno", None) or _template_line(exc, name)
        text = (exc.message if isinstance(exc, TemplateError) else None) or str(exc)
        return f"{name}{f' line {line}' if line else ''}: {exc.__class__.__name__}: {text}"
    return None


def _template_line(exc: Exception, name: str) -> int | None:
    """The template's line an error came from: Jinja rewrites traceback frames to the template's lines."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def template_problems(renderer: Renderer) -> list[str]:
    """The templates of the user's folder that cannot render (the bundled ones are tested). Other files
    there (included parts, macros) are rendered through the templates that use them."""
    if not renderer.templates_dir:
        return []
    own = sorted(p.name for p in Path(renderer.templates_dir).glob("*.j2") if p.name in SAMPLES)
    return [problem for name in own if (problem := render_problem(renderer, name))]
