"""bot.markdown: one reader of fences, quotes, HTML blocks, headings and task items, by line."""

from __future__ import annotations

from bot.markdown import Heading, TaskItem, read


def lines_where(flags):
    return [i for i, flag in enumerate(flags) if flag]


def test_paragraph_and_hidden_lines():
    doc = read("text\n/cmd\n\n```\ncode\n```\n> quote\nlazy\n\n<!--\nnote\n-->\n    indented\n\n- item\n  more\n~~~\n")
    assert doc.lines[1] == "/cmd" and len(doc.lines) == 18
    assert lines_where(doc.paragraph) == [0, 1]
    assert lines_where(doc.hidden) == [3, 4, 5, 6, 7, 9, 10, 11, 12, 16]
    assert lines_where(doc.code) == [3, 4, 5, 12, 16]  # an unclosed fence runs to the end


def test_line_endings_split_as_commonmark_does():
    doc = read("a\r\nb\rc\nd\u2028e")
    assert doc.lines == ["a", "b", "c", "d\u2028e"] and lines_where(doc.paragraph) == [0, 1, 2, 3]
    assert read(None).lines == [""] and read("").headings == []


def test_fences_follow_commonmark():
    # An opener may carry an info string; a closer may be indented up to 3 spaces or be longer; a
    # backtick opener's info string holds no backtick (that is inline code); ~~~ and ``` do not mix.
    assert lines_where(read("```py\nx\n   ````\nafter").paragraph) == [3]
    assert lines_where(read("~~~\n```\nx\n~~~\nafter").paragraph) == [4]
    assert lines_where(read("``` `x`\nafter").paragraph) == [0, 1]
    assert lines_where(read("```\nx\n    ```\nstill code").paragraph) == []


def test_gitlab_multiline_quotes_are_quotes():
    doc = read("intro\n>>>\n/close\n\n/label ~x\n>>>\nafter")
    assert lines_where(doc.paragraph) == [0, 6] and lines_where(doc.hidden) == [2, 3, 4]
    # A longer fence needs a closer at least as long; unclosed, the quote runs to the end.
    assert lines_where(read(">>>>\n>>>\nx\n>>>>>\ny").paragraph) == [4]
    assert lines_where(read("   >>> \t\nx\ny").paragraph) == []
    # Not a fence: text after the >s (nested `>` quotes), indented 4 (code), or inside fenced code.
    assert lines_where(read(">>> x\n\ny").paragraph) == [2]
    assert lines_where(read("    >>>\n\ny").paragraph) == [2]
    assert lines_where(read("```\n>>>\n```\ny").paragraph) == [3]
    # A code block in the quote is taken whole, as GitLab's BlockquoteFenceFilter does: a `>>>` in it
    # ends nothing, and the quote goes on after the block.
    assert lines_where(read(">>>\n```\n>>>\ny").paragraph) == []
    assert lines_where(read(">>>\n```\n>>>\n```\n>>>\ny").paragraph) == [5]


def test_setext_heading_text_counts_as_paragraph_text():
    doc = read("/cmd\nk: v\n---\nafter")
    assert lines_where(doc.paragraph) == [0, 1, 3]
    assert doc.headings == [Heading(0, 2, "/cmd\nk: v".replace("\n", " "), 4)]


def test_headings_and_their_sections():
    doc = read("# A #\n## B\ntext\n### C\n## D\n> # quoted\n    # code\n####### seven\n# E")
    assert [(h.line, h.level, h.title, h.end) for h in doc.headings] == [
        (0, 1, "A", 8), (1, 2, "B", 4), (3, 3, "C", 4), (4, 2, "D", 8), (8, 1, "E", 9)]


def test_task_items_in_sections():
    text = ("- [ ] before\n## Actions\n- [ ] one\n* [x] two\n  - [X] nested\n1. [ ] three\n- [ ]\n- [x]x\n"
            "- plain\n> - [ ] quoted\n```\n- [ ] fenced\n```\n<!--\n- [ ] commented\n-->\n-     [ ] code\n"
            "### Sub\n- [ ] four → #3\n## Next\n- [ ] after\n")
    doc = read(text)
    (actions,) = [h for h in doc.headings if h.title == "Actions"]
    items = doc.task_items([actions])
    assert [(i.line, i.checked, i.text) for i in items] == [
        (2, False, "one"), (3, True, "two"), (4, True, "nested"), (5, False, "three"), (6, False, ""),
        (18, False, "four → #3")]
    assert items[2] == TaskItem(4, True, 5, "nested") and doc.lines[4][items[2].box] == "X"
    assert doc.task_items([]) == []
    # Sections that nest or repeat give each item once.
    assert len(doc.task_items(doc.headings)) == len(items) + 1


def test_deep_nesting_and_long_lists_do_not_raise():
    # Past markdown-it's nesting limit the tail is in no block: never paragraph text, so it never runs.
    deep = read(">" * 5000 + " /cmd\n/cmd")
    assert not any(deep.paragraph) and all(deep.hidden)
    nested = read("".join(" " * (2 * i) + "- x\n" for i in range(500)) + "/cmd")
    assert not any(nested.paragraph)
    long = read("## Actions\n" + "- [ ] x\n" * 20000)
    assert len(long.task_items(long.headings)) == 20000
    assert read("[" * 20000 + "\n" + "*_`" * 20000).paragraph == [True, True]
