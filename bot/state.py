"""The incident's state, kept in the issue description between the bot's markers.

Pure: reading and writing the block is string work, no I/O. The block holds a table people read and
the same facts as JSON in an HTML comment, with a schema version, so the scheduled check can read
every open incident from the issue list alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from .timeutil import iso, parse_time

BEGIN = "<!-- incident-bot:begin -->"
END = "<!-- incident-bot:end -->"
STATE_PREFIX = "<!-- incident-bot:state "
STATE_SUFFIX = " -->"
SCHEMA_VERSION = 1

# The marker lines start with an invisible zero-width space: a line that starts with `<` opens an HTML
# block for GitLab's quick-action extractor (up to 16.6: from `<tag>` to any later `</tag>` line), and
# a person's `</x>` line would end it, changing what GitLab reads as code in the person's text. Blocks
# written before (markers at column 0) are still read and replaced.
LEAD = "\u200b"
_BLOCK = re.compile("(?:" + LEAD + ")?" + re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_STATE = re.compile(re.escape(STATE_PREFIX) + r"(.*?)" + re.escape(STATE_SUFFIX), re.DOTALL)
# How many handled command keys to remember; older keys are covered by the note markers.
HANDLED_KEEP = 200

TIME_FIELDS = ("detected_at", "initial_update_at", "last_update_at", "next_update_due", "mitigated_at",
               "resolved_at", "region_since")


@dataclass
class Role:
    username: str
    id: int | None = None


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
    handoffs: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to", "at"}
    tickets: int | None = None  # ticket count last reported
    peak_tickets: int | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    postmortem_iid: int | None = None
    reminders: dict[str, str] = field(default_factory=dict)  # reminder key -> when it was sent (ISO)
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

    def report_tickets(self, count: int | None) -> None:
        if count is None:
            return
        self.tickets = count
        self.peak_tickets = max(count, self.peak_tickets or 0)

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
        if not isinstance(data, dict):
            raise ValueError("state is not an object")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise ValueError(f"unknown state schema {schema!r}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for name in TIME_FIELDS:
            kwargs[name] = parse_time(kwargs.get(name))
        kwargs["roles"] = {
            k: Role(username=str(v["username"]), id=v.get("id"))
            for k, v in (data.get("roles") or {}).items()
            if isinstance(v, dict) and v.get("username")
        }
        state = cls(**kwargs)
        if state.status not in ("active", "mitigated", "resolved") or state.severity not in (1, 2, 3):
            raise ValueError("state has an invalid status or severity")
        return state


# -- the block in the description ----------------------------------------------------
class BlockError(ValueError):
    """The block is there but cannot be read."""


def read_block(description: str | None) -> IncidentState | None:
    """The state in the description; None when there is no block; BlockError when it is damaged."""
    text = description or ""
    if BEGIN not in text:
        return None
    block = _BLOCK.search(text)
    if not block:
        raise BlockError("the end marker is missing")
    m = _STATE.search(block.group(1))
    if not m:
        raise BlockError("the state comment is missing")
    try:
        return IncidentState.from_json(json.loads(m.group(1)))
    except (ValueError, TypeError, KeyError) as exc:
        raise BlockError(f"the state cannot be read: {exc}") from exc


def render_block(state: IncidentState, table: str) -> str:
    """The whole block: markers, the human table, the machine state."""
    payload = json.dumps(state.to_json(), separators=(",", ":"), sort_keys=True)
    # '--' cannot appear inside an HTML comment; JSON strings never need it literally.
    payload = payload.replace("--", "-\\u002d")
    # No backtick either: up to 16.6 one opens "inline code on rows" that runs to the last line ending
    # in a backtick, deep in the person's text. <code> shows the same.
    table = _neutral_table(table)
    # Each marker paragraph ends with an empty line, so nothing of the person's text joins it.
    return (f"{LEAD}{BEGIN}\n\n{table}\n\n"
            f"{LEAD}{STATE_PREFIX}{payload}{STATE_SUFFIX}\n{LEAD}{END}")


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


def write_block(description: str | None, block: str) -> str:
    """Replace the block, or put it at the top; text outside the markers is kept byte for byte."""
    text = description or ""
    if BEGIN in text:
        m = _BLOCK.search(text)
        if m and _replaceable(m.group(0), text[m.end():]):
            return text[: m.start()] + block + text[m.end():]
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
