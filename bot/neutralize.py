"""Make person-given text safe to post as the bot.

Pure. GitLab runs a quick action (``/close``, ``/assign @x``...) for lines of a note or an issue
description that start with ``/`` — with the rights of whoever posts it. When the bot posts text a
person wrote, that would be the bot's rights. Which lines GitLab reads as code depends on its version
(a regex over fences, "inline code on rows", HTML blocks and ``>>>`` up to 16.6; CommonMark paragraphs
from 16.7), and a person can make the bot and GitLab disagree about any of them. So the neutraliser
never relies on fences for safety:

* every line whose first non-blank character is ``/`` is escaped, wherever it is: as ``\\/`` (Markdown
  renders it as ``/``), or inside what looks like fenced code, where a backslash would show, with an
  invisible zero-width space before the ``/``. Either way the line no longer starts with ``/``, for
  both extractors. Fences only choose the cosmetic form;
* ``<!--`` and ``-->`` are escaped, so person text cannot forge the bot's hidden markers
  (``<!-- incident-bot:... -->``) nor hide text;
* ``@all`` gets a zero-width space after its ``@``: reposted by the bot, it would notify every member;
* ``\\r\\n`` (and a lone ``\\r``) become ``\\n``.

One pass over the lines, so the time is linear in the text's length. Everything else, including
non-Latin text, is kept byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["neutralize", "neutralize_note", "escape_markers", "one_line", "no_quick_actions"]

_LEADING_SLASH = re.compile(r"^(\s*)/")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ZWSP = "\u200b"
# A line start (after LF, CR or CRLF: CommonMark ends lines at each), blanks other than line breaks,
# then "/". No nested quantifiers: linear.
_ANY_SLASH_LINE = re.compile(r"(^|\r\n|\r|\n)([^\S\r\n]*)/")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def one_line(text: str) -> str:
    """A title: every run of whitespace, line breaks of any kind included (CR, LF, VT, FF, U+0085,
    U+2028, U+2029...), becomes one space."""
    return " ".join(str(text).split())


def escape_markers(text: str, *, in_code: bool = False) -> str:
    """Defuse HTML comment openers/closers: ``&lt;!--`` / ``--&gt;`` in prose, a zero-width space in code."""
    if in_code:
        return text.replace("<!--", "<!" + _ZWSP + "--").replace("-->", "--" + _ZWSP + ">")
    return text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def _escape_slash(line: str, in_code: bool) -> str:
    mark = _ZWSP + "/" if in_code else "\\/"
    return _LEADING_SLASH.sub(lambda m: m.group(1) + mark, line, count=1)


# GitLab's "@all" notifies every member of the project: in person text the bot reposts, it would notify
# them all again, as the bot, with every update. GitLab reads a mention after anything but an ASCII word
# character and drops trailing dots ("@all." and "e.g.@all" mention all), so every "@" before "all" gets
# a zero-width space after it (it reads the same; "@allison" in a reposted text notifies no one either).
_ALL_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?=all)", re.IGNORECASE)


def _process(text: str, *, markers: bool) -> str:
    fence: str | None = None  # the opening fence of the code block we are in (cosmetics only)
    out = []
    for line in _normalise_newlines(text).split("\n"):
        f = _FENCE.match(line)
        is_fence = False
        if fence is None and f and not (f.group(1)[0] == "`" and "`" in f.group(2)):
            fence, is_fence = f.group(1), True
        elif fence is not None and f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence) \
                and not f.group(2).strip():
            fence, is_fence = None, True
        in_code = fence is not None and not is_fence
        if markers:
            line = _ALL_MENTION.sub("@" + _ZWSP, escape_markers(line, in_code=in_code))
        out.append(_escape_slash(line, in_code))
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

    Escapes the leading ``/`` of every line, fenced or not, and normalises newlines: the bot never
    means a quick action. It leaves HTML comments alone, because the bot's own templates use them
    (markers, hidden examples); person text inside the note was already passed through
    :func:`neutralize` by the template filters.
    """
    if markdown is None:
        return ""
    return _process(str(markdown), markers=False)


def no_quick_actions(text: str) -> str:
    """The last pass over everything the bot sends to GitLab (notes, descriptions): no line may start
    with ``/``. The bot never means a quick action, and a description holds a person's text, which the
    bot's edit can make GitLab read differently (an HTML block or "inline code on rows" that hid a line
    before may no longer hide it). An invisible zero-width space goes before the ``/``: it shows the
    same inside code and out. Line breaks and everything else are kept as they are; idempotent.
    """
    if text is None:
        return ""
    return _ANY_SLASH_LINE.sub(lambda m: m.group(1) + m.group(2) + _ZWSP + "/", str(text))
