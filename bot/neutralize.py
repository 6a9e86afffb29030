"""Make person-given text safe to post as the bot.

Pure. GitLab runs a quick action (``/close``, ``/assign @x``...) for every line of a note or an issue
description that starts with ``/`` — with the rights of whoever posts it. When the bot posts text a
person wrote, that would be the bot's rights. So:

* every line whose first non-blank character is ``/`` gets that ``/`` escaped as ``\\/`` (Markdown
  renders ``\\/`` as ``/``, and GitLab no longer sees a quick action);
* ``<!--`` and ``-->`` are escaped, so person text cannot forge the bot's hidden markers
  (``<!-- incident-bot:... -->``) nor hide text;
* ``\\r\\n`` (and a lone ``\\r``) become ``\\n``.

Lines inside a fenced code block (a line that starts with three backticks, closed by a line that is
exactly three backticks — the rule GitLab's quick-action extractor uses) are left as they are: GitLab
does not run quick actions there. A fence that is never closed is not a fence for this purpose.
Markers inside fences are still defused, with an invisible zero-width space, because a marker scan
does not know about fences.

Everything else, including non-Latin text, is kept byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["neutralize", "neutralize_note", "escape_markers"]

_FENCE_OPEN = "```"
_FENCE_CLOSE = "```"
_LEADING_SLASH = re.compile(r"^(\s*)/")
_ZWSP = "\u200b"


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fenced_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside closed fenced code blocks, the fence lines included."""
    inside: set[int] = set()
    i = 0
    n = len(lines)
    while i < n:
        if lines[i].startswith(_FENCE_OPEN):
            close = next((j for j in range(i + 1, n) if lines[j] == _FENCE_CLOSE), None)
            if close is not None:
                inside.update(range(i, close + 1))
                i = close + 1
                continue
        i += 1
    return inside


def _escape_slash(line: str) -> str:
    return _LEADING_SLASH.sub(lambda m: m.group(1) + "\\/", line, count=1)


def escape_markers(text: str, *, in_code: bool = False) -> str:
    """Defuse HTML comment openers/closers: ``&lt;!--`` / ``--&gt;`` in prose, a zero-width space in code."""
    if in_code:
        return text.replace("<!--", "<!" + _ZWSP + "--").replace("-->", "--" + _ZWSP + ">")
    return text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def _process(text: str, *, markers: bool) -> str:
    lines = _normalise_newlines(text).split("\n")
    fenced = _fenced_lines(lines)
    out = []
    for i, line in enumerate(lines):
        if i in fenced:
            out.append(escape_markers(line, in_code=True) if markers else line)
            continue
        if markers:
            line = escape_markers(line)
        out.append(_escape_slash(line))
    return "\n".join(out)


def neutralize(text: str) -> str:
    """Person text -> text the bot may post: no quick actions, no HTML comments, ``\\n`` newlines.

    Idempotent: neutralizing twice gives the same text as once.
    """
    if text is None:
        return ""
    return _process(str(text), markers=True)


def neutralize_note(markdown: str) -> str:
    """The final safety pass over a whole rendered note or description.

    Escapes the leading ``/`` of every line outside fenced code blocks and normalises newlines. It
    leaves HTML comments alone, because the bot's own templates use them (markers, hidden examples);
    person text inside the note was already passed through :func:`neutralize` by the template filters.
    """
    if markdown is None:
        return ""
    return _process(str(markdown), markers=False)
