"""sandbox.extractor reads text as GitLab's two extractor generations do; the bot's block is neutral to both."""

import pytest

from bot.markers import BEGIN, END
from bot.state import IncidentState, read_block, render_block, write_block
from sandbox.extractor import extract, remove

KEY = "k" * 32  # the state key the blocks in these tests are signed with

BOTH = ("regex", "commonmark")


def names(text, generation):
    return [(c.name, c.args) for c in extract(text, generation)]


@pytest.mark.parametrize("generation", BOTH)
@pytest.mark.parametrize("text, found", [
    ("/close", [("close", "")]),
    ("hello\n/label ~foo ~\"bar baz\"\nworld", [("label", '~foo ~"bar baz"')]),
    ("/CLOSE", [("close", "")]),
    ("/closed", []),
    ("/incident declare sev1", []),  # not a GitLab quick action
    ("```\n/close\n```", []),
    ("<div>\n/close\n</div>", []),
    (">>>\n/close\n>>>", []),
    ("\\/close", []),
    ("a\r/close", []),  # GitLab deletes \r, it does not make a line of it
    ("x\n\n/close\n/title a b", [("close", ""), ("title", "a b")]),
])
def test_both_generations_agree(generation, text, found):
    assert names(text, generation) == found


@pytest.mark.parametrize("text, regex, commonmark", [
    # 16.6 knew only ``` fences at column 0, closed by a line of exactly three backticks.
    ("~~~\n/close\n~~~", [("close", "")], []),
    # "Inline code on separate rows": a later line ending in a backtick hides everything before it.
    ("/close\nsee `x`", [], [("close", "")]),
    # CommonMark: list items, quotes and indented code are not top-level paragraphs.
    ("- a\n/close", [("close", "")], []),
    # An HTML block ends at the first </tag> line under the regex, at a blank line in CommonMark.
    ("<div>\n</x>\n/close\n\nz", [("close", "")], []),
    # A CommonMark fence opener cannot carry backticks after it; its closer may be indented.
    ("```x```\n/close\n```", [], [("close", "")]),
    ("```\n/a\n  ```\n/close\n```", [], [("close", "")]),
])
def test_where_the_generations_differ(text, regex, commonmark):
    assert names(text, "regex") == regex
    assert names(text, "commonmark") == commonmark


def test_remove_takes_only_the_given_commands():
    text = "hello\n/close\n/label ~x\nbye"
    found = extract(text, "commonmark")
    assert remove(text, found[:1]) == "hello\n/label ~x\nbye"


OLD_LAYOUT = (BEGIN + "\n**Incident state** (kept by incident-bot; change it with `/incident` commands)\n\n"
              "| | |\n|---|---|\n| Status | In Progress |\n\n"
              '<!-- incident-bot:state {"schema":1,"status":"active","severity":2} -->\n' + END)


@pytest.mark.parametrize("generation", BOTH)
def test_the_old_layout_changed_how_gitlab_reads_the_text_and_the_new_one_does_not(generation):
    person = "Users see errors.\n\n>>>\nlog:\n</x>\n/close\n>>>\n"
    new = write_block(person, render_block(IncidentState(), "**Incident state** `x`\n\n| a | b |", KEY))
    assert names(person, generation) == [] and names(new, generation) == []
    if generation == "regex":
        assert names(OLD_LAYOUT + "\n\n" + person, generation) == [("close", "")]


def test_markers_never_start_a_line_with_a_tag():
    block = render_block(IncidentState(), "<details>\n```\n| a |\n>>>", KEY)
    for line in block.split("\n"):
        assert not line.lstrip(" ").startswith(("<", "```", "~~~", ">")), line
    assert "`" not in block
    assert read_block(block, KEY).status == "active"


def test_an_old_layout_block_is_read_and_replaced():
    assert read_block(OLD_LAYOUT, None).severity == 2
    text = write_block(OLD_LAYOUT + "\n\nplain words", render_block(IncidentState(severity=1), "t", KEY))
    assert text.count(BEGIN) == 1 and read_block(text, KEY).severity == 1 and text.endswith("\n\nplain words")


def test_a_block_that_could_change_the_reading_stays_and_ours_goes_first():
    forged = BEGIN + "\n```\n" + END + "\n/close\n```"
    text = write_block(forged, render_block(IncidentState(severity=1), "t", KEY))
    assert text.endswith("\n\n" + forged) and read_block(text, KEY).severity == 1
    old_with_closer = OLD_LAYOUT + "\n\n>>>\n</x>\n/close\n>>>"
    text = write_block(old_with_closer, render_block(IncidentState(severity=1), "t", KEY))
    assert text.endswith(old_with_closer) and read_block(text, KEY).severity == 1
    for generation in BOTH:
        before = names(old_with_closer, generation)
        assert names(text, generation) == before
