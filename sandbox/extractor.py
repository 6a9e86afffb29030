"""Which lines of a note or description GitLab runs as quick actions: both generations of its extractor.

Ported from GitLab's source (``lib/gitlab/quick_actions/extractor.rb`` and the Banzai
``QuickActionPipeline``), so the sandbox reads text the way GitLab does, not the way the bot hopes:

* ``"regex"`` (up to 16.6): one regex over the whole text (``\\r`` deleted first) that, at each
  position, first skips fenced code (```` ``` ```` at column 0 up to a line that is exactly ```` ``` ````),
  "inline code on separate rows", HTML blocks (a line ``<tag>`` ... a later line ``</tag>``) and
  ``>>>`` blocks, and otherwise takes ``/name args`` at the start of a line;
* ``"commonmark"`` (16.7 on): the text is parsed as CommonMark (``>>>`` blocks become quotes first);
  only top-level paragraphs whose text has a line starting with ``/`` are searched, with the same
  command regex minus the block skips (inline code and HTML blocks are still skipped inside them).

:func:`extract` returns every match with its span, so the caller decides which ones are available
and removes only those, as GitLab does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt

GENERATIONS = ("regex", "commonmark")

# GitLab's quick action names and aliases (issues, merge requests, epics, work items), substitutions
# included (/shrug, /tableflip). Longer names first does not matter: the regex backtracks.
COMMAND_NAMES = (
    "add_child", "add_contacts", "add_email", "approve", "assign", "assign_reviewer", "award", "blocked_by",
    "blocks", "board_move", "cc", "checkin_reminder", "clear_health_status", "clear_weight", "clone", "close",
    "confidential", "convert_to_ticket", "copy_metadata", "create_merge_request", "done", "draft", "due",
    "duplicate", "epic", "estimate", "estimate_time", "health_status", "invite_email", "iteration", "label",
    "labels", "link", "lock", "merge", "milestone", "move", "page", "parent_epic", "promote",
    "promote_to", "promote_to_incident", "publish", "q", "react", "ready", "reassign", "reassign_reviewer",
    "rebase", "relabel", "relate", "remove_child", "remove_contacts", "remove_due_date", "remove_email",
    "remove_epic", "remove_estimate", "remove_iteration", "remove_label", "remove_milestone",
    "remove_parent", "remove_parent_epic", "remove_reviewer", "remove_time_estimate", "remove_time_spent",
    "remove_weight", "remove_zoom", "reopen", "request_review", "reviewer", "set_parent", "severity",
    "shrug", "spend", "spend_time", "spent", "status", "submit_review", "subscribe", "tableflip",
    "target_branch", "timeline", "title", "todo", "type", "unapprove", "unassign", "unassign_reviewer",
    "unlabel", "unlink", "unlock", "unsubscribe", "weight", "wip", "zoom",
)

_COMMAND = r"""
    (?:
        ^/(?P<cmd>{names})
        (?:[ ](?P<arg>[^\n]*))?
        (?:\s*\n|$)
    )
"""
_HTML_BLOCK = r"""
    (?P<html>
        ^<[^>]+?>\n
        .+?
        \n</[^>]+?>$
    )
"""

# The 16.6 regex, alternative for alternative (Ruby's /mix: `.` crosses lines, ^ $ are line anchors).
_REGEX_GENERATION = r"""
    (?P<code> ^```.+?\n```$ )
  | (?P<inline_code> ^.*`\n*.+?\n*`$ )
  | """ + _HTML_BLOCK + r"""
  | (?P<quote> ^>>>.+?\n>>>$ )
  | """ + _COMMAND

# 16.7 on, applied to one candidate paragraph's source lines.
_PARAGRAPH_GENERATION = r"""
    (?P<inline_code> `.+?` )
  | """ + _HTML_BLOCK + r"""
  | """ + _COMMAND

_FLAGS = re.MULTILINE | re.DOTALL | re.IGNORECASE | re.VERBOSE


@lru_cache(maxsize=8)
def _compiled(pattern: str, names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(pattern.replace("{names}", "|".join(re.escape(n) for n in names)), _FLAGS)


@dataclass(frozen=True)
class Command:
    name: str  # lower case, as GitLab passes it on
    args: str
    start: int  # span in the text with "\r" deleted
    end: int


def normalise(text: str) -> str:
    """GitLab deletes every carriage return before extracting (it does not turn it into a newline)."""
    return text.replace("\r", "")


def _matches(pattern: re.Pattern[str], text: str, offset: int) -> list[Command]:
    found = []
    for m in pattern.finditer(text):
        if m.group("cmd"):
            found.append(Command(m.group("cmd").lower(), (m.group("arg") or "").strip(),
                                 offset + m.start(), offset + m.end()))
    return found


def extract_regex(text: str, names: tuple[str, ...] = COMMAND_NAMES) -> list[Command]:
    return _matches(_compiled(_REGEX_GENERATION, names), normalise(text), 0)


# -- 16.7 on ------------------------------------------------------------------------------------------
_MULTILINE_QUOTE = re.compile(r"^ {0,3}(>{3,})[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _quotes_to_blockquotes(lines: list[str]) -> list[str]:
    """GitLab's ``>>>`` ... ``>>>`` multi-line quotes as ``>`` quotes, keeping every line where it was.

    A ``>>>`` line opens outside fenced code and is closed by a ``>>>`` line at least as long; an
    unclosed one runs to the end, like a fence. Fences follow CommonMark's opening and closing rules.
    """
    out, fence, quote = [], None, None
    for line in lines:
        body = line.rstrip("\n")
        if quote is not None:
            q = _MULTILINE_QUOTE.match(body)
            if q and fence is None and len(q.group(1)) >= quote:
                quote = None
                out.append("\n" if line.endswith("\n") else "")
                continue
            out.append("> " + line)
        else:
            out.append(line)
        f = _FENCE.match(body)
        if fence is None:
            if f and not (f.group(1)[0] == "`" and "`" in f.group(2)):
                fence = f.group(1)
                continue
            q = _MULTILINE_QUOTE.match(body)
            if q and quote is None:
                quote = len(q.group(1))
                out[-1] = "\n" if line.endswith("\n") else ""
        elif f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence) and not f.group(2).strip():
            fence = None
    return out


_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _paragraph_text(inline) -> str:
    """What the rendered paragraph's text holds (Nokogiri's ``node.content``): text, code, breaks."""
    parts = []
    for child in inline.children or []:
        if child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
    return "".join(parts)


def _lines(text: str) -> list[str]:
    """Lines as Ruby's String#lines cuts them: at "\n" only (not at U+2028, VT, FF... as splitlines)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def candidate_paragraphs(text: str) -> list[tuple[int, int]]:
    """(first, last) 0-based source lines of the top-level paragraphs that may hold quick actions."""
    lines = _lines(text)
    tokens = _PARSER.parse("".join(_quotes_to_blockquotes(lines)))
    found = []
    for i, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0 and token.map:
            if re.search(r"^/", _paragraph_text(tokens[i + 1]), re.MULTILINE):
                found.append((token.map[0], token.map[1] - 1))
    return found


def extract_commonmark(text: str, names: tuple[str, ...] = COMMAND_NAMES) -> list[Command]:
    text = normalise(text)
    lines = _lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    pattern = _compiled(_PARAGRAPH_GENERATION, names)
    found: list[Command] = []
    for first, last in candidate_paragraphs(text):
        # GitLab takes the blank line after the paragraph too, so a command may end with its "\n".
        if last + 1 < len(lines) and lines[last + 1] == "\n":
            last += 1
        found += _matches(pattern, "".join(lines[first:last + 1]), starts[first])
    return found


def extract(text: str | None, generation: str = "commonmark",
            names: tuple[str, ...] = COMMAND_NAMES) -> list[Command]:
    """Every quick action GitLab would find in ``text``, in order."""
    if not text:
        return []
    if generation == "regex":
        return extract_regex(text, names)
    if generation == "commonmark":
        return extract_commonmark(text, names)
    raise ValueError(f"unknown quick action generation {generation!r}")


def remove(text: str, commands: list[Command]) -> str:
    """``text`` (carriage returns deleted) without the given commands, right-stripped as GitLab does."""
    text = normalise(text)
    for cmd in sorted(commands, key=lambda c: c.start, reverse=True):
        text = text[:cmd.start] + text[cmd.end:]
    return text.rstrip()
