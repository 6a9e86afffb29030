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


# -- the postmortem filled from everything the incident recorded -----------------------------------------
def test_the_postmortem_is_filled_from_everything_recorded(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident cmoc me\n/incident smoc @bob")
    world.comment(iid, "/incident impact\nsegments: Enterprise and SMB\nregions: EMEA, AMER\n", who="bob")
    world.comment(iid, "/incident tech-handoff\nworkaround: Sign in with a personal access token\n", who="carol")
    world.comment(iid, "/incident resources\nrequest_type: Initial\namer: 4\nemea: 1\ntickets: 30\n", who="bob")
    world.comment(iid, "/incident update\nsummary: narrowing\ntickets: 55\n")
    source = world.state(iid).region
    target = "EMEA" if source != "EMEA" else "APAC"
    world.comment(iid, f"/incident handoff {target.lower()}\nsummary: handing over\n")
    world.comment(iid, "/incident resolve\nsummary: rolled back\ntickets: 70\n")
    pm = world.issue(world.state(iid).postmortem_iid)["description"]
    assert "- Total tickets handled: 70\n" in pm
    assert "highest ticket count reported during the incident: 70" in pm
    assert "- Most affected customer segments: Enterprise and SMB\n" in pm
    assert "- Geographic distribution: EMEA, AMER\n" in pm
    assert "- Common workarounds provided: Sign in with a personal access token\n" in pm
    assert "- Support resources utilized: AMER 4, EMEA 1 engineers (Initial) (roles: CMOC: @alice, SMOC: @bob)" in pm
    timeline = pm.split("- Timeline:\n", 1)[1].split("\n\n", 1)[0]
    assert [line.split(" UTC: ", 1)[1] for line in timeline.splitlines()] == [
        "Detected", "Initial Status Update", "UPDATE #1", f"Handoff {source} -> {target}", "Resolved"]
    # Only what nobody gave is missing.
    missing = [line for line in pm.splitlines() if "_not provided_" in line]
    assert missing == ["- Peak tickets per hour: _not provided_ (highest ticket count reported during the incident: 70)",
                       "- Average response time: _not provided_"]


def test_cmoc_activation_is_requested_by_the_commenter_by_default(world):
    iid = world.declare()
    world.comment(iid, "/incident activate-cmoc\ncriteria:\n  - several customers are affected\n", who="bob")
    assert "**Requested By:** @bob" in world.reply(iid, "activate-cmoc")
    world.comment(iid, "/incident activate-cmoc\nrequested_by: Dana (SMOC)\n", who="bob")
    assert "**Requested By:** Dana (SMOC)" in world.reply(iid, "activate-cmoc")
