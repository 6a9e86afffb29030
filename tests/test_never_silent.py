"""Issue 15, item 1: no command is dropped in silence (through the sandbox, as people write them)."""

from __future__ import annotations

from bot.events import parse_delivery


def _note(world, iid: int, body: str, who: str = "alice"):
    """A comment GitLab stores and announces at once, without waiting for the bot."""
    return world.gl(who).projects.get(world.pid, lazy=True).issues.get(iid, lazy=True).notes.create({"body": body})


def test_a_command_a_second_after_declare_runs(world):
    """The second note's webhook carries the labels from before the bot added `incident`: the bot
    decides from the issue as GitLab holds it when it processes the delivery (in order, per issue)."""
    iid = world.create_issue()
    world.deliver_by_hand()  # both notes exist before the bot processes the first
    start = len(world.sb.deliveries)
    _note(world, iid, "/incident declare sev1")
    _note(world, iid, "/incident cmoc me", who="bob")
    world.sb.wait_idle(20)
    second = [d for d in world.sb.deliveries[start:] if "cmoc me" in d["body"].decode()]
    assert "incident" not in parse_delivery(second[0]["headers"], second[0]["body"]).issue.labels
    outcomes = world.process(start)
    assert outcomes[:2] == ["handled: declare", "handled: cmoc"]
    assert world.state(iid).holder("cmoc") == "bob"


def test_a_command_on_a_plain_issue_gets_one_reply_saying_what_works(world):
    iid = world.create_issue()
    world.comment(iid, "/incident cmoc me\n/incident status")
    notes = world.bot_notes(iid)
    assert len(notes) == 1
    assert "not an incident" in notes[0]["body"] and "`declare sev1|sev2|sev3`" in notes[0]["body"]
    assert world.state(iid) is None


def test_an_incident_command_on_a_postmortem_says_what_runs_there(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident resolve\nsummary: fixed")
    pm = world.state(iid).postmortem_iid
    assert pm
    before = len(world.bot_notes(pm))
    world.comment(pm, "/incident update\nsummary: more")
    notes = world.bot_notes(pm)[before:]
    assert len(notes) == 1
    assert f"write them on the incident itself (#{iid})" in notes[0]["body"] and "`actions`" in notes[0]["body"]


def test_a_typo_gets_the_closest_verb(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident updte\nsummary: still down")
    body = world.last_reply(iid)
    assert "did you mean `update`?" in body and "`resolve`" in body
    assert world.state(iid).update_count == 0
    world.comment(iid, "/incident help handof")
    assert "there is no command 'handof' (did you mean `handoff`?)" in world.last_reply(iid)


def test_an_update_without_any_field_is_refused_with_the_fields(world):
    iid = world.declare(sev="sev2")
    due = world.state(iid).next_update_due
    world.comment(iid, "/incident update")
    body = world.last_reply(iid)
    assert "needs at least one field" in body and "`summary:`" in body and "`next:`" in body
    state = world.state(iid)
    assert (state.update_count, state.next_update_due) == (0, due)
