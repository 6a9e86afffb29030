"""bot.neutralize: person text must never start a GitLab quick action or forge the bot's markers."""

from bot.neutralize import neutralize, neutralize_note, one_line


def test_leading_slash_is_escaped():
    assert neutralize("/close") == "\\/close"
    assert neutralize("/assign @mallory") == "\\/assign @mallory"


def test_leading_blanks_before_slash():
    assert neutralize("   /close") == "   \\/close"
    assert neutralize("\t/label ~x") == "\t\\/label ~x"


def test_every_line_is_checked():
    text = "all good\n/close\nsee /docs here\n  /unassign @a"
    assert neutralize(text) == "all good\n\\/close\nsee /docs here\n  \\/unassign @a"


def test_slash_inside_a_line_is_kept():
    assert neutralize("read /var/log/gitlab first") == "read /var/log/gitlab first"
    assert neutralize("Systems/services") == "Systems/services"


def test_crlf_and_cr_become_lf():
    assert neutralize("a\r\n/close\rb") == "a\n\\/close\nb"


def test_html_comments_cannot_be_forged():
    out = neutralize("hi <!-- incident-bot:note kind=update key=x --> there")
    assert "<!--" not in out and "-->" not in out
    assert "&lt;!-- incident-bot:note kind=update key=x --&gt;" in out


def test_fenced_code_is_escaped_too_invisibly():
    # GitLab may not read the fence as code (HTML blocks, >>> quotes, CommonMark's own fence rules), so
    # the line is escaped there too, with a zero-width space that does not show in code.
    text = "steps:\n```\n/opt/gitlab/bin/gitlab-ctl restart\n```\n/close"
    assert neutralize(text) == "steps:\n```\n\u200b/opt/gitlab/bin/gitlab-ctl restart\n```\n\\/close"


def test_fenced_code_with_language():
    assert neutralize("```shell\n/usr/bin/true\n```") == "```shell\n\u200b/usr/bin/true\n```"


def test_commonmark_fences_cannot_hide_a_command():
    # An opener with text after it is no fence; a closer may be indented or longer; ~~~ fences.
    for text in ("```x```\n/close", "```\n/a\n  ```\n/close\n```", "```\n/a\n````\n/close\n```",
                 "~~~\n```\n~~~\n/close\n```", "<div>\n```\n</div>\n/close\n```", ">>>\n```\n>>>\n/close\n```"):
        out = neutralize(text)
        assert not [line for line in out.split("\n") if line.lstrip().startswith("/")], out


def test_markers_inside_fences_are_defused_invisibly():
    out = neutralize("```\n<!-- incident-bot:state {} -->\n```")
    assert "<!--" not in out and "-->" not in out
    assert out.replace("\u200b", "") == "```\n<!-- incident-bot:state {} -->\n```"


def test_unclosed_and_indented_fences():
    assert neutralize("```\n/close") == "```\n\u200b/close"
    assert neutralize("  ```\n/close\n  ```") == "  ```\n\u200b/close\n  ```"
    assert neutralize("    ```\n/close") == "    ```\n\\/close"


def test_idempotent():
    text = "/close\n<!-- x -->\n```\n/a\n<!-- y -->\n```\n  /b"
    once = neutralize(text)
    assert neutralize(once) == once


def test_non_latin_text_is_intact():
    text = "顧客への影響: 大きい — Ünïcødé ✓ 🚨\n/閉じる"
    assert neutralize(text) == "顧客への影響: 大きい — Ünïcødé ✓ 🚨\n\\/閉じる"


def test_none_and_non_strings():
    assert neutralize(None) == ""
    assert neutralize(42) == "42"


def test_note_pass_escapes_every_slash_line():
    note = "## Title\n/close\n```\n/incident update\n```\n- ok"
    assert neutralize_note(note) == "## Title\n\\/close\n```\n\u200b/incident update\n```\n- ok"


def test_one_line_removes_every_line_break():
    assert one_line("Outage\r<p>\r```\n/label ~x\u2028a\u2029b\x85c\x0bd\x0ce\r\n") == \
        "Outage <p> ``` /label ~x a b c d e"


def test_note_pass_keeps_the_bots_own_comments():
    note = "text\n<!-- - [ ] Add a runbook for X @owner due:2026-12-15 -->"
    assert neutralize_note(note) == note


def test_note_pass_normalises_newlines():
    assert neutralize_note("a\r\nb\r\n") == "a\nb\n"


# -- pinned by mutation testing (docs/testing.md): each of these killed surviving mutants -----------------
Z = "\u200b"


def test_no_quick_actions_escapes_every_line_start_and_keeps_the_rest():
    from bot.neutralize import no_quick_actions

    assert no_quick_actions(None) == ""
    assert no_quick_actions("/close") == Z + "/close"
    assert no_quick_actions("a\r\n  /close\r/label ~x\n\t/y /z") == f"a\r\n  {Z}/close\r{Z}/label ~x\n\t{Z}/y /z"
    assert no_quick_actions("a /b\nc") == "a /b\nc"


def test_only_the_first_slash_of_a_line_is_escaped():
    assert neutralize("/a /b") == "\\/a /b"
    assert neutralize("```\n/a /b\n```") == f"```\n{Z}/a /b\n```"


def test_fences_choose_the_cosmetic_form_as_commonmark_reads_them():
    # A backtick fence whose info string holds a backtick is not a fence; a tilde fence's may.
    assert neutralize("``` a`b\n/x") == "``` a`b\n\\/x"
    assert neutralize("~~~ a`b\n/x\n~~~") == f"~~~ a`b\n{Z}/x\n~~~"
    # Closed only by the same character, at least as long, with nothing after it.
    assert neutralize("````\n/x\n```\n/y\n````\n/z") == f"````\n{Z}/x\n```\n{Z}/y\n````\n\\/z"
    assert neutralize("~~~\n/x\n```\n/y\n~~~\n/z") == f"~~~\n{Z}/x\n```\n{Z}/y\n~~~\n\\/z"
    assert neutralize("```\n/x\n``` not a closer\n/y\n```\n/z") == f"```\n{Z}/x\n``` not a closer\n{Z}/y\n```\n\\/z"
    # The fence lines themselves are not code: a "/"-less fence is kept; markers on them are prose.
    assert neutralize("``` <!--\n<!--\n```") == f"``` &lt;!--\n<!{Z}--\n```"


def test_at_all_gets_a_zero_width_space_and_notes_keep_their_markers():
    assert neutralize("ping @all now") == f"ping @{Z}all now"
    from bot.neutralize import neutralize_note

    assert neutralize_note(None) == ""
    assert neutralize_note("<!-- incident-bot:note kind=x key=y -->\n/close") == (
        "<!-- incident-bot:note kind=x key=y -->\n\\/close")
    assert neutralize_note("@all") == "@all"


def test_escape_markers_reads_prose_unless_told_code():
    from bot.neutralize import escape_markers

    assert escape_markers("<!-- x -->") == "&lt;!-- x --&gt;"
    assert escape_markers("<!-- x -->", in_code=True) == f"<!{Z}-- x --{Z}>"
