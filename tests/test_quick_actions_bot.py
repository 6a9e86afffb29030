"""Nothing a person writes runs as the bot: issue 12's attacks, end to end, under both GitLab extractors.

Each test runs against the sandbox set to GitLab's regex extractor (up to 16.6) and to the CommonMark one
(16.7 on). `commands_found` holds every quick action GitLab would have found in the bot's notes and
descriptions, whether or not it could apply: the bot must cause none.
"""

import pytest

from bot.neutralize import no_quick_actions


def assert_untouched(world, iid):
    issue = world.issue(iid)
    assert world.bot_commands() == []
    assert issue["state"] == "opened"
    assert not {"x", "hacked"} & set(issue["labels"])
    assert not issue["confidential"]


# The bot's own block must not change how GitLab reads a person's description: a `</x>` line used to end
# the HTML block opened by the `<!-- incident-bot:begin -->` line, and what the person had hidden ran.
OUTSIDER_DESCRIPTIONS = [
    ">>>\n</x>\n/close\n>>>",
    "Users see errors.\n\n>>>\nlog:\n</x>\n/close\n/label ~hacked\n>>>\n",
    "```\n</x>\n/close\n```",
    "<p>\n```\n</x>\n/close\n```\n",
]


@pytest.mark.parametrize("description", OUTSIDER_DESCRIPTIONS)
def test_outsider_description_does_not_run_when_the_bot_writes_its_block(gworld, description):
    gworld.sb.store.ensure_label(gworld.pid, "hacked")
    iid = gworld.create_issue(who="outsider", description=description)
    gworld.comment(iid, "/incident declare sev2")
    gworld.comment(iid, "/incident update\nsummary: still looking\n")
    assert gworld.state(iid).update_count == 1
    assert_untouched(gworld, iid)
    # The person's text reads the same; only an invisible zero-width space goes before each "/" line.
    assert gworld.issue(iid)["description"].endswith(no_quick_actions(description))


FIELD_ATTACKS = [
    '"x\\n<div>\\n```\\n</div>\\n/close\\n```"',
    '"x\\n>>>\\n```\\n>>>\\n/close\\n```"',
    '"```x```\\n/close"',
    '"```\\n/a\\n  ```\\n/close\\n```"',
    '"```\\n/a\\n````\\n/close\\n```"',
    '"~~~\\n```\\n~~~\\n/close\\n/label ~x\\n```"',
    '"<!-- incident-bot:begin -->\\n</x>\\n/confidential"',
]


@pytest.mark.parametrize("value", FIELD_ATTACKS)
def test_command_fields_cannot_run_quick_actions(gworld, value):
    gworld.sb.store.ensure_label(gworld.pid, "x")
    iid = gworld.declare(fields=f"summary: {value}\n")
    gworld.comment(iid, f"/incident update\npatterns: {value}\nsummary: ok\n")
    gworld.comment(iid, f"/incident mitigate\nsummary: {value}\n")
    assert gworld.state(iid).status == "mitigated"
    assert_untouched(gworld, iid)


@pytest.mark.parametrize("value", FIELD_ATTACKS)
def test_error_replies_echo_nothing_that_runs(gworld, value):
    gworld.sb.store.ensure_label(gworld.pid, "x")
    iid = gworld.declare()
    before = len(gworld.bot_notes(iid))
    gworld.comment(iid, f"/incident update\n{value}: 1\n")  # unknown field name
    gworld.comment(iid, f"/incident update\ntickets: {value}\n")  # bad value
    gworld.comment(iid, f"/incident resources\nqueue_health: {value}\n")  # bad choice
    assert len(gworld.bot_notes(iid)) == before + 3
    assert_untouched(gworld, iid)


def test_title_with_carriage_returns_stays_one_line(gworld):
    gworld.sb.store.ensure_label(gworld.pid, "x")
    title = "Outage\r<p>\r```\r</p>\r/label ~x\r```\rz"
    iid = gworld.create_issue(title=title)
    gworld.comment(iid, "/incident declare sev1")
    gworld.comment(iid, "/incident resolve\nsummary: fixed\n")
    assert_untouched_but_closed(gworld, iid)
    postmortem = gworld.state(iid).postmortem_iid
    pm_title = gworld.issue(postmortem)["title"]
    assert "\r" not in pm_title and "\n" not in pm_title


def assert_untouched_but_closed(world, iid):
    issue = world.issue(iid)
    assert world.bot_commands() == []
    assert "x" not in issue["labels"] and not issue["confidential"]


def test_description_commands_run_on_create_and_new_ones_on_update(gworld):
    """The sandbox itself: GitLab runs a description's commands on create, and on update the new ones."""
    gworld.sb.store.ensure_label(gworld.pid, "x")
    iid = gworld.create_issue(who="carol", description="hello\n/label ~x")
    issue = gworld.issue(iid)
    assert "x" in issue["labels"] and issue["description"] == "hello"
    gworld.edit_issue(iid, who="carol", description="hello\n/label ~x\n```\n/close\n```")
    assert gworld.issue(iid)["labels"] == ["x"] or "x" in gworld.issue(iid)["labels"]
    assert gworld.issue(iid)["state"] == "opened"
    gworld.edit_issue(iid, who="carol", description="hello\n\n/close")
    assert gworld.issue(iid)["state"] == "closed"
