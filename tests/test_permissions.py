"""Issue events obey the same access level as the commands they stand for (security issue, item 3).

People act with their own tokens through python-gitlab; the sandbox sends GitLab's Issue Hook, whose
`user` is the person who made the change (`Issues::BaseService#execute_hooks`: `to_hook_data(current_user)`).
"""

from __future__ import annotations

import json
import urllib.request
import uuid

from test_postmortem_flow import ACTION, PM, followups, postmortems, resolved_incident, set_actions
from world import SECRET

from bot.markers import parse_note_marker as parse_marker


def refusals(world, iid):
    return [n["body"] for n in world.bot_notes(iid) if parse_marker(n["body"])["kind"] == "refusal"]


def resend_as_new(world, index):
    """The same delivery again under a fresh Idempotency-Key and event UUID: past the queue's dedupe."""
    old = world.sb.deliveries[index]
    headers = {k: v for k, v in old["headers"].items() if k.lower() not in ("idempotency-key", "x-gitlab-event-uuid")}
    headers.update({"Idempotency-Key": str(uuid.uuid4()), "X-Gitlab-Event-UUID": str(uuid.uuid4()),
                    "X-Gitlab-Token": SECRET})
    # A changed body (a space) also gets past a body-hash dedupe; the JSON is the same.
    body = json.dumps(old["payload"], indent=1).encode()
    req = urllib.request.Request(world.bot.webhook_url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 202)
    world.settle()


def last_issue_delivery(world, iid, action):
    return max(i for i, d in enumerate(world.sb.deliveries)
               if d["payload"]["object_kind"] == "issue" and d["payload"]["object_attributes"]["iid"] == iid
               and d["payload"]["object_attributes"]["action"] == action)


def test_outsider_closing_the_incident_they_authored_does_not_resolve_it(world):
    iid = world.create_issue(who="outsider", title="Our SSO is down")
    world.declare(iid)  # a Developer declares it
    world.edit_issue(iid, who="outsider", state_event="close")
    issue = world.issue(iid)
    assert issue["state"] == "opened"  # reopened
    assert world.state(iid).status == "active" and world.state(iid).postmortem_iid is None
    assert postmortems(world) == []
    (note,) = refusals(world, iid)
    assert "resolving an incident (closing it)" in note and "Developer" in note and "reopened" in note
    # The same close delivered again (past the queue's dedupe): still one note, nothing resolved.
    resend_as_new(world, last_issue_delivery(world, iid, "close"))
    assert len(refusals(world, iid)) == 1 and world.state(iid).status == "active" and postmortems(world) == []


def test_reporter_cannot_declare_a_sev1_by_adding_labels(world):
    world.comment(iid := world.create_issue(who="rita"), "/incident declare sev1", who="rita")
    assert world.state(iid) is None and "Developer" in world.last_reply(iid)  # the command is refused
    world.edit_issue(iid, who="rita", labels=["incident", "severity::1", "customer"])
    issue = world.issue(iid)
    assert world.state(iid) is None
    assert issue["labels"] == ["customer"]  # the bot's labels taken back, the person's own kept
    (note,) = [n for n in refusals(world, iid) if "incident commands" not in n]
    assert "declaring an incident" in note and '~"incident"' in note and '~"severity::1"' in note
    assert "initial" not in world.kinds(iid)


def test_reporter_cannot_resolve_by_closing(world):
    iid = world.declare()
    world.edit_issue(iid, who="rita", state_event="close")
    assert world.issue(iid)["state"] == "opened"
    assert world.state(iid).status == "active" and postmortems(world) == []
    assert len(refusals(world, iid)) == 1 and "resolved" not in world.kinds(iid)
    # A Developer closing it still resolves it.
    world.edit_issue(iid, who="bob", state_event="close")
    assert world.state(iid).status == "resolved" and len(postmortems(world)) == 1


def test_reporter_severity_label_is_put_back(world):
    iid = world.declare(sev="sev2")
    labels = world.issue(iid)["labels"]
    world.edit_issue(iid, who="rita", labels=[x for x in labels if x != "severity::2"] + ["severity::1"])
    assert world.state(iid).severity == 2
    assert "severity::2" in world.issue(iid)["labels"] and "severity::1" not in world.issue(iid)["labels"]
    (note,) = refusals(world, iid)
    assert "changing the severity" in note


def test_reporter_editing_a_postmortem_gets_no_followups(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] Add a runbook for SSO @bob due:2026-12-15"], who="rita")
    assert followups(world) == []
    (note,) = refusals(world, pm_iid)
    assert "opening follow-up issues" in note
    # Her prose edits without new items say nothing more; a Developer's `actions` opens the follow-up.
    world.edit_issue(pm_iid, who="rita", description=world.issue(pm_iid)["description"] + "\nMore context.\n")
    assert len(refusals(world, pm_iid)) == 1
    world.comment(pm_iid, "/incident actions", who="alice")
    (followup,) = followups(world)
    assert ACTION in followup["labels"] and PM not in followup["labels"]


def test_reporter_closing_a_followup_does_not_tick_it(world):
    iid, pm_iid = resolved_incident(world)
    set_actions(world, pm_iid, ["- [ ] Add a runbook for SSO @bob"])
    (followup,) = followups(world)
    world.edit_issue(followup["iid"], who="rita", state_event="close")
    assert "- [ ]" in world.issue(pm_iid)["description"] and "- [x]" not in world.issue(pm_iid)["description"]
    assert len(refusals(world, followup["iid"])) == 1
    world.edit_issue(followup["iid"], who="alice", state_event="reopen")
    world.edit_issue(followup["iid"], who="alice", state_event="close")
    assert "- [x]" in world.issue(pm_iid)["description"]
