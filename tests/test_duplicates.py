"""No duplicate postmortem, follow-up or reply after a transient error, against a sandbox whose issue
search is GitLab's (HTML comments are never indexed) and whose faults can apply a call and then lose
its answer (a 502 or a timeout after the issue or note was created)."""

from __future__ import annotations

import pytest
from test_postmortem_flow import followups, item_lines, postmortems, resolved_incident, set_actions
from world import World

CREATE_ISSUE = r"/projects/\d+/issues$"


@pytest.fixture
def fast_world(tmp_path):
    w = World(str(tmp_path), config_yaml="gitlab_timeout_seconds: 1\n")
    yield w
    w.close()


def resolve_with_lost_answer(w, **fault):
    iid = w.create_issue()
    w.comment(iid, "/incident declare sev2\n/incident smoc @bob")
    w.sb.inject_fault("POST", CREATE_ISSUE, user="incident-bot", applied=True, **fault)
    w.comment(iid, "/incident resolve")
    w.settle()
    return iid


def assert_one_postmortem(w, iid):
    (pm,) = postmortems(w)
    assert w.state(iid).postmortem_iid == pm["iid"]
    assert w.kinds(iid).count("postmortem") == 1 and w.kinds(iid).count("resolved") == 1
    assert {x["iid"] for x in w.sb.links(w.pid, pm["iid"])} == {iid}


def test_postmortem_created_but_answered_502_is_opened_once(world):
    iid = resolve_with_lost_answer(world, status=502)
    assert any(c["status"] == 502 for c in world.sb.calls)
    assert_one_postmortem(world, iid)


def test_postmortem_created_but_answered_too_late_is_opened_once(fast_world):
    iid = resolve_with_lost_answer(fast_world, status=None, delay=1.5)
    assert_one_postmortem(fast_world, iid)


def test_followup_created_but_answered_502_is_opened_once(world):
    _, pm_iid = resolved_incident(world)
    world.sb.inject_fault("POST", CREATE_ISSUE, user="incident-bot", status=502, applied=True, skip=1)
    set_actions(world, pm_iid, ["- [ ] One @bob", "- [ ] Two", "- [ ] Three"])
    world.settle()
    assert any(c["status"] == 502 for c in world.sb.calls)
    one, two, three = followups(world)
    assert [one["title"], two["title"], three["title"]] == ["One", "Two", "Three"]
    assert item_lines(world, pm_iid) == [f"- [ ] One @bob → #{one['iid']}", f"- [ ] Two → #{two['iid']}",
                                         f"- [ ] Three → #{three['iid']}"]


def test_150_replies_with_a_500_after_130_give_150_replies(tmp_path):
    w = World(str(tmp_path), config_yaml="max_commands_per_note: 200\n")
    try:
        iid = w.declare()
        w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=500, skip=130, user="incident-bot")
        w.comment(iid, "/incident status\n" * 150)
        w.settle()
        assert w.kinds(iid).count("status") == 150
    finally:
        w.close()


def test_120_action_items_with_a_500_after_110_give_120_followups(tmp_path):
    w = World(str(tmp_path), config_yaml="max_action_items_per_edit: 200\n")
    try:
        _, pm_iid = resolved_incident(w)
        w.sb.inject_fault("POST", CREATE_ISSUE, status=500, skip=110, user="incident-bot")
        set_actions(w, pm_iid, [f"- [ ] Item {n}" for n in range(120)])
        w.settle()
        fs = followups(w)
        assert len(fs) == 120 and sorted(f["title"] for f in fs) == sorted(f"Item {n}" for n in range(120))
        assert [line.count("→") for line in item_lines(w, pm_iid)] == [1] * 120
    finally:
        w.close()
