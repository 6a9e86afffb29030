"""The comment command grammar. Pure.

A command is a line that starts with the prefix (`/incident`, or a mention of the bot user) in a
comment. The lines that follow it, up to a blank line or the next command, are its fields: a YAML
mapping (`key: value`, or `key:` with `- item` lines). Lines inside fenced code blocks, inline HTML
comments and quotes never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


@dataclass(frozen=True)
class Command:
    verb: str
    args: tuple[str, ...]
    fields: dict = field(default_factory=dict)
    error: str | None = None  # malformed fields: the command is answered with this, not run
    index: int = 0  # position in the note, for the idempotency key
    line: str = ""


def _runnable_lines(text: str) -> list[str | None]:
    """The note's lines, with None in place of lines that can never be commands or fields."""
    out: list[str | None] = []
    fence: str | None = None
    in_comment = False
    for line in text.replace("\r\n", "\n").split("\n"):
        m = _FENCE.match(line)
        if fence:
            out.append(None)
            if m and m.group(1) == fence:
                fence = None
            continue
        if m:
            fence = m.group(1)
            out.append(None)
            continue
        if in_comment:
            out.append(None)
            if "-->" in line:
                in_comment = False
            continue
        if line.lstrip().startswith("<!--"):
            in_comment = "-->" not in line
            out.append(None)
            continue
        if line.lstrip().startswith(">"):
            out.append(None)
            continue
        out.append(line)
    return out


def _prefix_pattern(prefix: str, bot_username: str | None) -> re.Pattern:
    options = [re.escape(prefix)]
    if bot_username:
        options.append("@" + re.escape(bot_username))
    return re.compile(r"^(?:" + "|".join(options) + r")(?=\s|$)(.*)$", re.IGNORECASE)


def has_command(text: str, prefix: str, bot_username: str | None = None) -> bool:
    """Cheap check used before any API call: does the note hold a command line at all?"""
    pat = _prefix_pattern(prefix, bot_username)
    return any(line is not None and pat.match(line.strip()) for line in _runnable_lines(text))


def _parse_fields(lines: list[str]) -> tuple[dict, str | None]:
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return {}, None
    try:
        # BaseLoader keeps every scalar a string: '14:30' must not become 870 and 'no' must not become False.
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1} of the fields)" if mark is not None else ""
        return {}, f"the fields are not valid YAML{where}; write them as `key: value` lines"
    if not isinstance(data, dict):
        return {}, "the fields must be `key: value` lines"
    return data, None


def parse_commands(text: str, prefix: str = "/incident", bot_username: str | None = None) -> list[Command]:
    pat = _prefix_pattern(prefix, bot_username)
    lines = _runnable_lines(text)
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = pat.match(line.strip()) if line is not None else None
        if not m:
            i += 1
            continue
        words = m.group(1).split()
        verb = words[0].lower() if words else "help"
        args = tuple(words[1:])
        body: list[str] = []
        i += 1
        while i < len(lines):
            nxt = lines[i]
            if nxt is None or not nxt.strip() or pat.match(nxt.strip()):
                break
            body.append(nxt)
            i += 1
        fields, error = _parse_fields(body)
        commands.append(Command(verb, args, fields, error, index=len(commands), line=line.strip()))
    return commands
