"""The one reader of Markdown structure, on markdown-it-py (CommonMark, as GitLab renders). Pure.

`read(text)` answers, by line number (lines split at \\r\\n, \\r or \\n, as CommonMark and
`postmortem.split_lines` do):

* `paragraph`: the lines of top-level paragraphs (and of setext headings' text), where a command may
  start (GitLab 16.7+ looks for quick actions only in paragraphs);
* `hidden`: the lines inside code (fenced with ``` or ~~~, or indented), quotes and HTML blocks
  (comments included), whose text never runs;
* `code`: the lines inside code blocks only;
* `headings` with the line range of each one's section, and `task_items(sections)`.

GitLab's `>>>` multi-line quotes are CommonMark quotes first (`_multiline_quotes`), following its
current parser (comrak's `multiline_block_quotes`): a line of three or more `>` alone, indented at most
3 spaces and outside fenced code, opens one; the first such line at least as long closes it, even inside
a fence within the quote; an unclosed one runs to the end.

Linear time on any text: markdown-it-py is linear, and stops descending at `maxNesting` levels (the
lines past it are in no paragraph: they never run); the rest are single passes over lines and tokens
(benchmarks/linear_time.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable

from markdown_it import MarkdownIt

# Block structure only: the inline rules (emphasis, links...) cost time and answer nothing asked here.
_PARSER = MarkdownIt("commonmark", {"maxNesting": 20}).enable("table").disable(["inline", "text_join"])
_NEWLINE = re.compile(r"\r\n|\r|\n")
_QUOTE_FENCE = re.compile(r" {0,3}(>{3,})[ \t]*")
_CODE_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
# A task item's first line: the list marker, then the box; group 1 is the box's character.
_TASK = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\[([ xX])\](?:[ \t]|$)")
_HIDING = ("fence", "code_block", "html_block", "blockquote_open")


@dataclass(frozen=True)
class Heading:
    line: int  # its first line
    level: int  # 1-6
    title: str  # its source text, without the #s around it (inline Markdown is not read)
    end: int  # the line after its section: the next heading of the same or a higher level, or the end


@dataclass(frozen=True)
class TaskItem:
    line: int
    checked: bool
    box: int  # column of the box's character ("[ ]" -> the space)
    text: str  # the rest of the line after the box


def _multiline_quotes(lines: list[str]) -> list[str]:
    """`>>>` ... `>>>` as `>` quotes, every line kept where it was (the fence lines become blank). A code
    block inside the quote is taken whole, as GitLab's BlockquoteFenceFilter does: a `>>>` line in it
    does not end the quote (reading it as an end would bare the lines after it)."""
    out: list[str] = []
    fence: tuple[str, int] | None = None  # the open top-level code fence: (character, length)
    quote = 0  # the open `>>>` fence's length
    inner: tuple[str, int] | None = None  # a code fence open inside the quote: it holds its `>>>` lines
    for line in lines:
        q = _QUOTE_FENCE.fullmatch(line)
        f = _CODE_FENCE.match(line)
        if quote:
            if inner:
                if f and f.group(1)[0] == inner[0] and len(f.group(1)) >= inner[1] and not f.group(2).strip(" \t"):
                    inner = None
            elif q and len(q.group(1)) >= quote:
                quote = 0
                out.append("")
                continue
            elif f and not (f.group(1)[0] == "`" and "`" in f.group(2)):
                inner = (f.group(1)[0], len(f.group(1)))
            out.append("> " + line)
            continue
        if fence:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= fence[1] and not f.group(2).strip(" \t"):
                fence = None
        elif q:
            quote = len(q.group(1))
            out.append("")
            continue
        elif f and not (f.group(1)[0] == "`" and "`" in f.group(2)):
            fence = (f.group(1)[0], len(f.group(1)))
        out.append(line)
    return out


def _is_paragraph(token) -> bool:
    """A paragraph, or one that a `---` or `===` line below made a (setext) heading: YAML fields
    followed by `---` are still a command's text, answered with an error rather than ignored."""
    return token.type == "paragraph_open" or (token.type == "heading_open" and token.markup in ("=", "-"))


def _cover(n: int, ranges: Iterable[tuple[int, int]]) -> list[bool]:
    """Which of n lines fall in any of the [start, end) ranges, in one pass however they nest."""
    depth = [0] * (n + 1)
    for start, end in ranges:
        depth[min(start, n)] += 1
        depth[min(end, n)] -= 1
    out, level = [], 0
    for i in range(n):
        level += depth[i]
        out.append(level > 0)
    return out


def split(text: str | None) -> list[str]:
    """The lines, without their endings, as the parser numbers them."""
    return _NEWLINE.split(text or "")


_BACKTICKS = re.compile(r"(?<!\\)`+")


def _inside_code_spans(lines: list[str], start: int, end: int) -> Iterable[int]:
    """The lines start+1..end-1 of a paragraph that begin inside a code span running across lines.

    CommonMark: a backtick run opens a span that the next run of the same length closes. One pass, with
    a pointer per run length, so it stays linear however many runs a person writes."""
    text = "\n".join(lines[start:end])
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    by_length: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(runs):
        by_length.setdefault(b - a, []).append(k)
    pointer = dict.fromkeys(by_length, 0)
    line_starts = [0]
    for line in lines[start:end - 1]:
        line_starts.append(line_starts[-1] + len(line) + 1)
    k, next_line = 0, 1
    while k < len(runs):
        a, b = runs[k]
        same, p = by_length[b - a], pointer[b - a]
        while p < len(same) and same[p] <= k:
            p += 1
        pointer[b - a] = p
        if p == len(same):  # never closed: literal backticks
            k += 1
            continue
        close = runs[same[p]][0]
        while next_line < len(line_starts) and line_starts[next_line] <= close:
            if line_starts[next_line] > b - 1:
                yield start + next_line
            next_line += 1
        k = same[p] + 1
    return


class Document:
    def __init__(self, text: str | None):
        self.lines = split(text)
        source = "\n".join(_multiline_quotes(self.lines)) if ">>>" in (text or "") else "\n".join(self.lines)
        self._tokens = [t for t in _PARSER.parse(source) if t.map or t.type == "blockquote_close"]
        self.headings = self._headings(self._tokens, len(self.lines))

    @cached_property
    def paragraph(self) -> list[bool]:
        ranges = [t.map if t.type == "paragraph_open" else (t.map[0], t.map[1] - 1)
                  for t in self._tokens if t.level == 0 and _is_paragraph(t)]
        out = _cover(len(self.lines), ranges)
        for start, end in ranges:  # a line that starts inside a code span is code, as GitLab shows it
            for i in _inside_code_spans(self.lines, start, end):
                out[i] = False
        return out

    @cached_property
    def hidden(self) -> list[bool]:
        return _cover(len(self.lines), (t.map for t in self._tokens if t.type in _HIDING))

    @cached_property
    def code(self) -> list[bool]:
        return _cover(len(self.lines), (t.map for t in self._tokens if t.type in ("fence", "code_block")))

    @staticmethod
    def _headings(tokens, n: int) -> list[Heading]:
        found, ends = [], {}
        open_: list[int] = []  # indexes into found whose section is still open
        for i, t in enumerate(tokens):
            if t.type != "heading_open" or t.level != 0:
                continue
            level = int(t.tag[1])
            while open_ and found[open_[-1]][1] >= level:
                ends[open_.pop()] = t.map[0]
            found.append((t.map[0], level, tokens[i + 1].content.replace("\n", " ").strip(), t.map[1]))
            open_.append(len(found) - 1)
        return [Heading(line, level, title, ends.get(k, n)) for k, (line, level, title, _) in enumerate(found)]

    @cached_property
    def _items(self) -> list[TaskItem]:
        items, quoted, tokens = [], 0, self._tokens
        for i, t in enumerate(tokens):
            quoted += t.type == "blockquote_open"
            quoted -= t.type == "blockquote_close"
            if t.type != "list_item_open" or quoted or i + 1 >= len(tokens):
                continue
            first = tokens[i + 1]  # the item's first block (the filter kept the inline tokens' parents)
            if first.type != "paragraph_open" or first.map[0] != t.map[0]:
                continue  # an item whose text does not start on its own line has no box
            line = self.lines[t.map[0]]
            m = _TASK.match(line)
            if m:
                items.append(TaskItem(t.map[0], m.group(1) != " ", m.start(1), line[m.end():]))
        return items

    def task_items(self, sections: Iterable[Heading]) -> list[TaskItem]:
        """The task-list items inside any of these sections (not in quotes), in order, each once."""
        inside = _cover(len(self.lines), ((h.line, h.end) for h in sections))
        return [item for item in self._items if inside[item.line]]


def read(text: str | None) -> Document:
    return Document(text)
