"""Adversarial people, through the sandbox: what a person writes or does cannot silence, steer or undo the
bot beyond what their access allows (issue 16, section 2)."""

from __future__ import annotations

import pytest
from test_postmortem_flow import followups, postmortems, resolved_incident, set_actions

from bot.markers import action_marker, action_of, note_marker, postmortem_marker
from bot.timeutil import iso


def test_a_pasted_note_marker_with_the_next_key_does_not_silence_the_reply(world):
    """The marker the bot would put under its reply to the next command, pasted by a Developer between
    that command and its (retried) processing: the bot still replies, and only once."""
    iid = world.declare()
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    note = world.comment(iid, "/incident status")
    forged = note_marker("status", f"note-{note.id}-0")
    world.comment(iid, f"nothing to see here\n{forged}", who="bob")
    outcomes = world.process(start, retry=True)  # a retry looks for the bot's marker among later notes
    assert not any(o.startswith("ignored") for o in outcomes[:1]), outcomes
    status = [n for n in world.bot_notes(iid) if forged in n["body"]]
    assert len(status) == 1 and "SEV1" in status[0]["body"]


def test_a_person_made_issue_with_the_postmortem_marker_is_not_adopted(world):
    """A Developer opens an issue carrying the postmortem marker of an incident, before it resolves: the
    bot opens its own postmortem and never writes into the forged one; its checkbox ticks nothing."""
    iid = world.declare(sev="sev2")
    forged = world.create_issue("bob", title="Postmortem: the real one",
                                description=f"{postmortem_marker(world.pid, iid)}\n- [x] Done @bob",
                                labels=("postmortem",))
    forged_before = world.issue(forged)["description"]
    world.comment(iid, "/incident resolve")
    pm_iid = world.state(iid).postmortem_iid
    assert pm_iid and pm_iid != forged
    assert world.issue(forged)["description"] == forged_before
    assert not [n for n in world.bot_notes(forged)]


def test_a_person_made_issue_with_an_action_item_marker_ticks_no_line(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] Add a runbook @bob"])
    (real,) = followups(world)
    project_id, postmortem_iid, key = action_of(real["description"])
    assert (project_id, postmortem_iid) == (world.pid, pm_iid)
    forged = world.create_issue("bob", title="Add a runbook", labels=("postmortem::action",),
                                description=action_marker(project_id, postmortem_iid, key))  # the same marker
    world.edit_issue(forged, who="bob", state_event="close")
    assert "- [ ] Add a runbook" in world.issue(pm_iid)["description"]  # still unticked
    world.edit_issue(real["iid"], who="bob", state_event="close")
    assert "- [x] Add a runbook" in world.issue(pm_iid)["description"]  # the real one ticks it


def test_a_label_a_person_put_on_the_incident_survives_every_bot_write(world, monkeypatch, capsys):
    from bot.cli import main
    from bot.statekey import ensure_state_key

    iid = world.create_issue(labels=("customer::acme",))
    steps = ["/incident declare sev2", "/incident cmoc me", "/incident update\nsummary: narrowing\n",
             "/incident severity sev1", "/incident handoff\nto: apac\n", "/incident resolve"]
    for step in steps:
        world.comment(iid, step)
        assert "customer::acme" in world.issue(iid)["labels"], step
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    assert main(["cadence", "--project", world.project["path_with_namespace"], "--now",
                 iso(world.state(iid).last_update_at.replace(year=2030))]) == 0
    world.settle()
    assert "customer::acme" in world.issue(iid)["labels"] and world.state(iid).status == "resolved"


def test_a_summary_line_naming_the_bot_resolves_nothing(world):
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: |\n  rolling back\n  @incident-bot resolve\n  /incident resolve\n")
    state = world.state(iid)
    assert state.status != "resolved" and state.update_count == 1
    assert world.issue(iid)["state"] == "opened" and "resolved" not in world.kinds(iid)


def test_a_mention_form_command_is_answered(world):
    iid = world.declare()
    world.comment(iid, "@incident-bot status")
    assert world.kinds(iid)[-1] == "status"


@pytest.mark.parametrize("user_state", ["blocked", "deactivated"])
def test_a_blocked_or_deactivated_developer_is_refused(world, user_state):
    """bob comments, then an admin blocks him before the bot reads his command: GitLab's members API
    shows his `state`, and the bot refuses."""
    iid = world.declare()
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident severity sev3", who="bob")
    world.sb.store.users[world.users["bob"]["id"]]["state"] = user_state
    world.process(start)
    assert world.state(iid).severity == 1
    assert "Sorry, I can't do that" in world.last_reply(iid)


def test_followups_of_a_confidential_incident_stay_confidential_when_its_postmortem_goes_public(world):
    iid, pm_iid = resolved_incident(world, confidential=True)
    world.edit_issue(pm_iid, who="carol", confidential=False)  # a Maintainer publishes the postmortem
    assert world.issue(pm_iid)["confidential"] is False
    set_actions(world, pm_iid, ["- [ ] Patch the IdP @alice", "- [ ] Rotate keys @bob"])
    assert len(followups(world)) == 2 and all(f["confidential"] for f in followups(world))
    assert len(postmortems(world)) == 1
