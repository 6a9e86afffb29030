"""Issue 15, item 4: one source of truth. Reopening, status labels set by hand, taking the incident label
off, ticking a postmortem's action item: played through the sandbox as people would."""

from __future__ import annotations

from test_postmortem_flow import followups, item_lines, resolved_incident, set_actions


def labels_of(world, iid) -> set[str]:
    return set(world.issue(iid)["labels"])


def relabel(world, iid, who="alice", add=(), remove=()):
    labels = [label for label in world.issue(iid)["labels"] if label not in remove]
    world.edit_issue(iid, who=who, labels=",".join(labels + list(add)))


# -- reopen ---------------------------------------------------------------------------------------------
def test_reopening_a_resolved_incident_makes_it_active_with_its_history(world):
    iid, pm_iid = resolved_incident(world)
    world.edit_issue(iid, who="bob", state_event="reopen")
    state = world.state(iid)
    assert state.status == "active" and state.resolved_at is None and state.next_update_due is not None
    assert state.update_count == 1 and state.postmortem_iid == pm_iid and state.holder("cmoc") == "alice"
    assert {"incident::active", "incident"} <= labels_of(world, iid)
    assert "incident::resolved" not in labels_of(world, iid)
    reply = world.reply(iid, "reopened")
    assert "is active again" in reply and "@bob" in reply and f"#{pm_iid}" in reply
    assert "| Status | In Progress |" in world.issue(iid)["description"]
    # Resolved again: the same postmortem, no second one.
    world.comment(iid, "/incident resolve\nsummary: fixed for good\n")
    assert world.state(iid).status == "resolved" and world.issue(iid)["state"] == "closed"
    assert world.state(iid).postmortem_iid == pm_iid
    assert len([i for i in world.sb.issues(world.pid) if "postmortem" in i["labels"]]) == 1


def test_the_reopen_command_reopens_the_issue(world):
    iid, _ = resolved_incident(world)
    world.comment(iid, "/incident reopen")
    assert world.issue(iid)["state"] == "opened"
    assert world.state(iid).status == "active" and "incident::active" in labels_of(world, iid)
    assert "is active again" in world.reply(iid, "reopened")
    world.comment(iid, "/incident reopen")
    assert "only a resolved incident can be reopened" in world.last_reply(iid)


def test_a_reporter_cannot_reopen_by_command(world):
    iid, _ = resolved_incident(world)
    world.comment(iid, "/incident reopen", who="rita")
    assert world.issue(iid)["state"] == "closed" and world.state(iid).status == "resolved"


# -- status labels set by hand --------------------------------------------------------------------------
def test_a_developers_mitigated_label_mitigates(world):
    iid = world.declare()
    relabel(world, iid, add=["incident::mitigated"], remove=["incident::active"])
    state = world.state(iid)
    assert state.status == "mitigated" and state.mitigated_at is not None
    assert "is mitigated" in world.reply(iid, "mitigated")
    assert "incident::active" not in labels_of(world, iid)


def test_a_developers_resolved_label_resolves_closes_and_opens_the_postmortem(world):
    iid = world.declare()
    relabel(world, iid, who="bob", add=["incident::resolved"])
    state = world.state(iid)
    assert state.status == "resolved" and state.postmortem_iid
    assert world.issue(iid)["state"] == "closed"
    assert labels_of(world, iid) & {"incident::active", "incident::resolved"} == {"incident::resolved"}


def test_a_status_label_the_incident_cannot_take_is_put_back_with_a_reason(world):
    iid, _ = resolved_incident(world)
    relabel(world, iid, add=["incident::mitigated"])
    assert world.state(iid).status == "resolved"
    assert "incident::mitigated" not in labels_of(world, iid)
    assert "only an active incident can be mitigated" in world.last_reply(iid)


# -- the incident label taken off -----------------------------------------------------------------------
def test_removing_the_incident_label_says_it_is_no_longer_tracked_and_how_to_undo(world):
    iid = world.declare()
    relabel(world, iid, who="bob", remove=["incident"])
    reply = world.reply(iid, "untracked")
    assert "no longer tracked" in reply and "@bob" in reply and 'add the ~"incident" label back' in reply
    assert "incident" not in labels_of(world, iid)  # the person's call stays
    relabel(world, iid, who="bob", add=["incident"])
    assert "tracked again" in world.reply(iid, "tracked")
    assert world.state(iid).status == "active"


def test_a_reporter_removing_the_incident_label_is_refused_and_undone(world):
    iid = world.declare()
    relabel(world, iid, who="rita", remove=["incident"])
    assert "incident" in labels_of(world, iid)
    assert "needs at least Developer" in world.reply(iid, "refusal")


# -- action items ticked in the postmortem ----------------------------------------------------------------
def tick(world, pm_iid, text, done=True, who="alice"):
    desc = world.issue(pm_iid)["description"]
    old, new = ("- [ ] ", "- [x] ") if done else ("- [x] ", "- [ ] ")
    lines = [(new + line[len(old):]) if line.startswith(old + text) else line for line in desc.split("\n")]
    world.edit_issue(pm_iid, who=who, description="\n".join(lines))


def test_ticking_an_action_item_closes_its_followup_and_unticking_reopens_it(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] One @bob", "- [ ] Two"])
    one, two = followups(world)
    tick(world, pm_iid, "One")
    assert world.issue(one["iid"])["state"] == "closed" and world.issue(two["iid"])["state"] == "opened"
    assert item_lines(world, pm_iid) == [f"- [x] One @bob → #{one['iid']}", f"- [ ] Two → #{two['iid']}"]
    tick(world, pm_iid, "One", done=False)
    assert world.issue(one["iid"])["state"] == "opened"
    assert item_lines(world, pm_iid)[0] == f"- [ ] One @bob → #{one['iid']}"
    assert len(followups(world)) == 2


def test_a_reporter_ticking_an_action_item_closes_nothing(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] One @bob"])
    (one,) = followups(world)
    tick(world, pm_iid, "One", who="rita")
    assert world.issue(one["iid"])["state"] == "opened"
