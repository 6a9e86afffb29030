"""Issue events: the bot acts on the issue as GitLab holds it now, not on what the webhook claims
(security issue 12, items 3 and 4).

Deliveries are signed with the right secret, as anyone who learned it could send them, and posted
straight to the bot. The changes they describe were made for real through python-gitlab while the
hook pointed elsewhere (GitLab recorded the deliveries, the bot heard nothing); a forged delivery is
such a recorded one with its claims changed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import urllib.request
import uuid

from test_postmortem_flow import followups, postmortems, resolved_incident, set_actions
from world import SECRET

from bot.executor import parse_marker


@contextlib.contextmanager
def unheard(world):
    """GitLab sends its webhooks to a port where nobody listens: recorded, never processed."""
    (hook,) = world.sb.store.hooks[world.pid]
    url, hook["url"] = hook["url"], "http://127.0.0.1:9/webhook"
    start = len(world.sb.deliveries)
    recorded: list[dict] = []
    try:
        yield recorded
    finally:
        world.sb.wait_idle(20)
        recorded.extend(world.sb.deliveries[start:])
        hook["url"] = url


def send(world, payload: dict, event: str = "Issue Hook") -> None:
    """POST a delivery to the bot with the right secret and fresh dedupe headers."""
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET, "Content-Type": "application/json",
               "Idempotency-Key": str(uuid.uuid4()), "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    req = urllib.request.Request(world.bot.webhook_url, data=json.dumps(payload).encode(), headers=headers,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 202)
    world.settle()


def as_user(world, payload: dict, who: str) -> dict:
    forged = copy.deepcopy(payload)
    user = world.users[who]
    forged["user"] = {"id": user["id"], "name": user["name"], "username": user["username"],
                      "avatar_url": None, "email": "[REDACTED]"}
    return forged


def issue_delivery(recorded: list[dict], action: str) -> dict:
    return next(d["payload"] for d in recorded
                if d["payload"]["object_kind"] == "issue" and d["payload"]["object_attributes"]["action"] == action)


def template(world, iid: int) -> dict:
    """The newest real Issue Hook for the issue."""
    return copy.deepcopy(next(d["payload"] for d in reversed(world.sb.deliveries)
                              if d["payload"]["object_kind"] == "issue"
                              and d["payload"]["object_attributes"]["iid"] == iid))


def refusals(world, iid):
    return [n["body"] for n in world.bot_notes(iid) if parse_marker(n["body"])["kind"] == "refusal"]


def test_a_forged_close_by_a_maintainer_of_an_open_incident_resolves_nothing(world):
    iid = world.declare()
    notes = len(world.bot_notes(iid))
    forged = as_user(world, template(world, iid), "carol")  # carol is a Maintainer
    forged["object_attributes"].update(action="close", state="closed", state_id=2)
    forged["changes"] = {"state_id": {"previous": 1, "current": 2}}
    send(world, forged)
    assert world.issue(iid)["state"] == "opened"
    assert world.state(iid).status == "active" and world.state(iid).resolved_at is None
    assert postmortems(world) == [] and len(world.bot_notes(iid)) == notes  # nothing posted


def test_a_close_claimed_by_a_maintainer_is_judged_as_the_reporters_who_closed(world):
    iid = world.declare()
    with unheard(world) as recorded:
        world.edit_issue(iid, who="rita", state_event="close")
    send(world, as_user(world, issue_delivery(recorded, "close"), "carol"))
    assert world.issue(iid)["state"] == "opened"  # reopened: GitLab says rita closed it
    assert world.state(iid).status == "active" and postmortems(world) == []
    (note,) = refusals(world, iid)
    assert "resolving an incident (closing it)" in note and "reopened" in note


def test_a_forged_label_event_is_refused_as_the_reporters_who_added_the_label(world):
    iid = world.create_issue(who="rita")
    with unheard(world) as recorded:
        world.edit_issue(iid, who="rita", labels=["incident", "severity::1"])
    send(world, as_user(world, issue_delivery(recorded, "update"), "carol"))
    assert world.state(iid) is None and "initial" not in world.kinds(iid)
    assert world.issue(iid)["labels"] == []  # the labels taken back, as for rita's own delivery
    (note,) = refusals(world, iid)
    assert "declaring an incident" in note and "Developer" in note


def test_a_label_the_issue_does_not_carry_declares_nothing(world):
    iid = world.create_issue(who="alice")
    forged = as_user(world, template(world, iid), "carol")
    forged["object_attributes"]["action"] = "update"
    forged["changes"] = {"labels": {"previous": [], "current": [{"title": "incident"}]}}
    forged["labels"] = forged["object_attributes"]["labels"] = [{"title": "incident"}]
    send(world, forged)
    assert world.state(iid) is None and world.bot_notes(iid) == [] and world.issue(iid)["labels"] == []


def test_a_replayed_old_close_of_a_reopened_incident_resolves_nothing(world):
    iid = world.declare()
    notes = len(world.bot_notes(iid))
    with unheard(world) as recorded:
        world.edit_issue(iid, who="bob", state_event="close")  # a Developer: a real resolution then
        world.edit_issue(iid, who="bob", state_event="reopen")
    send(world, issue_delivery(recorded, "close"))  # the old close, unchanged, under new headers
    assert world.issue(iid)["state"] == "opened"
    assert world.state(iid).status == "active" and postmortems(world) == []
    assert len(world.bot_notes(iid)) == notes


def test_a_forged_postmortem_edit_is_judged_as_the_reporters_who_edited(world):
    iid, pm_iid = resolved_incident(world)
    with unheard(world) as recorded:
        set_actions(world, pm_iid, ["- [ ] Add a runbook for SSO @bob"], who="rita")
    send(world, as_user(world, issue_delivery(recorded, "update"), "carol"))
    assert followups(world) == []
    (note,) = refusals(world, pm_iid)
    assert "opening follow-up issues" in note


def test_real_changes_by_a_developer_still_act(world):
    iid = world.create_issue(who="alice")
    world.edit_issue(iid, who="bob", labels=["incident", "severity::2"])
    assert world.state(iid).severity == 2 and "initial" in world.kinds(iid)
    world.edit_issue(iid, who="bob", state_event="close")
    assert world.state(iid).status == "resolved" and len(postmortems(world)) == 1


def test_who_changed_it_is_read_in_the_same_round_trip_as_the_issue(world):
    iid = world.create_issue(who="alice")
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    world.edit_issue(iid, who="bob", labels=["incident"])
    world.sb.latency = 0.2  # reads made one after another could not overlap
    with world.sb.lock:
        world.sb.calls.clear()
    assert world.process(start)[0] == "handled: incident_labeled"
    with world.sb.lock:
        calls = [c for c in world.sb.calls if c["user"] == "incident-bot"]
    first_write = min(c["started"] for c in calls if c["method"] != "GET")
    reads = [c for c in calls if c["method"] == "GET" and c["started"] < first_write
             and not c["path"].endswith("/user")]  # the bot's own user: read once per process
    issue = f"/projects/{world.pid}/issues/{iid}"
    assert sorted(c["path"].split("/api/v4")[-1] for c in reads) == sorted(
        [issue, issue + "/resource_label_events", f"/projects/{world.pid}/members/all/{world.users['bob']['id']}"])
    assert max(c["started"] for c in reads) < min(c["ts"] for c in reads)  # one round trip


# -- the pure check, on GitLab's documented Issue Hook ------------------------------------------
def _claims(issue_payload, *, labels_now, label_events=(), state="opened", closed_by=None, state_events=()):
    from bot.config import load_config
    from bot.events import parse_delivery
    from bot.issue_claims import Records, confirm
    from bot.records import Issue, ResourceEvent
    from bot.wiring import ROUTER

    cfg = load_config(None, env={})
    event = parse_delivery({"X-Gitlab-Event": "Issue Hook"}, json.dumps(issue_payload))
    issue = Issue(14, 23, 301, "t", "", list(labels_now), [], {"id": 1, "username": "root"}, state, False, None,
                  None, closed_by=closed_by)
    rec = Records(issue,
                  [ResourceEvent(i, {"id": uid, "username": f"u{uid}"}, None, action, label)
                   for i, (uid, action, label) in enumerate(label_events, 1)],
                  [ResourceEvent(i, {"id": uid, "username": f"u{uid}"}, None, st)
                   for i, (uid, st) in enumerate(state_events, 1)])
    return confirm(event, ROUTER.triggers_for(event, cfg), rec, cfg)


def _labelled(issue_payload, *titles):
    issue_payload["changes"]["labels"]["current"] = [{"title": t} for t in titles]
    return issue_payload


def test_the_newest_add_names_who_added_a_label(issue_payload):
    payload = _labelled(issue_payload, "incident", "severity::1")  # the payload says root (id 1) did it
    kept, dropped = _claims(payload, labels_now=["incident", "severity::1"],
                            label_events=[(7, "add", "incident"), (7, "remove", "incident"), (9, "add", "incident"),
                                          (9, "add", "severity::1")])
    assert dropped == [] and [(c.trigger, c.event.actor.id) for c in kept] == [
        ("incident_labeled", 9), ("severity_labeled", 9)]
    assert kept[0].event.labels_added == {"incident", "severity::1"}


def test_labels_added_by_someone_else_are_not_the_actors_to_undo(issue_payload):
    payload = _labelled(issue_payload, "incident", "region::amer")
    (kept,), _ = _claims(payload, labels_now=["incident", "region::amer"],
                         label_events=[(5, "add", "region::amer"), (9, "add", "incident")])
    assert kept.event.actor.id == 9 and kept.event.labels_added == {"incident"}


def test_a_label_without_a_record_of_who_added_it_is_dropped(issue_payload):
    kept, dropped = _claims(_labelled(issue_payload, "incident"), labels_now=["incident"], label_events=[])
    assert kept == [] and "no record" in dropped[0]


def test_a_close_takes_closed_by_else_the_newest_closed_state_event(issue_payload):
    issue_payload["object_attributes"].update(action="close", state="closed")
    issue_payload["changes"] = {"state_id": {"previous": 1, "current": 2}}
    (kept,), _ = _claims(issue_payload, labels_now=[], state="closed", closed_by={"id": 4, "username": "u4"},
                         state_events=[(5, "closed")])
    assert kept.trigger == "closed" and kept.event.actor.id == 4
    (kept,), _ = _claims(issue_payload, labels_now=[], state="closed", state_events=[(3, "closed"), (3, "reopened"),
                                                                                      (5, "closed")])
    assert kept.event.actor.id == 5
    kept, dropped = _claims(issue_payload, labels_now=[], state="opened", state_events=[(5, "closed"), (5, "reopened")])
    assert kept == [] and "it is open" in dropped[0]


def test_resolve_on_close_acts_only_while_gitlab_has_the_issue_closed():
    from datetime import datetime, timezone

    from bot.config import load_config
    from bot.render import Renderer
    from bot.routing import Context
    from bot.state import IncidentState
    from bot.wiring import ROUTER

    cfg, now = load_config(None, env={}), datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    state = IncidentState(status="active", severity=1, detected_at=now)

    def context(issue_state):
        return Context(cfg=cfg, render=Renderer(None).render, iid=7, title="t", author="alice", state=state,
                       actor="carol", now=now, lookup_member=lambda name: None, issue_state=issue_state)

    (handler,) = ROUTER.handlers("closed")
    assert handler(context("opened"), None).state is None
    resolved = handler(context("closed"), None)
    assert resolved.state.status == "resolved" and resolved.followups == ["postmortem"]
