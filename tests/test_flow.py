"""A whole incident through real webhooks and the real python-gitlab, against the sandbox."""

from datetime import timedelta

import pytest

from bot.timeutil import utcnow


def labels(world, iid):
    return set(world.issue(iid)["labels"])


def test_declare_by_command_posts_initial_update_and_sets_labels(world):
    iid = world.declare(sev="sev1", fields="summary: SSO fails\nactions:\n  - paging infra\n")
    state = world.state(iid)
    assert (state.status, state.severity, state.update_count) == ("active", 1, 0)
    assert {"incident", "severity::1", "incident::active"} <= labels(world, iid)
    assert any(label.startswith("region::") for label in labels(world, iid))
    body = world.reply(iid, "initial")
    assert body.startswith(f"## Incident #{iid} - SSO logins failing\n")
    assert "**Severity:** SEV1" in body and "SSO fails" in body and "- paging infra" in body
    assert "_not provided_" in body  # services nobody gave
    # The Initial Status Update is pasted to customers as it is: the engagement criteria are an internal note.
    assert "several customers" not in body.lower()
    guidance = world.bot_notes(iid)[-1]
    assert "several customers" in guidance["body"].lower() and guidance["internal"] is True
    due = state.next_update_due - state.last_update_at
    assert due == timedelta(minutes=10)
    assert world.kinds(iid) == ["initial", "guidance"]
    # The text outside the bot's block is untouched.
    assert world.issue(iid)["description"].endswith("Reported by customers.")


def test_declare_by_label_uses_label_time_and_severity(world):
    iid = world.create_issue(labels=("incident", "severity::2"))
    state = world.state(iid)
    assert state.severity == 2 and state.status == "active"
    created = world.issue(iid)["created_at"]
    assert abs((state.detected_at - __import__("bot.timeutil").timeutil.parse_time(created)).total_seconds()) < 2
    assert world.kinds(iid) == ["initial", "guidance"]


def test_roles_assign_release_and_assignees_on_free(world):
    iid = world.declare()
    world.comment(iid, "/incident cmoc me\n/incident smoc @bob\n/incident imoc @carol")
    state = world.state(iid)
    assert (state.holder("cmoc"), state.holder("smoc"), state.holder("imoc")) == ("alice", "bob", "carol")
    assert {"cmoc::engaged", "smoc::engaged"} <= labels(world, iid)
    assert [a["username"] for a in world.issue(iid)["assignees"]] == ["alice"]  # GitLab Free keeps the CMOC
    world.comment(iid, "/incident cmoc release")
    assert world.state(iid).holder("cmoc") is None
    assert "cmoc::engaged" not in labels(world, iid)
    assert [a["username"] for a in world.issue(iid)["assignees"]] == ["bob"]
    release = world.last_reply(iid)
    assert "released the CMOC role" in release and "checklist" in release  # the items: in the description
    assert "- [ ] Handed back to the normal support flow" in world.issue(iid)["description"]


def test_roles_on_premium_keep_every_holder_in_order(tmp_path):
    from world import World

    w = World(str(tmp_path), assignee_limit=None)
    try:
        iid = w.declare()
        w.comment(iid, "/incident imoc @carol\n/incident smoc @bob\n/incident cmoc me")
        assert [a["username"] for a in w.issue(iid)["assignees"]] == ["alice", "bob", "carol"]
    finally:
        w.close()


def test_role_for_non_member_is_refused_with_reason(world):
    iid = world.declare()
    before = world.issue(iid)["description"]
    world.comment(iid, "/incident cmoc @outsider")
    assert "@outsider is not a member" in world.last_reply(iid)
    world.comment(iid, "/incident cmoc @nobody-at-all")
    assert "@nobody-at-all is not a member" in world.last_reply(iid)
    assert world.issue(iid)["description"] == before


def test_updates_are_numbered_and_next_follows_cadence_or_field(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident update\nsummary: narrowing down\ntickets: 12\n")
    world.comment(iid, "/incident update\nsummary: fix rolling\nnext: 45m\n")
    notes = world.bot_notes(iid)
    assert f"## Incident #{iid} - SSO logins failing - UPDATE #1" in notes[-2]["body"]
    assert f"## Incident #{iid} - SSO logins failing - UPDATE #2" in notes[-1]["body"]
    assert "Current ticket volume: 12" in notes[-2]["body"]
    state = world.state(iid)
    assert state.update_count == 2 and state.tickets == 12
    assert abs((state.next_update_due - (state.last_update_at + timedelta(minutes=45))).total_seconds()) < 2


def test_handoff_moves_region(world):
    iid = world.declare()
    region = world.state(iid).region
    target = "apac" if region != "APAC" else "emea"
    world.comment(iid, f"/incident handoff {target}\nsummary: stable\npriorities:\n  - watch errors\n")
    state = world.state(iid)
    assert state.region == target.upper()
    assert f"region::{target}" in labels(world, iid)
    assert state.handoffs[-1]["to"] == target.upper()
    body = world.reply(iid, "handoff")  # a warning may follow: the target may be off shift at this hour
    assert " - HANDOFF" in body and f"**Handoff To:** {target.upper()}" in body
    world.comment(iid, f"/incident handoff {target}")
    assert "already holds" in world.last_reply(iid)


@pytest.mark.parametrize("verb,heading", [
    ("resources", "SUPPORT RESOURCES"), ("impact", "CUSTOMER IMPACT REPORT"),
    ("activate-cmoc", "CMOC ACTIVATION"), ("tech-handoff", "TECHNICAL TO SUPPORT HANDOFF"),
    ("exec", "EXECUTIVE SUMMARY"),
])
def test_report_templates(world, verb, heading):
    iid = world.declare()
    world.comment(iid, f"/incident {verb}\nsummary: something\n" if verb not in ("resources", "activate-cmoc")
                  else f"/incident {verb}\n")
    assert f"## Incident #{iid} - SSO logins failing - {heading}" in world.reply(iid, verb)


def test_mitigate_then_resolve_closes_the_issue(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident mitigate")
    state = world.state(iid)
    assert state.status == "mitigated" and "incident::mitigated" in labels(world, iid)
    assert abs((state.next_update_due - utcnow() - timedelta(minutes=60)).total_seconds()) < 30
    world.comment(iid, "/incident resolve\nsummary: rolled back\ntickets: 40\n")
    issue = world.issue(iid)
    assert issue["state"] == "closed"
    assert "incident::resolved" in issue["labels"] and "incident::mitigated" not in issue["labels"]
    body = world.reply(iid, "resolved")
    assert f"## Incident #{iid} - SSO logins failing - RESOLVED" in body and "**Duration:**" in body
    world.comment(iid, "/incident resolve")
    assert "already resolved" in world.last_reply(iid)


def test_person_closing_an_active_incident_resolves_it(world):
    iid = world.declare()
    world.edit_issue(iid, state_event="close")
    assert world.state(iid).status == "resolved"
    assert "resolved" in world.kinds(iid)


def test_severity_by_command_and_by_label(world):
    iid = world.declare(sev="sev3")
    world.comment(iid, "/incident severity sev1")
    assert world.state(iid).severity == 1
    assert {"severity::1"} == {x for x in labels(world, iid) if x.startswith("severity::")}
    issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid)
    issue.labels = [x for x in issue.labels if not x.startswith("severity::")] + ["severity::2"]
    issue.save()
    world.settle()
    assert world.state(iid).severity == 2
    assert world.kinds(iid)[-1] == "severity"


@pytest.mark.parametrize("text,expect", [
    ("/incident frobnicate", "'frobnicate' is not a command"),
    ("/incident update\ncolour: blue\n", "colour"),
    ("/incident update\ntickets: many\n", "tickets"),
    ("/incident update\nsummary: [unclosed\n", "YAML"),
    ("/incident severity sev9", "sev9"),
    ("/incident handoff mars", "mars"),
    ("/incident update\nnext: yesterday\n", "next"),
])
def test_bad_commands_get_one_reply_and_change_nothing(world, text, expect):
    iid = world.declare()
    before = world.issue(iid)["description"]
    count = len(world.bot_notes(iid))
    world.comment(iid, text)
    notes = world.bot_notes(iid)
    assert len(notes) == count + 1
    assert expect in notes[-1]["body"] and world.kinds(iid)[-1] == "error"
    assert world.issue(iid)["description"] == before


def test_permissions(world):
    iid = world.declare()
    before = world.issue(iid)["description"]
    world.comment(iid, "/incident resolve", who="rita")  # Reporter
    assert "Developer" in world.last_reply(iid)
    world.comment(iid, "/incident cmoc me", who="outsider")  # not a member at all
    assert "Developer" in world.last_reply(iid) and world.kinds(iid).count("refusal") == 2
    assert world.issue(iid)["state"] == "opened" and world.issue(iid)["description"] == before


def test_edits_code_blocks_and_plain_comments_run_nothing(world):
    iid = world.declare()
    count = len(world.bot_notes(iid))
    note = world.comment(iid, "just chatting\n```\n/incident resolve\n```\n> /incident resolve")
    note.body = "/incident resolve"
    note.save()
    world.settle()
    assert len(world.bot_notes(iid)) == count and world.issue(iid)["state"] == "opened"


def test_repeated_delivery_does_nothing_twice(world):
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: one\n")
    notes = len(world.bot_notes(iid))
    index = max(i for i, d in enumerate(world.sb.deliveries) if d["event"] == "Note Hook"
                and "/incident update" in d["payload"]["object_attributes"]["note"])
    world.sb.redeliver(index)  # GitLab's "Resend request": the same Idempotency-Key, dropped at the door
    world.settle()
    assert world.sb.deliveries[-1]["status"] == 200
    assert world.deliver_again(index)["status"] == 202  # a new key: the processor meets it again
    assert len(world.bot_notes(iid)) == notes and world.state(iid).update_count == 1


@pytest.mark.xfail(strict=True, reason="open: a first attempt does not read the bot's markers, so a read-only "
                   "reply (status, help) is posted again for the same note delivered under a second "
                   "Idempotency-Key (a group hook and a project hook both pointing at the bot)")
def test_the_same_note_through_two_hooks_is_answered_once(world):
    iid = world.declare()
    world.comment(iid, "/incident status")
    index = max(i for i, d in enumerate(world.sb.deliveries) if d["event"] == "Note Hook"
                and "/incident status" in d["payload"]["object_attributes"]["note"])
    replies = len(world.bot_notes(iid))
    assert world.deliver_again(index)["status"] == 202
    assert len(world.bot_notes(iid)) == replies


def test_person_text_cannot_run_quick_actions(world):
    iid = world.create_issue(title="Login broken\n/assign @gus")
    world.comment(iid, "/incident declare sev1\nsummary: |\n  all good\n  /close\n  /label ~hacked\n")
    issue = world.issue(iid)
    assert issue["state"] == "opened" and "hacked" not in issue["labels"]
    assert not [q for q in world.sb.quick_actions if q["user"] == "incident-bot"]
    assert "\\/close" in world.reply(iid, "initial")


def test_internal_note_gets_internal_reply(world):
    iid = world.declare()
    world.comment(iid, "/incident status", internal=True)
    assert world.bot_notes(iid)[-1]["internal"] is True


def test_confidential_incident_works_like_any_other(world):
    iid = world.create_issue(confidential=True)
    world.comment(iid, "/incident declare sev1")
    assert world.state(iid).severity == 1
    assert any(d["event"] == "Confidential Note Hook" for d in world.sb.deliveries)


def test_work_item_payloads(tmp_path):
    from world import World

    w = World(str(tmp_path), object_kind="work_item")
    try:
        iid = w.create_issue(labels=("incident",))
        assert w.state(iid).status == "active"
    finally:
        w.close()


def test_missing_block_is_rebuilt_and_said(world):
    iid = world.declare()
    world.comment(iid, "/incident cmoc me\n/incident update\nsummary: x\n")
    world.edit_issue(iid, description="Someone pasted over the description.")
    world.comment(iid, "/incident status")
    state = world.state(iid)
    assert state.update_count == 1 and state.holder("cmoc") == "alice"
    assert "rebuilt" in world.bot_notes(iid)[-2]["body"].lower()
    assert world.issue(iid)["description"].endswith("Someone pasted over the description.")


def test_non_incident_issue_runs_only_declare_and_help_and_says_so(world):
    iid = world.create_issue()
    world.comment(iid, "/incident status")
    assert world.kinds(iid) == ["error"] and "not an incident" in world.last_reply(iid)
    assert world.state(iid) is None
    world.comment(iid, "/incident help")
    assert "declare" in world.last_reply(iid)


def test_help_lists_commands_and_fields(world):
    iid = world.declare()
    world.comment(iid, "/incident help update")
    body = world.last_reply(iid)
    assert "summary" in body and "next" in body and "tickets" in body
    world.comment(iid, "/incident help nope")
    assert "there is no command" in world.last_reply(iid)


def test_bot_ignores_its_own_events(world):
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: still failing")
    # Every bot note and label change came back as a webhook; none produced another reply.
    assert world.kinds(iid) == ["initial", "guidance", "update"]


def test_two_severity_labels_in_the_same_second_both_count(world):
    # GitLab's timestamps have sub-second precision but the bot kept one-second keys: two label events
    # in one second collapsed and the escalation to SEV1 was dropped (issue 14, item 6).
    iid = world.declare(sev="sev3")
    frozen = world.sb.store.clock()
    world.sb.store.clock = lambda: frozen  # both changes are stamped with the same instant
    issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid)
    for sev in ("severity::2", "severity::1"):
        issue.labels = [x for x in issue.labels if not x.startswith("severity::")] + [sev]
        issue.save()
        world.settle()
        issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid)
    assert world.state(iid).severity == 1
    assert {"severity::1"} == {x for x in labels(world, iid) if x.startswith("severity::")}


def test_the_release_checklist_is_in_the_description_where_the_holder_can_tick_it(world):
    # On GitLab only a note's author and Maintainers can tick a note's task items: the checklist goes in
    # the description block, which the role holder (a Developer) can edit, and the bot keeps the ticks.
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident cmoc me")
    world.comment(iid, "/incident cmoc release")
    released = world.bot_notes(iid)[-1]["body"]
    assert "- [ ]" not in released and "description" in released
    description = world.issue(iid)["description"]
    assert "- [ ] Customer communication is stable" in description
    assert "- [ ] Handed back to the normal support flow" in description
    world.edit_issue(iid, who="alice", description=description.replace(
        "- [ ] Customer communication is stable", "- [x] Customer communication is stable", 1))
    world.comment(iid, "/incident update\nsummary: queue draining\n")
    assert world.state(iid).update_count == 1
    description = world.issue(iid)["description"]
    assert "- [x] Customer communication is stable" in description  # the bot's rewrite kept the tick
    assert "- [ ] The support queue is back to normal" in description
    world.comment(iid, "/incident cmoc @bob")  # a new holder: the old checklist is done with
    assert "Customer communication is stable" not in world.issue(iid)["description"]
