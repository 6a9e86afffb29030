"""Jinja2 rendering of the framework templates and the bot's own texts.

Reads template files (bundled, or a user folder that overrides them file by file); otherwise pure.
Every template runs with ``StrictUndefined`` (a typo is an error, never an empty string) and every
result passes through :func:`bot.neutralize.neutralize_note` as a last safety pass. Person text is
neutralized where it enters a template: the filters ``given``, ``bullets``, ``numbered``, ``neutral``
and the incident title in :func:`incident_context`.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Undefined,
)

from . import markdown
from .neutralize import neutralize, neutralize_note, one_line
from .state import IncidentState
from .state_schema import ROLES
from .timeutil import format_duration, human, parse_next, parse_time, utcnow

__all__ = [
    "Renderer",
    "TEMPLATE_FOR_VERB",
    "NOT_PROVIDED",
    "STATUS_TEXT",
    "incident_context",
]

NOT_PROVIDED = "_not provided_"
UNASSIGNED = "_unassigned_"
TO_FILL = "_to be filled in_"
INTERNAL_ONLY = "_given in internal notes_"  # a figure that exists, but only where this text may not go

STATUS_TEXT = {"active": "In Progress", "mitigated": "Mitigated", "resolved": "Resolved"}

TEMPLATE_FOR_VERB = {
    "declare": "initial_status_update.md.j2",
    "update": "periodic_status_update.md.j2",
    "resolve": "resolution_update.md.j2",
    "handoff": "regional_handoff.md.j2",
    "resources": "support_resources.md.j2",
    "impact": "customer_impact_report.md.j2",
    "activate-cmoc": "cmoc_activation.md.j2",
    "tech-handoff": "technical_to_support_handoff.md.j2",
    "exec": "executive_summary.md.j2",
    "postmortem": "support_summary.md.j2",
}

# -- where the bundled templates are ---------------------------------------------------------------
def _bundled_loader() -> BaseLoader:
    """The templates shipped as the package ``bot.templates``; from a source checkout, where that package
    is the repository's top-level ``templates/`` (see pyproject.toml), that folder."""
    try:
        return PackageLoader("bot", "templates")
    except ValueError:  # bot/templates does not exist: running from the source tree
        return FileSystemLoader(str(Path(__file__).resolve().parent.parent / "templates"))


# -- filters -----------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    if isinstance(value, Undefined):
        # A typo must fail loudly, not show as "not provided": StrictUndefined raises here.
        str(value)
        return True
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set, dict)):
        return len(value) == 0
    return False


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value if not _missing(v))
    return neutralize(str(value).strip())


def f_given(value: Any, placeholder: str = NOT_PROVIDED) -> str:
    """The value as safe text; ``_not provided_`` (or the placeholder given) when missing."""
    if _missing(value):
        return placeholder
    return _text(value)


def f_neutral(value: Any) -> str:
    """Neutralize person text, no placeholder (empty when missing)."""
    if _missing(value):
        return ""
    return _text(value)


def _items(value: Any) -> list[str]:
    if _missing(value):
        return []
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [neutralize(str(v).strip()) for v in value if not _missing(v)]


def _indent_continuation(item: str, width: int) -> str:
    return item.replace("\n", "\n" + " " * width)


def f_bullets(value: Any, label: str | None = None) -> str:
    """A list as ``- item`` lines; when missing ``- _not provided_`` (``- Label: _not provided_``)."""
    items = _items(value)
    if not items:
        return f"- {label}: {NOT_PROVIDED}" if label else f"- {NOT_PROVIDED}"
    return "\n".join("- " + _indent_continuation(i, 2) for i in items)


def f_numbered(value: Any, label: str | None = None) -> str:
    """A list as ``1. item`` lines; when missing ``1. _not provided_``."""
    items = _items(value)
    if not items:
        return f"1. {label}: {NOT_PROVIDED}" if label else f"1. {NOT_PROVIDED}"
    return "\n".join(f"{n}. " + _indent_continuation(i, len(str(n)) + 2) for n, i in enumerate(items, 1))


def f_mention(value: Any, placeholder: str = UNASSIGNED) -> str:
    """A username as ``@username``; ``_unassigned_`` when there is none."""
    if _missing(value):
        return placeholder
    name = str(value).strip().lstrip("@")
    name = re.sub(r"\s+", "", name)
    return neutralize("@" + name)


def f_mentions(values: Any, placeholder: str = "") -> str:
    """Several usernames as ``@a @b``."""
    if _missing(values):
        return placeholder
    if isinstance(values, str):
        values = [values]
    return " ".join(f_mention(v) for v in values if not _missing(v)) or placeholder


def f_reported(value: Any, last: Any = None, internal_only: bool = False) -> str:
    """A count given now, else the count last reported (marked so), else ``_given in internal notes_``
    when only internal notes hold one, else ``_not provided_``."""
    if not _missing(value):
        return _text(value)
    if not _missing(last):
        return f"{_text(last)} (last reported)"
    return INTERNAL_ONLY if internal_only else NOT_PROVIDED


def f_prompt(value: Any, prompt: str = TO_FILL) -> str:
    """Text people fill in later (postmortem sections): the value, or a visible prompt."""
    return f_given(value, prompt)


def f_next_time(value: Any, now: Any = None) -> Any:
    """A ``next``-style value ('45m', '14:30', ISO) as ``YYYY-MM-DD HH:MM UTC`` relative to ``now``."""
    if _missing(value):
        return None
    ref = now if isinstance(now, datetime) else (parse_time(now) if isinstance(now, str) and now else None)
    try:
        at = parse_next(str(value), ref or utcnow())
    except ValueError:
        at = None
    return human(at) if at else str(value)


def f_sentence(value: Any) -> str:
    """Neutralized text without trailing full stops, to end it with our own."""
    return f_neutral(value).rstrip().rstrip(".")


def f_role(value: Any) -> str:
    return str(value).strip().upper()


def f_checkbox_item(value: Any) -> str:
    """An action line for a checklist: drops a leading ``- [ ]``/``[ ]`` the person already wrote."""
    text = f_neutral(value)
    return re.sub(r"^(?:[-*]\s*)?\[[ xX]?\]\s*", "", text)


def f_plural(value: Any, word: str) -> str:
    """"1 minute", "5 minutes"; a count nobody gave is ``_not provided_ minutes``."""
    if _missing(value):
        return f"{NOT_PROVIDED} {word}s"
    return f"{_text(value)} {word}" + ("" if str(value).strip() == "1" else "s")


def f_and_list(values: Any) -> str:
    """"CMOC", "CMOC and SMOC", "CMOC, SMOC and IMOC"."""
    items = [_text(v) for v in (values or []) if not _missing(v)]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


FILTERS: dict[str, Callable[..., Any]] = {
    "given": f_given,
    "neutral": f_neutral,
    "bullets": f_bullets,
    "numbered": f_numbered,
    "mention": f_mention,
    "mentions": f_mentions,
    "reported": f_reported,
    "prompt": f_prompt,
    "next_time": f_next_time,
    "sentence": f_sentence,
    "role": f_role,
    "checkbox_item": f_checkbox_item,
    "plural": f_plural,
    "and_list": f_and_list,
}


def _tidy(text: str) -> str:
    """No leading/trailing blank lines; at most one blank line in a row outside code blocks."""
    doc = markdown.read(text)  # the text's newlines are "\n" only (neutralised)
    out: list[str] = []
    for line, code in zip(doc.lines, doc.code, strict=True):
        line = line if line.strip() else line.rstrip()
        if not code and not line and out and not out[-1].strip():
            continue
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


class Renderer:
    """Renders ``templates/*.md.j2``; a user folder overrides bundled files one by one."""

    def __init__(self, templates_dir: str | None = None):
        loaders: list[BaseLoader] = []
        if templates_dir:
            loaders.append(FileSystemLoader(str(templates_dir)))
        loaders.append(_bundled_loader())
        self.templates_dir = templates_dir
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(FILTERS)
        self.env.globals.update({"NOT_PROVIDED": NOT_PROVIDED, "INTERNAL_ONLY": INTERNAL_ONLY, "ROLE_ORDER": ROLES})

    def render(self, name: str, **ctx: Any) -> str:
        """Render one template. ``now`` defaults to the current time, formatted."""
        if "now" not in ctx or ctx["now"] is None:
            ctx["now"] = human(utcnow())
        elif isinstance(ctx["now"], datetime):
            ctx["now"] = human(ctx["now"])
        text = self.env.get_template(name).render(**ctx)
        return _tidy(neutralize_note(text))

    def list_templates(self) -> list[str]:
        return sorted(set(self.env.list_templates(filter_func=lambda n: n.endswith(".j2"))))


# -- the incident context ----------------------------------------------------------------------------
def incident_context(state: IncidentState, *, iid: int, title: str, now: datetime) -> dict[str, Any]:
    """The ``incident`` dict every framework template gets, from the state the bot keeps."""
    end = state.resolved_at or now
    duration = format_duration(end - state.detected_at) if state.detected_at else None
    return {
        "iid": iid,
        "title": neutralize(one_line(title or "")),
        "status": state.status,
        "status_text": STATUS_TEXT.get(state.status, str(state.status).title()),
        "severity": state.severity,
        "sev": f"SEV{state.severity}",
        "detected": human(state.detected_at),
        "last_updated": human(state.last_update_at),
        "mitigated": human(state.mitigated_at),
        "resolved": human(state.resolved_at),
        "next_update": human(state.next_update_due),
        "duration": duration,
        "update_number": state.update_count,
        "region": state.region.upper() if state.region else None,
        "roles": {role: state.holder(role) for role in ROLES},
        "tickets": state.tickets,
        "peak_tickets": state.peak_tickets,
        "internal_only": list(state.internal_only),  # facts only internal notes hold (see IncidentState)
        "postmortem_iid": state.postmortem_iid,
    }
