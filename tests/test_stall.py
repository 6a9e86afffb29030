"""Issue 12, item 5: no comment or edit stalls or floods the bot. Through real webhooks and python-gitlab.

Each test here was a one-comment (or one-edit) reproduction: the delivery raised and was retried while it
held the incident's lane, or one comment fanned out into hundreds of API calls.
"""

from __future__ import annotations

import pytest
from test_postmortem_flow import followups, item_lines, resolved_incident, set_actions
from world import World

from bot.config import ConfigError, load_config

NESTED = "x: " + "[" * 1000 + "]" * 1000
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def dead(world):
    return world.bot.queue.list(dead_only=True)


def test_nested_fields_get_one_error_reply_and_the_lane_moves_on(world):
    iid = world.declare()
    before = world.issue(iid)["description"]
    world.comment(iid, "/incident update\n" + NESTED)
    assert world.kinds(iid)[-1] == "error" and "nest more than 8 levels" in world.last_reply(iid)
    assert world.issue(iid)["description"] == before and dead(world) == []
    world.comment(iid, "/incident update\nsummary: still here\n")  # the incident's lane is not held
    assert world.kinds(iid)[-1] == "update" and world.state(iid).update_count == 1


def test_outsiders_fields_are_not_read_they_get_the_refusal(world):
    iid = world.declare()
    for who in ("outsider", "gus"):
        world.comment(iid, "/incident update\n" + NESTED, who=who)
        assert world.kinds(iid)[-1] == "refusal" and "Developer" in world.last_reply(iid)
    assert dead(world) == []


def test_yaml_aliases_get_an_error_reply_not_a_huge_note(world):
    iid = world.declare()
    world.comment(iid, "/incident update\n" + LAUGHS)
    reply = world.last_reply(iid)
    assert world.kinds(iid)[-1] == "error" and "anchor or alias" in reply and len(reply) < 2000
    assert world.state(iid).update_count == 0 and dead(world) == []


def test_a_comment_runs_at_most_ten_commands_and_says_so(world):
    iid = world.declare()
    count = len(world.bot_notes(iid))
    world.comment(iid, "\n".join(["/incident status"] * 10 + ["/incident update", "summary: late"] +
                                 ["/incident status"] * 4))
    kinds = world.kinds(iid)[count:]
    assert kinds == ["status"] * 10 + ["error"]
    assert "at most 10 commands; `/incident update` and the 4 after it did not run" in world.last_reply(iid)
    assert world.state(iid).update_count == 0  # the update past the cap did not run


def test_command_cap_is_configurable(tmp_path):
    w = World(str(tmp_path), config_yaml="max_commands_per_note: 2\n")
    try:
        iid = w.declare()
        count = len(w.bot_notes(iid))
        w.comment(iid, "/incident status\n/incident status\n/incident status")
        assert w.kinds(iid)[count:] == ["status", "status", "error"]
        assert "at most 2 commands; `/incident status` did not run" in w.last_reply(iid)
    finally:
        w.close()


@pytest.mark.parametrize("setting", ["max_commands_per_note: 0", "max_action_items_per_edit: -1",
                                     "max_commands_per_note: ten", "max_action_items_per_edit: true"])
def test_caps_must_be_positive_whole_numbers(tmp_path, setting):
    path = tmp_path / "c.yml"
    path.write_text(setting + "\n")
    with pytest.raises(ConfigError, match=setting.split(":")[0] + ": expected a whole number of 1 or more"):
        load_config(str(path), env={})


def test_action_items_past_the_cap_wait_for_the_next_edit_or_actions(tmp_path):
    w = World(str(tmp_path), config_yaml="max_action_items_per_edit: 3\n")
    try:
        iid, pm_iid = resolved_incident(w)
        set_actions(w, pm_iid, [f"- [ ] Item {n} @bob" for n in range(1, 8)])
        assert [f["title"] for f in followups(w)] == ["Item 1", "Item 2", "Item 3"]
        assert [line.count("→") for line in item_lines(w, pm_iid)] == [1, 1, 1, 0, 0, 0, 0]
        (note,) = w.bot_notes(pm_iid)
        assert "7 new action items" in note["body"] and "first 3" in note["body"]
        assert "4 are waiting" in note["body"] and "/incident actions" in note["body"]
        w.comment(pm_iid, "/incident actions")
        assert [f["title"] for f in followups(w)] == [f"Item {n}" for n in range(1, 7)]
        reply = w.last_reply(pm_iid)
        assert "Opened 3 follow-up issues" in reply and "1 more action item is waiting" in reply
        desc = w.issue(pm_iid)["description"]
        w.edit_issue(pm_iid, description=desc + "\nNotes from the review.\n")  # any edit picks up the rest
        assert [f["title"] for f in followups(w)] == [f"Item {n}" for n in range(1, 8)]
        assert all("→" in line for line in item_lines(w, pm_iid))
        assert len(w.bot_notes(pm_iid)) == 2  # the cap note once, the actions reply; nothing for the last edit
    finally:
        w.close()


def test_action_item_cap_defaults_to_25(world):
    _, pm_iid = resolved_incident(world)
    world.sb.reset_calls()
    set_actions(world, pm_iid, [f"- [ ] Item {n}" for n in range(1, 41)])
    assert len(followups(world)) == 25
    assert "40 new action items" in world.bot_notes(pm_iid)[-1]["body"]
    calls = world.sb.count_calls(user="incident-bot")
    assert calls["writes"] <= 25 * 3 + 3  # create and two links per item, the note, the line update


def test_bodies_gitlab_never_sends_are_400_at_the_door_and_nothing_is_stored(world):
    import json

    import requests
    from conftest import FIXTURES
    from world import SECRET

    iid = world.declare()
    note = json.loads((FIXTURES / "note_hook_issue.json").read_text())
    note["object_attributes"]["note"] = "/incident status"
    note["project_id"] = note["object_attributes"]["project_id"] = world.pid
    note["issue"]["iid"] = iid
    text = json.dumps(note)
    deep = text.replace('"note":', '"x": ' + "[" * 100_000 + "]" * 100_000 + ', "note":', 1)
    before = world.bot.queue.list()
    for body in (text.encode("utf-16"), text.encode("utf-32-be"), text.encode("utf-8-sig"), deep.encode()):
        resp = requests.post(world.bot.webhook_url, data=body, timeout=10,
                             headers={"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": SECRET,
                                      "Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["error"]
    world.settle()
    assert world.bot.queue.list() == before and dead(world) == []
