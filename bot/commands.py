"""The comment command grammar. Pure.

A command is a line that starts with the prefix (`/incident`, or a mention of the bot user) in a
comment, in a top-level paragraph as GitLab renders it (`bot.markdown`: never in code, quotes, `>>>`
quotes, HTML blocks or comments, nor inside a list). The lines that follow it, up to a blank line, a
line in code, a quote or an HTML block, or the next command, are its fields: a YAML mapping
(`key: value`, or `key:` with `- item` lines, which Markdown reads as a list).

Fields are YAML read by a loader that keeps every scalar a string and refuses anchors, aliases (they
expand exponentially) and deep nesting (the composer recurses), so any text gives a command or an error
message, never an exception. `parse_commands(..., fields=False)` leaves the YAML unread, for the cheap
checks made before the commenter's access level is known; `with_fields` reads it afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import yaml

from . import markdown

MAX_FIELD_DEPTH = 8  # mappings and lists; a mapping of lists of one-key mappings is 3
MAX_FIELDS_CHARS = 16 * 1024  # per command; PyYAML reads `key: value` lines at about 160 KB/s
DEFAULT_MAX_COMMANDS = 10


@dataclass(frozen=True)
class Command:
    verb: str
    args: tuple[str, ...]
    fields: dict = field(default_factory=dict)
    error: str | None = None  # malformed fields: the command is answered with this, not run
    index: int = 0  # position in the note, for the idempotency key
    line: str = ""
    field_lines: tuple[str, ...] = ()  # the fields as written, until `with_fields` reads them
    over_cap: bool = False  # stands for the commands past the note's cap: only `error` is answered


def _runnable_lines(text: str, pat: re.Pattern) -> tuple[list[str | None], list[bool]]:
    """The note's lines, None for those that never run (code, quotes, HTML blocks), and which of them
    may start a command (top-level paragraph lines). Most notes hold no command line at all: those are
    not parsed."""
    if not any(pat.match(line.lstrip("\u200b").strip()) for line in markdown.split(text)):
        return [], []
    doc = markdown.read(text)
    # The bot's help shows examples behind an invisible zero-width space (so GitLab never runs them):
    # a command copied from there runs like one typed.
    lines = [None if hidden else line.lstrip("\u200b") for line, hidden in zip(doc.lines, doc.hidden, strict=True)]
    return lines, doc.paragraph


def _prefix_pattern(prefix: str, bot_username: str | None) -> re.Pattern:
    options = [re.escape(prefix)]
    if bot_username:
        options.append("@" + re.escape(bot_username))
    return re.compile(r"^(?:" + "|".join(options) + r")(?=\s|$)(.*)$", re.IGNORECASE)


def has_command(text: str, prefix: str, bot_username: str | None = None) -> bool:
    """Cheap check used before any API call: does the note hold a command line at all?"""
    pat = _prefix_pattern(prefix, bot_username)
    lines, starts = _runnable_lines(text, pat)
    return any(start and pat.match(line.strip()) for line, start in zip(lines, starts, strict=True))


_TOO_DEEP = (f"the fields nest more than {MAX_FIELD_DEPTH} levels deep; write them as `key: value` lines "
             "or `key:` with `- item` lines")


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.message, self.problem_mark = message, mark


class FieldLoader(yaml.BaseLoader):
    """BaseLoader keeps every scalar a string ('14:30' must not become 870, 'no' must not become False);
    this one also refuses what makes YAML costly: anchors and aliases, and nesting deeper than
    MAX_FIELD_DEPTH (found by the composer before it recurses further)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, TokenClass):
        # The scanner looks up to 1,024 characters ahead per open `[`/`{` (a possible simple key), so
        # 1,000 of them cost 85 ms before the composer sees the first; stop at the limit instead.
        if self.flow_level >= MAX_FIELD_DEPTH:
            raise _Refused(_TOO_DEEP, self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
            raise _Refused("the fields use a YAML anchor or alias (`&name`, `*name`), which I do not "
                           "read; write each value out", event.start_mark)
        if not isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            return super().compose_node(parent, index)
        if self._depth >= MAX_FIELD_DEPTH:
            raise _Refused(_TOO_DEEP, event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _parse_fields(lines: list[str] | tuple[str, ...]) -> tuple[dict, str | None]:
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return {}, None
    if len(text) > MAX_FIELDS_CHARS:
        return {}, (f"the fields are too long ({len(text):,} characters; at most {MAX_FIELDS_CHARS:,}); "
                    "put long text in a comment of its own")
    try:
        data = yaml.load(text, Loader=FieldLoader)
    except _Refused as exc:
        return {}, exc.message
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1} of the fields)" if mark is not None else ""
        return {}, f"the fields are not valid YAML{where}; write them as `key: value` lines"
    except RecursionError:  # not expected past the depth limit; still a reply, never a retried delivery
        return {}, "the fields nest too deeply; write them as `key: value` lines"
    if not isinstance(data, dict):
        return {}, "the fields must be `key: value` lines"
    return data, None


def with_fields(cmd: Command) -> Command:
    """The command with its fields read (or `error` saying why they cannot be)."""
    if cmd.over_cap or not cmd.field_lines:
        return cmd
    fields, error = _parse_fields(cmd.field_lines)
    return replace(cmd, fields=fields, error=error, field_lines=())


def parse_commands(text: str, prefix: str = "/incident", bot_username: str | None = None, *,
                   fields: bool = True, max_commands: int | None = DEFAULT_MAX_COMMANDS) -> list[Command]:
    """The note's commands in order. With `fields=False` their YAML is not read yet (see `with_fields`).

    Past `max_commands`, one more Command (the first one over the cap, `over_cap=True`) carries an
    error saying how many did not run; the others are dropped."""
    pat = _prefix_pattern(prefix, bot_username)
    lines, starts = _runnable_lines(text, pat)
    commands: list[Command] = []
    over: list[str] = []
    i, chained = 0, False  # chained: the line ends the previous command's fields (the list they hold too)
    while i < len(lines):
        line = lines[i]
        m = pat.match(line.strip()) if line is not None and (chained or starts[i]) else None
        chained = False
        if not m:
            i += 1
            continue
        i += 1
        body_start = i
        while i < len(lines):
            nxt = lines[i]
            if nxt is None or not nxt.strip():
                break
            # An indented line belongs to the fields (a YAML block's text): only a line at the margin
            # starts the next command, or a summary saying "@incident-bot resolve" would resolve.
            if not nxt[:1].isspace() and pat.match(nxt.strip()):
                chained = True
                break
            i += 1
        if max_commands is not None and len(commands) >= max_commands:
            over.append(line.strip())
            continue
        words = m.group(1).split()
        verb = words[0].lower() if words else "help"
        cmd = Command(verb, tuple(words[1:]), index=len(commands), line=line.strip(),
                      field_lines=tuple(lines[body_start:i]))
        commands.append(with_fields(cmd) if fields else cmd)
    if over:
        words = over[0].split()
        verb = words[1].lower() if len(words) > 1 else "help"
        more = f" and the {len(over) - 1} after it" if len(over) > 1 else ""
        message = (f"a comment runs at most {max_commands} commands; `{_clip(over[0])}`{more} did not run. "
                   "Post them in a new comment")
        commands.append(Command(verb, (), {}, message, index=len(commands), line=over[0], over_cap=True))
    return commands


def _clip(line: str, limit: int = 80) -> str:
    line = line.replace("`", "'")
    return line if len(line) <= limit else line[: limit - 1] + "…"
