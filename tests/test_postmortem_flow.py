"""Postmortems through real webhooks and the real python-gitlab, against the sandbox."""

from __future__ import annotations

import re

PM = "postmortem"
ACTION = "postmortem::action"


def postmortems(world):
    return [i for i in world.sb.issues(world.pid) if PM in i["labels"]]


def followups(world):
    return sorted((i for i in world.sb.issues(world.pid) if ACTION in i["labels"]), key=lambda i: i["iid"])


def linked(world, iid):
    return {x["iid"] for x in world.sb.links(world.pid, iid)}


def resolved_incident(world, *, confidential=False, via="command", roles="/incident cmoc me\n/incident smoc @bob"):
    iid = world.create_issue(confidential=confidential)
    world.comment(iid, "/incident declare sev2")
    if roles:
        world.comment(iid, roles)
    world.comment(iid, "/incident update\nsummary: narrowing\ntickets: 12\n")
    if via == "command":
        world.comment(iid, "/incident resolve\nsummary: rolled back\ntickets: 40\n")
    else:
        world.edit_issue(iid, state_event="close")
    state = world.state(iid)
    assert state.status == "resolved" and state.postmortem_iid
    return iid, state.postmortem_iid


def set_actions(world, pm_iid, lines, who="alice", section="### Follow-up Actions"):
    desc = world.issue(pm_iid)["description"]
    head, rest = desc.split(section + "\n", 1)
    # Replace the placeholder line with the checklist.
    rest = re.sub(r"^_to be filled in: add each action.*\n", "", rest, count=1, flags=re.M)
    world.edit_issue(pm_iid, who=who, description=head + section + "\n" + "\n".join(lines) + "\n" + rest)


def item_lines(world, pm_iid):
    desc = world.issue(pm_iid)["description"]
    return [line for line in desc.split("\n") if line.startswith("- [")]


# -- the postmortem issue -----------------------------------------------------------------------------
def test_resolve_command_opens_one_linked_prefilled_postmortem(world):
    iid, pm_iid = resolved_incident(world)
    (pm,) = postmortems(world)
    assert pm["iid"] == pm_iid and pm["title"] == f"Postmortem: Incident #{iid} - SSO logins failing"
    assert pm["labels"] == [PM] and not pm["confidential"]
    assert [a["username"] for a in pm["assignees"]] == ["bob"]  # the SMOC
    assert linked(world, pm_iid) == {iid}
    desc = pm["description"]
    assert f"## Incident #{iid} - SSO logins failing - SUPPORT SUMMARY" in desc
    assert "- Status updates posted: 1 (1 on time)" in desc
    assert "highest ticket count reported during the incident: 40" in desc
    assert "(roles: CMOC: @alice, SMOC: @bob)" in desc
    assert "- Time to first status update: 0 hours 0 minutes" in desc
    assert "- Regional handoffs: none" in desc
    assert "- What worked well: _to be filled in_" in desc
    assert f"<!-- incident-bot:postmortem-of project={world.pid} iid={iid} -->" in desc
    # The incident's thread names it, after the resolution, and the block records it.
    assert world.kinds(iid)[-2:] == ["resolved", "postmortem"]
    assert f"#{pm_iid}" in world.last_reply(iid)
    assert f"| Postmortem | #{pm_iid} |" in world.issue(iid)["description"]
    # Resolving again is refused and opens nothing.
    world.comment(iid, "/incident resolve")
    assert "already resolved" in world.last_reply(iid) and len(postmortems(world)) == 1


def test_person_closing_the_incident_opens_the_postmortem_for_the_cmoc(world):
    iid, pm_iid = resolved_incident(world, via="close", roles="/incident cmoc @carol")
    (pm,) = postmortems(world)
    assert [a["username"] for a in pm["assignees"]] == ["carol"]  # no SMOC: the CMOC
    assert linked(world, pm_iid) == {iid}
    assert world.kinds(iid)[-2:] == ["resolved", "postmortem"]


def test_postmortem_without_roles_is_unassigned(world):
    iid, pm_iid = resolved_incident(world, roles=None)
    assert world.issue(pm_iid)["assignees"] == []
    assert "(roles:" not in world.issue(pm_iid)["description"]


def test_confidential_incident_gets_confidential_postmortem_and_followups(world):
    iid, pm_iid = resolved_incident(world, confidential=True)
    assert world.issue(pm_iid)["confidential"] is True
    set_actions(world, pm_iid, ["- [ ] Patch the IdP @alice"])
    (f,) = followups(world)
    assert f["confidential"] is True


def test_repeated_and_duplicated_resolve_deliveries_open_one_postmortem(world):
    iid, pm_iid = resolved_incident(world)
    index = max(i for i, d in enumerate(world.sb.deliveries) if d["event"] == "Note Hook"
                and "/incident resolve" in d["payload"]["object_attributes"]["note"])
    world.sb.redeliver(index)
    world.sb.redeliver(index)
    world.settle()
    assert [world.deliver_again(index)["status"] for _ in range(2)] == [202, 202]  # processed twice more
    assert len(postmortems(world)) == 1 and world.kinds(iid).count("postmortem") == 1


def test_crash_after_creating_the_postmortem_does_not_open_a_second(world):
    iid = world.create_issue()
    world.comment(iid, "/incident declare sev2\n/incident smoc @bob")
    # The link fails once, after the postmortem was created and the resolution written: the retried
    # delivery finds the handled key, resumes the job, and finds the postmortem by its marker.
    world.sb.inject_fault("POST", r"/issues/\d+/links$", status=500, times=1)
    world.comment(iid, "/incident resolve")
    world.settle()
    assert len(postmortems(world)) == 1
    (pm,) = postmortems(world)
    assert world.state(iid).postmortem_iid == pm["iid"] and linked(world, pm["iid"]) == {iid}
    assert world.kinds(iid).count("postmortem") == 1 and world.kinds(iid).count("resolved") == 1


# -- action items ------------------------------------------------------------------------------------------
def test_action_items_become_linked_followups_and_lines_get_their_iid(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, [
        "- [ ] Add a runbook for runners @bob due:2026-12-15",
        "- [ ] Alert on queue depth @carol",
        "- [ ] Review paging policy due:2026-12-20",
        "- [ ] Écrire la procédure — 手順書を書く",
        "- [x] Already done",
    ])
    fs = followups(world)
    assert [f["title"] for f in fs] == ["Add a runbook for runners", "Alert on queue depth", "Review paging policy",
                                        "Écrire la procédure — 手順書を書く"]
    assert [[a["username"] for a in f["assignees"]] for f in fs] == [["bob"], ["carol"], [], []]
    assert [f["due_date"] for f in fs] == ["2026-12-15", None, "2026-12-20", None]
    for f in fs:
        assert f["labels"] == [ACTION] and not f["confidential"]
        assert linked(world, f["iid"]) == {iid, pm_iid}
        assert f"#{pm_iid}" in f["description"] and f"Incident #{iid}" in f["description"]
    assert item_lines(world, pm_iid) == [
        f"- [ ] Add a runbook for runners @bob due:2026-12-15 → #{fs[0]['iid']}",
        f"- [ ] Alert on queue depth @carol → #{fs[1]['iid']}",
        f"- [ ] Review paging policy due:2026-12-20 → #{fs[2]['iid']}",
        f"- [ ] Écrire la procédure — 手順書を書く → #{fs[3]['iid']}",
        "- [x] Already done",
    ]
    assert world.bot_notes(pm_iid) == []  # every owner resolved: nothing to say


def test_bot_edits_only_the_item_lines(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] One @bob", "- [ ] Two"])
    # A person adds an item, with CRLF line endings and non-Latin text elsewhere: only its line changes.
    desc = world.issue(pm_iid)["description"]
    text = desc.replace("- [ ] One", "- [ ] Zwei — 二 @carol\r\n- [ ] One", 1).replace(
        "### Lessons Learned\n", "### Lessons Learned\r\nÇa marche 🙂  \r\n- [ ] Outside the section\r\n")
    world.edit_issue(pm_iid, description=text)
    after = world.issue(pm_iid)["description"]
    (new,) = [f for f in followups(world) if f["title"] == "Zwei — 二"]
    assert after == text.replace("- [ ] Zwei — 二 @carol\r\n", f"- [ ] Zwei — 二 @carol → #{new['iid']}\r\n", 1)
    assert len(followups(world)) == 3


def test_editing_again_and_redelivering_creates_nothing_new(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] One @bob", "- [ ] Two @nobody"])
    count, notes = len(followups(world)), len(world.bot_notes(pm_iid))
    desc = world.issue(pm_iid)["description"]
    world.edit_issue(pm_iid, description=desc.replace("### Lessons Learned\n", "### Lessons Learned\nWe learnt.\n"))
    edits = [i for i, d in enumerate(world.sb.deliveries) if d["event"] == "Issue Hook"
             and d["payload"]["object_attributes"]["iid"] == pm_iid and "description" in d["payload"]["changes"]
             and d["payload"]["user"]["username"] == "alice"]
    for index in edits:
        world.sb.redeliver(index)
        world.sb.redeliver(index)
    world.settle()
    assert edits and all(world.deliver_again(index)["status"] == 202 for index in edits)
    world.comment(pm_iid, "/incident actions")
    assert "already has a follow-up issue" in world.last_reply(pm_iid)
    assert len(followups(world)) == count == 2
    assert len(world.bot_notes(pm_iid)) == notes + 1  # the actions reply only; one owners note in all
    assert [line.count("→") for line in item_lines(world, pm_iid)] == [1, 1]


def test_actions_command_opens_followups(world):
    iid, pm_iid = resolved_incident(world)
    world.comment(pm_iid, "/incident actions")
    assert "No action items yet" in world.last_reply(pm_iid)
    # An item the bot did not see being added (written with the bot's own token: its edits are ignored,
    # as when the bot was down); the command picks it up.
    desc = world.issue(pm_iid)["description"].replace("### Follow-up Actions\n",
                                                      "### Follow-up Actions\n- [ ] Via command @bob\n")
    world.edit_issue(pm_iid, who="incident-bot", description=desc)
    assert followups(world) == []
    world.comment(pm_iid, "/incident actions")
    (f,) = followups(world)
    assert f"Opened 1 follow-up issue: #{f['iid']}." in world.last_reply(pm_iid)
    assert item_lines(world, pm_iid) == [f"- [ ] Via command @bob → #{f['iid']}"]
    world.comment(pm_iid, "/incident actions")
    assert "Every action item already has a follow-up issue." in world.last_reply(pm_iid)
    assert len(followups(world)) == 1


def test_unknown_owners_leave_followups_unassigned_and_get_one_note(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] Ghost owner @nobody-at-all", "- [ ] Outsider owner @outsider",
                                "- [ ] Known owner @bob", "- [ ] Bad date due:2026-02-30"])
    fs = {f["title"]: f for f in followups(world)}
    assert fs["Ghost owner"]["assignees"] == [] and fs["Outsider owner"]["assignees"] == []
    assert [a["username"] for a in fs["Known owner"]["assignees"]] == ["bob"]
    assert fs["Bad date"]["due_date"] is None
    (note,) = world.bot_notes(pm_iid)
    assert "`nobody-at-all`" in note["body"] and "`outsider`" in note["body"] and "bob" not in note["body"]
    assert "`2026-02-30`" in note["body"]
    assert "not a project member" in fs["Outsider owner"]["description"]


def test_close_and_reopen_tick_and_untick(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] One @bob", "- [ ] Two"])
    one, two = followups(world)
    world.edit_issue(one["iid"], who="bob", state_event="close")
    assert item_lines(world, pm_iid) == [f"- [x] One @bob → #{one['iid']}", f"- [ ] Two → #{two['iid']}"]
    world.edit_issue(one["iid"], who="bob", state_event="reopen")
    assert item_lines(world, pm_iid) == [f"- [ ] One @bob → #{one['iid']}", f"- [ ] Two → #{two['iid']}"]
    world.edit_issue(two["iid"], state_event="close")
    assert item_lines(world, pm_iid)[1] == f"- [x] Two → #{two['iid']}"
    assert len(followups(world)) == 2  # ticking is the bot's own edit: it opens nothing


def test_status_on_a_postmortem_lists_open_overdue_done(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] Late one @bob due:2020-01-01", "- [ ] Future one due:2999-01-01",
                                "- [ ] No date"])
    late, future, nodate = followups(world)
    world.edit_issue(nodate["iid"], state_event="close")
    world.comment(pm_iid, "/incident status")
    body = world.last_reply(pm_iid)
    assert f"**Postmortem #{pm_iid} of Incident #{iid}**: 1 open, 1 overdue, 1 done" in body
    overdue, rest = body.split("**Open**")
    assert f"Late one #{late['iid']} @bob due 2020-01-01" in overdue
    assert f"Future one #{future['iid']}" in rest.split("**Done**")[0]
    assert f"No date #{nodate['iid']}" in rest.split("**Done**")[1]
    # status on the incident itself is still the incident's status
    world.comment(iid, "/incident status")
    assert f"- Postmortem: #{pm_iid}" in world.last_reply(iid)


def test_postmortem_commands_do_not_run_elsewhere(world):
    plain = world.create_issue()
    world.comment(plain, "/incident actions")
    world.comment(plain, "/incident status")
    assert world.kinds(plain) == ["error", "error"]  # one reply a note: not an incident, declare first
    assert all("not an incident" in n["body"] for n in world.bot_notes(plain))
    iid = world.declare()
    world.comment(iid, "/incident actions")
    assert "'actions' is not a command" in world.last_reply(iid)


def test_api_calls_per_flow(world, capsys):
    iid = world.create_issue()
    world.comment(iid, "/incident declare sev2\n/incident smoc @bob")
    calls = {}
    world.sb.reset_calls()
    world.comment(iid, "/incident resolve")
    calls["resolve by command (with postmortem)"] = world.sb.count_calls(user="incident-bot")
    pm_iid = world.state(iid).postmortem_iid
    world.sb.reset_calls()
    set_actions(world, pm_iid, ["- [ ] One @bob due:2026-12-15", "- [ ] Two @nobody"])
    calls["edit adding 2 items (1 unknown owner)"] = world.sb.count_calls(user="incident-bot")
    world.sb.reset_calls()
    desc = world.issue(pm_iid)["description"]
    world.edit_issue(pm_iid, description=desc + "\nmore words\n")
    calls["edit with no new item"] = world.sb.count_calls(user="incident-bot")
    one = followups(world)[0]["iid"]
    world.sb.reset_calls()
    world.edit_issue(one, state_event="close")
    calls["follow-up closed (tick)"] = world.sb.count_calls(user="incident-bot")
    world.sb.reset_calls()
    world.comment(pm_iid, "/incident status")
    calls["status on the postmortem"] = world.sb.count_calls(user="incident-bot")
    with capsys.disabled():
        print()
        for name, c in calls.items():
            print(f"  {name}: {c['reads']} reads, {c['writes']} writes")
    assert calls["edit with no new item"]["writes"] == 0
    assert calls["follow-up closed (tick)"]["writes"] == 1


def test_replies_to_an_internal_note_on_a_postmortem_are_internal(world):
    _, pm_iid = resolved_incident(world)
    world.comment(pm_iid, "/incident status", internal=True)
    reply = world.bot_notes(pm_iid)[-1]
    assert reply["internal"] is True and "kind=status" in reply["body"]
