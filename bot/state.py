"""The incident's state, kept in the issue description between the bot's markers.

Pure: reading and writing the block is string work, no I/O. The block holds a table people read and
the same facts as JSON in an HTML comment, with a schema version, so the scheduled check can read
every open incident from the issue list alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .markers import BEGIN, END, LEAD, SIG_PREFIX, STATE_PREFIX, STATE_SUFFIX
from .state_schema import (
    CHECKS,
    FINDINGS_KEEP,
    HANDLED_KEEP,
    ROLES,
    SEVERITIES,
    STATUSES,
    TIME_FIELDS,
    Role,
    valid_username,
)
from .timeutil import iso

SCHEMA_VERSION = 1
_CODE_SPAN = re.compile(r"`([^`\n]+)`")

# Role, the vocabulary and valid_username live in bot/state_schema.py; importers may take them from here.
__all__ = [
    "BlockError", "IncidentState", "Role", "UnverifiedState", "ROLES", "SEVERITIES", "STATUSES",
    "read_block", "render_block", "sign", "state_scope", "valid_username", "write_block",
]


@dataclass
class IncidentState:
    """Everything the bot knows about one incident. Times are aware UTC datetimes."""

    status: str = "active"  # active | mitigated | resolved
    severity: int = 3
    detected_at: datetime | None = None
    roles: dict[str, Role] = field(default_factory=dict)  # cmoc / smoc / imoc -> holder
    region: str | None = None
    region_since: datetime | None = None
    author: str | None = None
    initial_update_at: datetime | None = None
    last_update_at: datetime | None = None
    next_update_due: datetime | None = None
    update_count: int = 0  # periodic updates posted (UPDATE #N)
    updates: list[dict[str, Any]] = field(default_factory=list)  # {"n", "at", "due"}: for on-time measures
    handoffs: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to", "at"} or {"internal": True}
    tickets: int | None = None  # ticket count last reported
    peak_tickets: int | None = None
    # Facts given only in internal notes of a public issue ("tickets"): their values stay out of the block,
    # which anyone who can read the issue can read; public places say they exist, not what they are.
    internal_only: list[str] = field(default_factory=list)
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    postmortem_iid: int | None = None
    # Moments besides updates and handoffs, for the postmortem's timeline: {"at", "what"} ("reopened", ...).
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # What reports recorded for the postmortem: kind (segments, regions, workarounds, allocations) -> texts.
    findings: dict[str, list[str]] = field(default_factory=dict)
    drill: bool = False  # a simulation exercise: DRILL in every note, reminders page role holders only
    csat: list[dict[str, Any]] = field(default_factory=list)  # {"pct", "given", "at", "by"}: `/incident csat`
    reminders: dict[str, str] = field(default_factory=dict)  # reminder key -> when it was sent (ISO)
    # Released roles whose release checklist the block shows (role -> who released it), until the role is
    # taken again. Its ticks live in the block's text, where the holder ticks them (bot/checklist.py).
    release_checks: dict[str, str] = field(default_factory=dict)
    handled: list[str] = field(default_factory=list)  # command keys already applied (repeat deliveries)

    # -- convenience --------------------------------------------------------------
    def holder(self, role: str) -> str | None:
        r = self.roles.get(role)
        return r.username if r else None

    def was_handled(self, key: str) -> bool:
        return key in self.handled

    def mark_handled(self, key: str) -> None:
        if key not in self.handled:
            self.handled.append(key)
            del self.handled[:-HANDLED_KEEP]

    def report_tickets(self, count: int | None, *, internal_only: bool = False) -> None:
        if count is None:
            return
        if internal_only:
            self.note_internal("tickets")
            return
        self.tickets = count
        self.peak_tickets = max(count, self.peak_tickets or 0)

    def record_handoff(self, source: str | None, target: str, at: str | None, *, internal_only: bool = False) -> None:
        # An internal handoff is counted, not described: the postmortem says how many stay internal.
        self.handoffs.append({"internal": True} if internal_only else {"from": source, "to": target, "at": at})

    def record_moment(self, at: datetime | None, what: str) -> None:
        self.timeline.append({"at": iso(at), "what": what[:200]})
        del self.timeline[:-100]

    def record_finding(self, kind: str, text: str | None, *, internal_only: bool = False) -> None:
        """Keep a report's text for the postmortem (not what only an internal note of a public issue gave)."""
        if not text or not text.strip():
            return
        if internal_only:
            self.note_internal("findings")
            return
        texts = self.findings.setdefault(kind, [])
        text = " ".join(text.split())[:200]
        if text not in texts:
            texts.append(text)
            del texts[:-FINDINGS_KEEP]

    def note_internal(self, fact: str) -> None:
        if fact not in self.internal_only:
            self.internal_only.append(fact)

    # -- JSON ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in TIME_FIELDS:
            data[name] = iso(getattr(self, name))
        data["roles"] = {k: {"username": v.username, "id": v.id} for k, v in self.roles.items()}
        data["schema"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IncidentState":
        """Every field type-checked: a wrong type is a ValueError, never a crash later on."""
        if not isinstance(data, dict):
            raise ValueError("state is not an object")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise ValueError(f"unknown state schema {schema!r}")
        kwargs: dict[str, Any] = {}
        for name, check in CHECKS.items():
            if name in data:
                kwargs[name] = check(data[name], name)
        state = cls(**kwargs)
        if state.status not in STATUSES or state.severity not in SEVERITIES:
            raise ValueError("state has an invalid status or severity")
        return state


# -- the block in the description ----------------------------------------------------
class BlockError(ValueError):
    """The block is there but cannot be read."""


class UnverifiedState(BlockError):
    """The state's signature is missing or wrong: someone other than the bot wrote it (or an older
    version of the bot, which did not sign). Never to be trusted; rebuild instead."""


def state_scope(issue_id: int | None) -> str:
    """What a signature is bound to: the issue's global id."""
    return f"issue:{issue_id}"


def sign(payload: str, key: str, scope: str) -> str:
    """HMAC-SHA256 over the issue it belongs to and the canonical JSON: a block copied from another
    issue does not verify either."""
    message = f"{scope}\n{payload}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _verified_payload(comment: str, key: str | None, scope: str) -> str:
    comment = comment.strip()
    if key is None:  # an explicit caller choice: display and tests only, never the bot's decisions
        return comment.split(" ", 1)[1] if comment.startswith(SIG_PREFIX) else comment
    if not comment.startswith(SIG_PREFIX) or " " not in comment:
        raise UnverifiedState("the state carries no signature")
    given, payload = comment[len(SIG_PREFIX):].split(" ", 1)
    if not hmac.compare_digest(given.encode(), sign(payload, key, scope).encode()):
        raise UnverifiedState("the state's signature does not match")
    return payload


def _between(text: str, start: str, end: str, *, lead: str = "") -> tuple[int, int, str] | None:
    """(from, to, inside) of the first `start` ... first `end` after it, `lead` just before `start`
    included. Two plain finds: linear, however many stray start markers a person pastes (a lazy regex
    retried from each one was quadratic)."""
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if j < 0:
        return None
    first = i - len(lead) if lead and text.startswith(lead, i - len(lead)) and i >= len(lead) else i
    return first, j + len(end), text[i + len(start):j]


def read_block(description: str | None, key: str | None, scope: str = "") -> IncidentState | None:
    """The state in the description; None when there is no block; BlockError when it is damaged,
    UnverifiedState when its signature (with `key`, for the issue `scope`) does not verify.
    `key=None` reads without verifying: only for showing a block, never for acting on one."""
    text = description or ""
    if BEGIN not in text:
        return None
    block = _between(text, BEGIN, END, lead=LEAD)
    if not block:
        raise BlockError("the end marker is missing")
    state = _between(block[2], STATE_PREFIX, STATE_SUFFIX)
    if not state:
        raise BlockError("the state comment is missing")
    payload = _verified_payload(state[2], key, scope)
    try:
        return IncidentState.from_json(json.loads(payload))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise BlockError(f"the state cannot be read: {exc}") from exc


def render_block(state: IncidentState, table: str, key: str | None, scope: str = "") -> str:
    """The whole block: markers, the human table, the machine state signed with `key` for `scope`."""
    if not key:
        raise ValueError("no state key: the bot never writes a state it cannot sign")
    payload = json.dumps(state.to_json(), separators=(",", ":"), sort_keys=True)
    # '--' cannot appear inside an HTML comment; JSON strings never need it literally.
    payload = payload.replace("--", "-\\u002d")
    # No backtick either: up to 16.6 one opens "inline code on rows" that runs to the last line ending
    # in a backtick, deep in the person's text. <code> shows the same.
    table = _neutral_table(table)
    # Each marker paragraph ends with an empty line, so nothing of the person's text joins it.
    signed = f"{SIG_PREFIX}{sign(payload, key, scope)} {payload}"
    return (f"{LEAD}{BEGIN}\n\n{table}\n\n"
            f"{LEAD}{STATE_PREFIX}{signed}{STATE_SUFFIX}\n{LEAD}{END}")


# A line that may open or close something GitLab reads as code (up to 16.6 or from 16.7).
_CONSTRUCT = re.compile(r"^ {0,3}(?:<|```|~~~|>)")
_MARKER_LINE = re.compile("^" + LEAD + "?(?:" + re.escape(BEGIN) + "|" + re.escape(END) + "|"
                          + re.escape(STATE_PREFIX) + ")")
_CLOSER = re.compile(r"^</|`$", re.MULTILINE)


def _neutral_table(table: str) -> str:
    """The table with nothing that opens code for GitLab: code spans as <code>, no other backtick, and
    an invisible lead on a line that would start an HTML block, a fence or a quote (custom templates)."""
    table = _CODE_SPAN.sub(r"<code>\1</code>", table.strip()).replace("`", "&#96;")
    return "\n".join(LEAD + line if _CONSTRUCT.match(line) else line for line in table.split("\n"))


def _replaceable(old: str, after: str) -> bool:
    """Whether swapping the old block for a new one cannot change what GitLab reads as code around it.

    A person may write markers around fences or HTML: such a block stays where it is. A block in the
    old layout (a `<` marker line, a backtick in the table) opened an HTML block / inline code for
    GitLab up to 16.6 that a later `</x>` line or line ending in a backtick closes: it stays too.
    """
    if any(_CONSTRUCT.match(line) and not _MARKER_LINE.match(line) for line in old.split("\n")):
        return False
    old_layout = "`" in old or "\n<" in "\n" + old
    return not (old_layout and _CLOSER.search(after))


def remove_block(description: str | None) -> str:
    """The description without the bot's block (and the blank lines after it); text outside is kept."""
    text = description or ""
    m = _between(text, BEGIN, END, lead=LEAD) if BEGIN in text else None
    return text if m is None else text[: m[0]] + text[m[1]:].lstrip("\n")


def write_block(description: str | None, block: str) -> str:
    """Replace the block, or put it at the top; text outside the markers is kept byte for byte."""
    text = description or ""
    if BEGIN in text:
        m = _between(text, BEGIN, END, lead=LEAD)
        # In place only where a block may start (after a blank line): inside a person's open HTML
        # block, our blank lines would end it and bare what it hid.
        fresh = re.search(r"(?:\A|\n[ \t]*\n)\Z", text[: m[0]]) if m else None
        if m and fresh and _replaceable(text[m[0]:m[1]], text[m[1]:]):
            return text[: m[0]] + block + text[m[1]:]
        if m:  # not safely replaceable: ours goes first (and is the one read), theirs stays as it was
            return block + "\n\n" + text
        # Damaged: a begin marker with no end. Replace from the begin marker to the end of that line's
        # paragraph would guess; instead keep everything and put a fresh block before it.
        # The stray marker stays (ours comes first, so it is the one read): cutting or renaming it could
        # turn a person's line into a new quick action.
        return block + "\n\n" + text
    if not text:
        return block + "\n"
    return block + "\n\n" + text
