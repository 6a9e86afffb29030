"""Postmortems, pure: the support summary's numbers, action items, and the hidden markers.

No I/O. The job that talks to GitLab is `bot.followups`; the handlers are `bot.handlers.postmortem`.

Action items are checklist lines in the postmortem's "### Follow-up Actions" section:

    - [ ] Add a runbook for runners @bob due:2026-12-15

Owner and due date are optional. Once the bot has opened a follow-up issue for a line it appends
`` → #<iid>`` to that line, and only to that line; every other byte of the description is kept. A line
is found again by its *key*: a hash of its text (the owner, the due date and the link left out), with
`-2`, `-3`... for repeats of the same text, so it survives edits elsewhere in the description.

The section, its headings and its task items are read by `bot.markdown` (CommonMark, as GitLab renders:
items in code, quotes or comments are none). Everything here reads text a person wrote, so it runs in
linear time: no regex has two quantifiers that can match the same run (the spaces around a link's
arrow); those parts are read with str methods instead (benchmarks/linear_time.py). Numbers are bounded,
so `int()` never raises.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from . import markdown
from .state import ROLES, IncidentState
from .timeutil import format_duration, human, parse_day, parse_time

SECTION_TITLE = "follow-up actions"

_ARROWS = ("→", "->")
_MAX_IID_DIGITS = 12
_OWNER = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.\-]*)(?<![.\-])")
_DUE = re.compile(r"(?<!\S)due:\s?(\S+)", re.IGNORECASE)
_LINE_END = re.compile(r"(\r\n|\n|\r)$")


# -- the summary ---------------------------------------------------------------------------------
def _at(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(value) if value else None
    except (ValueError, TypeError):
        return None


def on_time(update: dict) -> bool:
    """An update is on time when it came at or before its due time (no due time: nothing to miss)."""
    at, due = _at(update.get("at")), _at(update.get("due"))
    return at is None or due is None or at <= due


def support_summary(state: IncidentState) -> dict:
    """The `summary` context of support_summary.md.j2, from the incident's record."""
    summary: dict = {
        "detected": human(state.detected_at),
        "resolved": human(state.resolved_at),
        "duration": (format_duration(state.resolved_at - state.detected_at)
                     if state.detected_at and state.resolved_at else None),
        "time_to_first_update": (format_duration(state.initial_update_at - state.detected_at)
                                 if state.detected_at and state.initial_update_at else None),
        "updates_total": max(state.update_count, len(state.updates)),
        "updates_on_time": sum(1 for u in state.updates if on_time(u)),
        "peak_tickets": state.peak_tickets,
        # Figures and handoffs given only in internal notes of a public incident: counted, never shown.
        "tickets_internal_only": state.peak_tickets is None and "tickets" in state.internal_only,
        "handoffs": [f"{h.get('from') or '?'} -> {h.get('to') or '?'} at {human(_at(h.get('at'))) or '?'}"
                     for h in state.handoffs if not h.get("internal")],
        "handoffs_internal": sum(1 for h in state.handoffs if h.get("internal")),
        "resources": [f"{role.upper()}: @{state.roles[role].username}"
                      for role in ROLES if role in state.roles],
        "total_tickets": state.tickets,  # the resolve's total when it gave one, else the last count reported
        "timeline": timeline(state),
        # What impact reports, the technical handoff and resource allocations recorded.
        **{kind: list(texts) for kind, texts in state.findings.items() if texts},
        "findings_internal_only": "findings" in state.internal_only,
    }
    if not state.updates:
        summary["updates_on_time"] = None
    return summary


def timeline(state: IncidentState) -> list[str]:
    """The incident's moments in time order: detection, the first update, each update and handoff, and
    mitigation, resolution and reopening. Handoffs only internal notes hold stay out."""
    moments: list[tuple[datetime, str]] = []

    def add(at, what: str) -> None:
        at = _at(at)
        if at is not None:
            moments.append((at, what))

    add(state.detected_at, "Detected")
    add(state.initial_update_at, "Initial Status Update")
    for u in state.updates:
        add(u.get("at"), f"UPDATE #{u.get('n')}" + ("" if on_time(u) else " (late)"))
    for h in state.handoffs:
        if not h.get("internal"):
            add(h.get("at"), f"Handoff {h.get('from') or '?'} -> {h.get('to') or '?'}")
    for m in state.timeline:
        add(m.get("at"), (m.get("what") or "").capitalize())
    return [f"{human(at)}: {what}" for at, what in sorted(moments, key=lambda m: m[0])]


def postmortem_assignee(state: IncidentState) -> str | None:
    """The SMOC's role, else the CMOC's: who owns the postmortem."""
    for role in ("smoc", "cmoc"):
        if role in state.roles:
            return role
    return None


# -- action items --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionItem:
    line: int  # index of the line in split_lines(description)
    text: str  # the action, without owner, due date and link
    owner: str | None  # username, no "@"
    due: str | None  # the due date as written (YYYY-MM-DD when valid)
    due_valid: bool
    done: bool
    issue_iid: int | None  # the follow-up issue, once the line has " → #iid"
    key: str

    @property
    def due_date(self) -> date | None:
        if not self.due or not self.due_valid:
            return None
        return date.fromisoformat(self.due)


def split_lines(text: str) -> list[str]:
    """Lines with their own endings (\\n, \\r\\n or \\r) kept: "".join(lines) == text."""
    return re.findall(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$", text or "")


def _content(line: str) -> tuple[str, str]:
    m = _LINE_END.search(line)
    return (line[: m.start()], m.group(1)) if m else (line, "")


def _tasks(description: str) -> list[markdown.TaskItem]:
    """The task items of every Follow-up Actions section (a heading of that title, `:` optional)."""
    if SECTION_TITLE not in description.lower():  # most descriptions: no need to parse them
        return []
    doc = markdown.read(description)
    return doc.task_items(h for h in doc.headings if h.title.lower().rstrip(":") == SECTION_TITLE)


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return len(text) == 10
    except ValueError:
        return False


def _split_link(body: str) -> tuple[str, int | None]:
    """"text → #12" -> ("text", 12): the link the bot appended, read from the end with str methods."""
    head = body.rstrip()
    number = head[len(head.rstrip("0123456789")):]
    if not number or len(number) > _MAX_IID_DIGITS:
        return body, None
    rest = head[: -len(number)]
    if not rest.endswith("#"):
        return body, None
    rest = rest[:-1].rstrip()
    for arrow in _ARROWS:
        if rest.endswith(arrow):
            return rest[: -len(arrow)].rstrip(), int(number)
    return body, None


def parse_item(body: str) -> tuple[str, str | None, str | None, int | None]:
    """An item's text after the box -> (text, owner, due, linked iid)."""
    body, issue_iid = _split_link(body)
    due = None
    d = list(_DUE.finditer(body))
    if d:
        due = d[-1].group(1)
        body = body[: d[-1].start()] + body[d[-1].end():]
    owner = None
    owners = list(_OWNER.finditer(body))
    if owners:
        owner = owners[-1].group(1)
        # The owner is the last mention; it leaves the text only when it ends it (a trailing "@bob"),
        # so "Ask @carol about X" keeps its words.
        tail = body[owners[-1].end():].strip(" \t.,;:")
        if not tail:
            body = body[: owners[-1].start()]
    text = " ".join(body.split())
    return text, owner, due, issue_iid


def parse_actions(description: str | None) -> list[ActionItem]:
    items: list[ActionItem] = []
    seen: dict[str, int] = {}
    for task in _tasks(description or ""):
        text, owner, due, issue_iid = parse_item(task.text)
        if not text:
            continue
        digest = hashlib.sha1(_normal(text).encode("utf-8")).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        items.append(ActionItem(task.line, text, owner, due, bool(due) and _valid_date(due), task.checked,
                                issue_iid, key))
    return items


def link_items(description: str, links: dict[str, int]) -> str:
    """Append " → #iid" to the lines of the items keyed in `links` that have no link yet.

    Every other byte stays as it was (line endings included)."""
    lines = split_lines(description)
    for item in parse_actions(description):
        iid = links.get(item.key)
        if iid is None or item.issue_iid is not None:
            continue
        content, end = _content(lines[item.line])
        trimmed = content.rstrip()
        lines[item.line] = trimmed + f" → #{iid}" + content[len(trimmed):] + end
    return "".join(lines)


def tick_item(description: str, issue_iid: int, done: bool) -> str:
    """Tick (or untick) the box of the line linked to follow-up #issue_iid; nothing else changes."""
    lines = split_lines(description)
    for task in _tasks(description):
        text, _, _, linked = parse_item(task.text)
        if not text or linked != issue_iid or task.checked == done:
            continue
        line = lines[task.line]
        lines[task.line] = line[:task.box] + ("x" if done else " ") + line[task.box + 1:]
    return "".join(lines)


# -- status and reminders --------------------------------------------------------------------------
def is_overdue(item: ActionItem, today: date) -> bool:
    due = item.due_date
    return not item.done and due is not None and due < today



def action_status(items: Iterable[ActionItem], today: date) -> dict[str, list[ActionItem]]:
    """{"open", "overdue", "done"}; an overdue item is listed under overdue, not open."""
    out: dict[str, list[ActionItem]] = {"open": [], "overdue": [], "done": []}
    for item in items:
        if item.done:
            out["done"].append(item)
        elif is_overdue(item, today):
            out["overdue"].append(item)
        else:
            out["open"].append(item)
    return out


# -- overdue follow-up issues (the scheduled check) ------------------------------------------------
def followup_overdue(due_date: str | None, today: date) -> bool:
    """A follow-up issue is overdue from the day after its due date."""
    due = parse_day(due_date)
    return due is not None and due < today
