from bot.commands import has_command, parse_commands


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
