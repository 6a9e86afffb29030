from bot.commands import has_command, parse_commands, with_fields


def test_single_command_with_args():
    (cmd,) = parse_commands("/incident declare sev1")
    assert (cmd.verb, cmd.args, cmd.fields, cmd.error) == ("declare", ("sev1",), {}, None)


def test_fields_as_yaml_mapping_and_lists_keep_strings():
    text = "/incident update\nsummary: Logins fail\nprogress:\n  - rolled back\n  - cache flushed\nnext: 14:30\ntickets: 12\n"
    (cmd,) = parse_commands(text)
    assert cmd.fields == {"summary": "Logins fail", "progress": ["rolled back", "cache flushed"],
                          "next": "14:30", "tickets": "12"}


def test_several_commands_in_order_and_blank_line_ends_fields():
    text = "Taking this.\n/incident cmoc me\n/incident update\nsummary: x\n\nthanks all\n/incident status"
    cmds = parse_commands(text)
    assert [c.verb for c in cmds] == ["cmoc", "update", "status"]
    assert [c.index for c in cmds] == [0, 1, 2]
    assert cmds[1].fields == {"summary": "x"}


def test_code_blocks_quotes_and_comments_never_run():
    text = "```\n/incident resolve\n```\n> /incident resolve\n<!--\n/incident resolve\n-->\n~~~\n/incident resolve\n~~~"
    assert parse_commands(text) == []
    assert not has_command(text, "/incident")


def test_mention_prefix_and_case():
    (cmd,) = parse_commands("@incident-bot STATUS", bot_username="incident-bot")
    assert cmd.verb == "status"
    assert parse_commands("@someone-else status", bot_username="incident-bot") == []


def test_prefix_must_be_a_whole_word():
    assert parse_commands("/incidents declare") == []
    assert parse_commands("text /incident declare") == []


def test_malformed_yaml_is_reported_not_raised():
    (cmd,) = parse_commands("/incident update\nsummary: [unclosed\n")
    assert cmd.error and "YAML" in cmd.error
    (cmd,) = parse_commands("/incident update\njust prose here\n")
    assert cmd.error and "key: value" in cmd.error


def test_bare_prefix_means_help():
    (cmd,) = parse_commands("/incident")
    assert cmd.verb == "help"


# -- no input stalls the parser (issue 12, item 5) ---------------------------------------------------
def test_deeply_nested_fields_are_an_error_reply_not_an_exception():
    # 1,000 levels raised RecursionError, which the queue retried while it held the incident's lane.
    for nested in ("x: " + "[" * 1000 + "]" * 1000, "x: " + "{a: " * 1000 + "b" + "}" * 1000,
                   "x:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 150)) + " " * 150 + "v"):
        (cmd,) = parse_commands("/incident update\n" + nested)
        assert cmd.fields == {} and "nest more than 8 levels" in cmd.error


def test_eight_levels_read_nine_do_not():
    (cmd,) = parse_commands("/incident update\nx: " + "[" * 7 + "a" + "]" * 7)
    assert cmd.error is None and cmd.fields["x"] == [[[[[[["a"]]]]]]]
    (cmd,) = parse_commands("/incident update\nx:\n  - [[[[[[a]]]]]]")
    assert cmd.error is None
    for text in ("x: " + "[" * 8 + "a" + "]" * 8, "x: " + "{a: " * 8 + "b" + "}" * 8, "x:\n  - [[[[[[[a]]]]]]]"):
        (cmd,) = parse_commands("/incident update\n" + text)
        assert "nest more than 8 levels" in cmd.error, text


def test_nesting_a_person_writes_still_reads():
    text = ("/incident update\nprogress:\n  - Team leads: check the queue\n  - rolled back:\n"
            "      - eu-west\n      - us-east\nnext_steps: [[a, b], c]\n")
    (cmd,) = parse_commands(text)
    assert cmd.error is None
    assert cmd.fields["progress"] == [{"Team leads": "check the queue"}, {"rolled back": ["eu-west", "us-east"]}]
    assert cmd.fields["next_steps"] == [["a", "b"], "c"]


def test_yaml_aliases_and_anchors_are_refused():
    # Nine levels of nine aliases made a 327-byte note into 27 MB of text.
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    for fields in (laughs, "summary: &s x\npatterns: *s", "summary: &s x", "summary: x\npatterns: *nowhere",
                   "progress:\n  - &a one\n  - two"):
        (cmd,) = parse_commands("/incident update\n" + fields)
        assert cmd.fields == {} and "anchor or alias" in cmd.error, fields
    # An ampersand or asterisk inside a value is text, not YAML syntax.
    (cmd,) = parse_commands("/incident update\nsummary: R&D *and* ops &co\npatterns: \"*a\"\n")
    assert cmd.fields == {"summary": "R&D *and* ops &co", "patterns": "*a"}


def test_fields_over_the_size_limit_are_an_error():
    (cmd,) = parse_commands("/incident update\n" + "summary: x\n" + "progress:\n" + "  - step\n" * 10000)
    assert cmd.fields == {} and "too long" in cmd.error


def test_fields_can_be_left_unread_until_the_access_check():
    text = "/incident update\nsummary: [unclosed\n/incident status"
    update, status = parse_commands(text, fields=False)
    assert update.fields == {} and update.error is None and update.field_lines == ("summary: [unclosed",)
    assert with_fields(update).error and "YAML" in with_fields(update).error
    assert with_fields(status) == status
    assert [with_fields(c) for c in parse_commands(text, fields=False)] == parse_commands(text)


def test_any_text_gives_commands_or_errors_never_an_exception():
    nasty = ["[" * 5000, "{" * 5000, "- " * 5000, "? " * 3000, "a: " * 3000, "!!python/object:os.system x",
             "!!binary AAAA", "%YAML 1.1\n---\na: b", "a: b\n---\nc: d", "\t\tx: y", "x: \"\\ud800\"",
             "x: |\n" + " " * 5000 + "y", "\x00\x01", "x: " + "'" * 4001, "&a", "*a", "<<: *a"]
    for fields in nasty:
        (cmd,) = parse_commands("/incident update\n" + fields)
        assert isinstance(cmd.fields, dict) and (cmd.error is None or cmd.error)


# -- the cap on commands per comment ---------------------------------------------------------------
def test_commands_past_the_cap_are_answered_once_not_run():
    text = "\n".join(f"/incident status {i}" for i in range(14))
    cmds = parse_commands(text, max_commands=10)
    assert [c.args for c in cmds[:10]] == [(str(i),) for i in range(10)]
    assert [c.index for c in cmds] == list(range(11))
    over = cmds[10]
    assert over.over_cap and over.index == 10 and over.fields == {}
    assert "at most 10 commands" in over.error and "`/incident status 10` and the 3 after it did not run" in over.error
    assert len(parse_commands(text, max_commands=None)) == 14
    assert not any(c.over_cap for c in parse_commands(text, max_commands=14))
    (first, over) = parse_commands("/incident update\nsummary: x\n/incident resolve\nsummary: [bad", max_commands=1)
    assert first.fields == {"summary": "x"} and over.over_cap and "`/incident resolve` did not run" in over.error


def test_generated_field_text_gives_fields_or_errors():
    # Seeded, so a failure reproduces; validate_fields may only raise FieldError on what parses.
    import random

    from bot.fields import VERB_FIELDS, FieldError, validate_fields

    tokens = ["[", "]", "{", "}", ":", " ", "\n", "- ", "&a ", "*a", "!!str ", "'", '"', "\\", "#", "|", ">", "?",
              ",", "tickets", "next", "summary", "progress", "9" * 50, "1h", "14:30", "\t", "\r", "\u2028", "%",
              "@", "`", "---", "...", "x", "é", "\x00", "\ufeff", "\ud800", "<<: ", "~", "null"]
    rng = random.Random(12)
    for _ in range(3000):
        verb = rng.choice(sorted(VERB_FIELDS))
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 40)))
        for cmd in parse_commands(f"/incident {verb}\n" + text):
            assert isinstance(cmd.fields, dict)
            if cmd.error is None:
                try:
                    validate_fields(cmd.verb, cmd.fields)
                except FieldError:
                    pass


def test_a_command_copied_from_the_help_runs():
    # The help's examples start with a zero-width space, so GitLab runs none of them as a quick action.
    [cmd] = parse_commands("\u200b/incident update\nsummary: copied")
    assert cmd.verb == "update" and cmd.fields == {"summary": "copied"}


# -- what GitLab renders as code, quotes or HTML never runs (bot.markdown) -------------------------------
def test_gitlab_multiline_quotes_never_run():
    # Unclosed, it runs to the end; only a line of at least as many >s closes it.
    for text in ("quoting:\n>>>\n/incident resolve\n>>>", ">>>\n/incident resolve", "  >>>>\n>>>\n/incident resolve\n>>>>",
                 ">>>\nx\n\n/incident resolve\n>>>\n", ">>> /incident resolve"):
        assert parse_commands(text) == [] and not has_command(text, "/incident"), text
    assert [c.verb for c in parse_commands(">>>\nquoted\n>>>\n/incident status")] == ["status"]
    # Inside fenced code a >>> line opens nothing; in a fence inside the quote it closes nothing.
    assert [c.verb for c in parse_commands("```\n>>>\n```\n/incident status")] == ["status"]
    assert parse_commands(">>>\n```\n>>>\n/incident status") == []
    assert [c.verb for c in parse_commands(">>>\n```\n>>>\n```\n>>>\n/incident status")] == ["status"]


def test_commonmark_code_html_and_quote_continuations_never_run():
    for text in ("intro\n\n    /incident resolve", "<details>\n/incident resolve\n</details>",
                 "````\n```\n/incident resolve\n````", "~~~ info\n/incident resolve\n```\n",
                 "> quoted\n/incident resolve",  # a lazy line: GitLab shows it inside the quote
                 "- a step\n  /incident resolve"):  # inside a list item
        assert parse_commands(text) == [] and not has_command(text, "/incident"), text
    # A closer indented up to 3 spaces or longer than the opener ends the fence, as in CommonMark.
    assert [c.verb for c in parse_commands("```\ncode\n   ````\n/incident status")] == ["status"]


def test_fields_hold_a_list_and_the_next_command_still_runs():
    text = "/incident update\nprogress:\n  - rolled back\n/incident mitigate\nsummary: x\n```\n/incident resolve\n```"
    update, mitigate = parse_commands(text)
    assert update.fields == {"progress": ["rolled back"]} and mitigate.fields == {"summary": "x"}


def test_a_quoted_command_in_a_comment_does_not_resolve_the_incident(world):
    # GitLab renders `>>>` ... `>>>` as a quote; the bot ran the quoted line as a command (issue 14, item 6).
    iid = world.declare()
    before = len(world.bot_notes(iid))
    world.comment(iid, "quoting:\n>>>\n/incident resolve\n>>>")
    assert world.issue(iid)["state"] == "opened" and world.state(iid).status == "active"
    assert len(world.bot_notes(iid)) == before


def test_an_indented_command_line_in_the_fields_is_text_not_a_command():
    """Issue 16: a summary's line "@incident-bot resolve" (inside a YAML block) resolved the incident."""
    text = "/incident update\nsummary: |\n  rolling back\n  @incident-bot resolve\n  /incident resolve\n"
    (cmd,) = parse_commands(text, bot_username="incident-bot")
    assert cmd.verb == "update" and cmd.fields["summary"] == "rolling back\n@incident-bot resolve\n/incident resolve"
    chained = parse_commands("/incident update\nsummary: x\n@incident-bot resolve\n", bot_username="incident-bot")
    assert [c.verb for c in chained] == ["update", "resolve"]  # at the margin it is the next command


# -- pinned by mutation testing (docs/testing.md): each of these killed surviving mutants -----------------
import pytest  # noqa: E402

from bot.commands import MAX_FIELD_DEPTH, MAX_FIELDS_CHARS  # noqa: E402

NOT_KV = "the fields must be `key: value` lines"


@pytest.mark.parametrize("fields, error", [
    ("a: &x 1\nb: *x", "the fields use a YAML anchor or alias (`&name`, `*name`), which I do not read; "
                       "write each value out"),
    ("a: [b", "the fields are not valid YAML (line 1 of the fields); write them as `key: value` lines"),
    ("a: 1\n b: 2\nc", "the fields are not valid YAML (line 2 of the fields); write them as `key: value` lines"),
    ("just text", NOT_KV),
    ("- a\n- b", NOT_KV),
    ("a: " + "[" * MAX_FIELD_DEPTH + "]" * MAX_FIELD_DEPTH,
     f"the fields nest more than {MAX_FIELD_DEPTH} levels deep; write them as `key: value` lines "
     "or `key:` with `- item` lines"),
])
def test_field_errors_say_exactly_what_is_wrong(fields, error):
    (cmd,) = parse_commands("/incident update\n" + fields)
    assert (cmd.fields, cmd.error) == ({}, error)


def test_nesting_is_counted_per_branch_up_to_the_limit():
    inner = "[" * (MAX_FIELD_DEPTH - 2) + "]" * (MAX_FIELD_DEPTH - 2)  # with the mapping and `a`: the limit
    siblings = "\n".join(f"k{n}:\n  - {inner}" for n in range(MAX_FIELD_DEPTH + 2))
    (cmd,) = parse_commands("/incident update\n" + siblings)
    assert cmd.error is None and len(cmd.fields) == MAX_FIELD_DEPTH + 2  # depth is given back after each
    deeper = "k:\n  - " + "[" * (MAX_FIELD_DEPTH - 1) + "]" * (MAX_FIELD_DEPTH - 1)
    assert "levels deep" in parse_commands("/incident update\n" + deeper)[0].error


def test_fields_at_the_size_limit_are_read_and_one_more_is_refused():
    at_limit = "summary: " + "x" * (MAX_FIELDS_CHARS - len("summary: "))
    (cmd,) = parse_commands("/incident update\n" + at_limit + "\n")
    assert cmd.error is None and len(cmd.fields["summary"]) == MAX_FIELDS_CHARS - 9
    (over,) = parse_commands("/incident update\n" + at_limit + "x\n")
    assert over.error == (f"the fields are too long ({MAX_FIELDS_CHARS + 1:,} characters; at most "
                          f"{MAX_FIELDS_CHARS:,}); put long text in a comment of its own")


def test_prefix_is_case_insensitive_whole_word_and_may_follow_a_zero_width_space():
    assert [c.verb for c in parse_commands("/INCIDENT Status")] == ["status"]
    assert parse_commands("/incidents status") == [] and parse_commands("@incident-botx status", "/incident",
                                                                        "incident-bot") == []
    assert [c.verb for c in parse_commands("\u200b/incident status")] == ["status"]
    assert has_command("\u200b/incident status", "/incident")
    assert has_command("@Incident-Bot status", "/incident", "incident-bot")
    assert not has_command("@incident-bot status", "/incident")  # no user name: only the prefix


def test_with_fields_leaves_a_command_without_fields_and_clears_the_lines_it_read():
    (bare,) = parse_commands("/incident status", fields=False)
    assert with_fields(bare) is bare
    (cmd,) = parse_commands("/incident update\nsummary: x", fields=False)
    read = with_fields(cmd)
    assert read.fields == {"summary": "x"} and read.field_lines == ()


def test_commands_past_the_cap_are_named_clipped_and_counted():
    long_line = "/incident update `" + "y" * 100
    text = "\n".join(["/incident status"] * 2 + [long_line, "/incident help", "/incident help"])
    cmds = parse_commands(text, max_commands=2)
    assert [c.verb for c in cmds] == ["status", "status", "update"] and cmds[-1].over_cap
    clipped = ("/incident update '" + "y" * 100)[:79] + "…"
    assert cmds[-1].error == (f"a comment runs at most 2 commands; `{clipped}` and the 2 after it did not "
                              "run. Post them in a new comment")
    (one,) = parse_commands("/incident a\n/incident b", max_commands=1)[1:]
    assert one.error == ("a comment runs at most 1 commands; `/incident b` did not run. Post them in a new "
                         "comment")
    exact = "/incident " + "z" * 70  # 80 characters: not clipped
    assert f"`{exact}`" in parse_commands("/incident a\n" + exact, max_commands=1)[1].error



def nest(levels: int, indent: int) -> str:
    """A block mapping `levels` deep, at `indent` (two spaces each)."""
    pad = "  " * indent
    return f"{pad}x: v" if levels == 1 else f"{pad}x:\n" + nest(levels - 1, indent + 1)


def test_depth_is_given_back_after_a_sibling_collection():
    # root (1) -> a (2) -> c -> MAX_FIELD_DEPTH - 1 more: one level too deep, after a sibling list `b`
    too_deep = "a:\n  b: [x]\n  c:\n" + nest(MAX_FIELD_DEPTH - 1, 2)
    assert "levels deep" in (parse_commands("/incident update\n" + too_deep)[0].error or "")
    at_limit = "a:\n  b: [x]\n  c:\n" + nest(MAX_FIELD_DEPTH - 2, 2)
    assert parse_commands("/incident update\n" + at_limit)[0].error is None


def test_uniformly_indented_fields_are_read():
    (cmd,) = parse_commands("/incident update\n  summary: x\n  tickets: 3\n")
    assert (cmd.fields, cmd.error) == ({"summary": "x", "tickets": "3"}, None)


def test_a_line_indented_by_one_space_stays_in_the_fields():
    (cmd,) = parse_commands("/incident update\nsummary: x\n /incident resolve\n")
    assert cmd.fields == {"summary": "x /incident resolve"}


def test_only_zero_width_spaces_are_skipped_before_the_prefix():
    assert parse_commands("X/incident status") == [] and not has_command("X/incident status", "/incident")


def test_a_command_keeps_its_line_and_the_cap_names_the_first_it_dropped():
    (cmd,) = parse_commands("  /incident update sev1  \n")
    assert cmd.line == "/incident update sev1" and cmd.args == ("sev1",)
    cmds = parse_commands("/incident a\n/incident\n/incident c", max_commands=1)
    over = cmds[-1]
    assert (over.verb, over.args, over.line, over.over_cap) == ("help", (), "/incident", True)
    assert "`/incident` and the 1 after it did not run" in over.error
