"""The sandbox driven by the real python-gitlab over HTTP, and its webhooks caught by a real receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import gitlab
import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox import REPORTER, Sandbox

FIXTURES = Path(__file__).parent / "fixtures"
SIGNING_KEY = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Receiver:
    """A tiny webhook endpoint in a thread; records every request."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.port}/webhook"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        self.requests.append({"headers": dict(request.headers), "body": body, "json": json.loads(body)})
        return Response("{}", status=self.status, content_type="application/json")

    def events(self, name: str) -> list[dict]:
        return [r for r in self.requests if r["headers"]["X-Gitlab-Event"] == name]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sb():
    box = Sandbox().start()
    yield box
    box.stop()


@pytest.fixture
def world(sb):
    alice = sb.add_user("alice", name="Alice A")
    bob = sb.add_user("bob", name="Bob B")
    carol = sb.add_user("carol", name="Carol Outsider")
    project = sb.add_project("support/incidents")
    sb.add_member(project["id"], alice["id"], access_level=30)
    sb.add_member(project["id"], bob["id"], access_level=30)
    return {"alice": alice, "bob": bob, "carol": carol, "project": project}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def gl(sb, username, **kw) -> gitlab.Gitlab:
    return gitlab.Gitlab(sb.url, private_token=sb.token_for(username), **kw)


def project_as(sb, username, **kw):
    return gl(sb, username, **kw).projects.get("support/incidents")  # by URL-encoded path


def missing_keys(expected, actual, prefix=""):
    """Key paths of `expected` absent from `actual`, recursively. Lists of objects compare their first
    element. A null where the example has an object counts as present (GitLab sends null for an
    association that is not set, e.g. escalation_policy without Premium)."""
    missing = set()
    for key, sub in expected.items():
        if key not in actual:
            missing.add(prefix + key)
        elif isinstance(sub, dict) and isinstance(actual[key], dict):
            missing |= missing_keys(sub, actual[key], f"{prefix}{key}.")
        elif isinstance(sub, dict) and actual[key] is not None:
            missing.add(f"{prefix}{key} (not an object)")
        elif isinstance(sub, list) and sub and isinstance(sub[0], dict) and actual[key]:
            missing |= missing_keys(sub[0], actual[key][0], f"{prefix}{key}[].")
    return missing


# -- REST ---------------------------------------------------------------------------------------
def test_create_issue_as_alice_with_labels(sb, world):
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "Checkout down", "description": "500s", "labels": ["incident", "severity::1"],
                             "issue_type": "incident"})
    assert issue.iid == 1 and issue.project_id == world["project"]["id"]
    assert issue.labels == ["incident", "severity::1"]
    assert issue.author["username"] == "alice"
    assert issue.state == "opened" and issue.type == "INCIDENT" and issue.issue_type == "incident"
    assert issue.references["full"] == "support/incidents#1"
    assert issue.web_url == f"{sb.url}/support/incidents/-/issues/1"
    assert issue.created_at.endswith("Z")
    assert {lb.name for lb in p.labels.list(get_all=True)} == {"incident", "severity::1"}
    again = p.issues.get(1)
    assert again.title == "Checkout down" and again.assignees == [] and again.assignee is None
    assert sb.issue(world["project"]["id"], 1)["labels"] == ["incident", "severity::1"]


def test_update_labels_description_assignees_free_keeps_first(sb, world):
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t", "labels": "incident,severity::2"})
    issue.labels = ["incident", "severity::1"]
    issue.description = "new text"
    issue.assignee_ids = [world["bob"]["id"], world["alice"]["id"]]
    issue.save()
    fresh = p.issues.get(issue.iid)
    assert fresh.labels == ["incident", "severity::1"]
    assert fresh.description == "new text"
    assert [a["username"] for a in fresh.assignees] == ["bob"]  # GitLab Free keeps the first
    p.issues.update(issue.iid, {"add_labels": "cmoc::engaged", "remove_labels": "incident"})
    assert sb.issue(world["project"]["id"], issue.iid)["labels"] == ["cmoc::engaged", "severity::1"]
    bodies = [n["body"] for n in sb.notes(world["project"]["id"], issue.iid) if n["system"]]
    # Label changes are resource label events, not system notes (create_labels_note).
    assert bodies == ["changed the description", "assigned to @bob"]
    issue.state_event = "close"
    issue.save()
    assert p.issues.get(issue.iid).state == "closed"
    assert p.issues.get(issue.iid).closed_at is not None


def test_premium_keeps_all_assignees_and_scoped_labels_are_exclusive():
    with Sandbox(assignee_limit=None) as box:
        a, b = box.add_user("alice"), box.add_user("bob")
        proj = box.add_project("support/incidents")
        box.add_member(proj["id"], a["id"])
        p = gl(box, "alice").projects.get(proj["id"])
        issue = p.issues.create({"title": "t", "assignee_ids": [a["id"], b["id"]], "labels": "severity::1"})
        assert [x["username"] for x in issue.assignees] == ["alice", "bob"]
        p.issues.update(issue.iid, {"add_labels": "severity::2"})
        assert box.issue(proj["id"], issue.iid)["labels"] == ["severity::2"]


def test_guest_and_non_member_changes_are_limited_like_gitlab(sb, world):
    p = project_as(sb, "carol")
    issue = p.issues.create({"title": "from outside", "labels": "incident", "assignee_ids": [world["bob"]["id"]]})
    assert issue.labels == [] and issue.assignees == []  # dropped for non-members
    issue_by_alice = project_as(sb, "alice").issues.create({"title": "a"})
    with pytest.raises(gitlab.GitlabUpdateError) as err:
        p.issues.update(issue_by_alice.iid, {"title": "hijack"})
    assert err.value.response_code == 403


def test_list_filters_and_pagination_across_250_issues(sb, world):
    p = project_as(sb, "alice")
    for n in range(250):
        labels = ["incident", "severity::1"] if n % 2 == 0 else ["incident"]
        p.issues.create({"title": f"issue {n}", "labels": labels, "confidential": n % 50 == 0})
    p.issues.update(3, {"state_event": "close"})  # issue 2: labelled severity::1
    everything = p.issues.list(get_all=True, per_page=100)
    assert len(everything) == 250 and len({i.iid for i in everything}) == 250
    assert [i.iid for i in everything[:3]] == [250, 249, 248]  # created_at desc by default
    sev1 = p.issues.list(labels=["incident", "severity::1"], get_all=True)
    assert len(sev1) == 125 and all("severity::1" in i.labels for i in sev1)
    opened = list(p.issues.list(labels="severity::1", state="opened", iterator=True))
    assert len(opened) == 124
    assert len(p.issues.list(confidential=True, get_all=True)) == 5
    assert [i.iid for i in p.issues.list(iids=[3, 5], order_by="created_at", sort="asc", get_all=True)] == [3, 5]
    # Non-members do not see confidential issues.
    assert len(project_as(sb, "carol").issues.list(get_all=True)) == 245

    resp = requests.get(f"{sb.url}/api/v4/projects/{world['project']['id']}/issues",
                        params={"labels": "incident", "per_page": 100, "page": 2},
                        headers={"PRIVATE-TOKEN": sb.token_for("alice")})
    h = resp.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("2", "100", "250", "3")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    assert set(resp.links) == {"next", "prev", "first", "last"}
    assert "page=3" in resp.links["next"]["url"] and "labels=incident" in resp.links["next"]["url"]
    last = requests.get(resp.links["last"]["url"], headers={"PRIVATE-TOKEN": sb.token_for("alice")})
    assert len(last.json()) == 50 and last.headers["X-Next-Page"] == "" and "next" not in last.links
    capped = requests.get(f"{sb.url}/api/v4/projects/{world['project']['id']}/issues", params={"per_page": 500},
                          headers={"PRIVATE-TOKEN": sb.token_for("alice")})
    assert capped.headers["X-Per-Page"] == "100" and len(capped.json()) == 100


def test_notes_create_list_desc_and_internal(sb, world):
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t"})
    for n in range(3):
        issue.notes.create({"body": f"note {n}"})
    internal = issue.notes.create({"body": "secret", "internal": True})
    assert internal.internal is True and internal.confidential is True
    bodies = [n.body for n in issue.notes.list(sort="desc", order_by="created_at", get_all=True)]
    assert bodies == ["secret", "note 2", "note 1", "note 0"]
    assert [n.body for n in issue.notes.list(sort="asc", get_all=True)][:2] == ["note 0", "note 1"]
    assert len(issue.notes.list(per_page=2, page=2)) == 2
    one = issue.notes.get(internal.id)
    assert one.noteable_iid == issue.iid and one.noteable_type == "Issue" and one.system is False
    one.body = "edited"
    one.save()
    assert issue.notes.get(internal.id).body == "edited"
    outsider = project_as(sb, "carol").issues.get(issue.iid)
    assert "edited" not in [n.body for n in outsider.notes.list(get_all=True)]
    with pytest.raises(gitlab.GitlabGetError):
        outsider.notes.get(internal.id)
    assert p.issues.get(issue.iid).user_notes_count == 4


def test_links_are_visible_from_both_issues(sb, world):
    p = project_as(sb, "alice")
    a, b = p.issues.create({"title": "incident"}), p.issues.create({"title": "postmortem"})
    source, target = a.links.create({"target_project_id": p.id, "target_issue_iid": b.iid})
    assert (source.iid, target.iid) == (a.iid, b.iid)
    assert [(x.iid, x.link_type) for x in a.links.list()] == [(b.iid, "relates_to")]
    assert [x.iid for x in b.links.list()] == [a.iid]
    assert [x["iid"] for x in sb.links(p.id, b.iid)] == [a.iid]
    with pytest.raises(gitlab.GitlabCreateError) as err:
        b.links.create({"target_project_id": "support/incidents", "target_issue_iid": a.iid})
    assert err.value.response_code == 409


def test_members_users_and_errors(sb, world):
    client = gl(sb, "alice")
    client.auth()
    assert client.user.username == "alice"
    p = client.projects.get(world["project"]["id"])
    assert p.members_all.get(world["alice"]["id"]).access_level == 30
    with pytest.raises(gitlab.GitlabGetError) as err:
        p.members_all.get(world["carol"]["id"])
    assert err.value.response_code == 404
    assert json.loads(err.value.response_body) == {"message": "404 Not found"}
    assert [m.username for m in p.members_all.list(query="bo", get_all=True)] == ["bob"]
    assert [u.id for u in client.users.list(username="bob")] == [world["bob"]["id"]]
    assert client.users.get(world["bob"]["id"]).name == "Bob B"

    bad = gitlab.Gitlab(sb.url, private_token="nope")
    with pytest.raises(gitlab.GitlabAuthenticationError):
        bad.projects.get(world["project"]["id"])
    r = requests.get(f"{sb.url}/api/v4/user", headers={"PRIVATE-TOKEN": "nope"})
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = requests.get(f"{sb.url}/api/v4/nowhere", headers={"PRIVATE-TOKEN": sb.token_for("alice")})
    assert (r.status_code, r.json()) == (404, {"error": "404 Not Found"})
    r = requests.post(f"{sb.url}/api/v4/projects/{p.id}/issues", headers={"PRIVATE-TOKEN": sb.token_for("alice")},
                      json={"description": "no title"})
    assert (r.status_code, r.json()) == (400, {"error": "title is missing"})
    with pytest.raises(gitlab.GitlabGetError) as err:
        p.issues.get(999)
    assert err.value.response_code == 404


def test_form_encoded_bodies_are_accepted(sb, world):
    url = f"{sb.url}/api/v4/projects/support%2Fincidents/issues"
    headers = {"PRIVATE-TOKEN": sb.token_for("alice")}
    r = requests.post(url, headers=headers, data={"title": "form", "labels": "a,b",
                                                  "assignee_ids[]": [world["alice"]["id"]], "confidential": "true"})
    assert r.status_code == 201, r.text
    assert r.json()["labels"] == ["a", "b"] and r.json()["confidential"] is True
    r = requests.put(f"{url}/{r.json()['iid']}", headers=headers, data={"state_event": "close"})
    assert r.json()["state"] == "closed"


def test_call_log_and_counts(sb, world):
    sb.reset_calls()
    p = project_as(sb, "alice")
    p.issues.create({"title": "t"})
    assert sb.count_calls() == {"reads": 1, "writes": 1}
    assert sb.count_calls(kind=r"/issues") == {"reads": 0, "writes": 1}
    assert sb.calls[-1]["method"] == "POST" and sb.calls[-1]["status"] == 201 and sb.calls[-1]["user"] == "alice"


def test_fault_injection(sb, world):
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t"})
    sb.inject_fault(method="PUT", path_regex=r"/issues/\d+$", status=500, times=1)
    with pytest.raises(gitlab.GitlabUpdateError) as err:
        p.issues.update(issue.iid, {"title": "x"})
    assert err.value.response_code == 500
    assert p.issues.get(issue.iid).title == "t"  # the failed call changed nothing
    p.issues.update(issue.iid, {"title": "x"})
    assert p.issues.get(issue.iid).title == "x"

    sb.reset_calls()
    sb.inject_fault(method="GET", path_regex=r"/issues/\d+$", status=429, retry_after=1)
    started = time.monotonic()
    assert p.issues.get(issue.iid).title == "x"  # python-gitlab obeys Retry-After and retries
    assert time.monotonic() - started >= 1
    assert [c["status"] for c in sb.calls] == [429, 200]

    sb.inject_fault(method="GET", path_regex=r"/issues/\d+$", status=None, delay=1.0)
    slow = gl(sb, "alice", timeout=0.3).projects.get(p.id, lazy=True)
    with pytest.raises(requests.exceptions.Timeout):
        slow.issues.get(issue.iid)


def test_latency_is_settable(sb, world):
    p = project_as(sb, "alice")
    sb.latency = 0.2
    started = time.monotonic()
    p.issues.list()
    assert time.monotonic() - started >= 0.2
    sb.latency = 0.0


def test_concurrent_writes_get_unique_iids(sb, world):
    p = project_as(sb, "alice")
    errors = []

    def worker(n):
        try:
            for k in range(10):
                p.issues.create({"title": f"{n}-{k}"})
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert sorted(i["iid"] for i in sb.issues(p.id)) == list(range(1, 61))


# -- quick actions ----------------------------------------------------------------------------
def test_quick_actions_run_and_are_stripped(sb, world):
    p = project_as(sb, "alice")
    p.labels.create({"name": "needs review", "color": "#ff0000"})
    issue = p.issues.create({"title": "t", "labels": "incident"})
    note = issue.notes.create({"body": 'Taking this.\n/label ~"needs review"\n/assign @bob\n/incident update\n'})
    assert note.body == "Taking this.\n/incident update"  # unknown /words are not quick actions
    fresh = p.issues.get(issue.iid)
    assert fresh.labels == ["incident", "needs review"] and fresh.assignee["username"] == "bob"
    assert [(q["command"], q["args"]) for q in sb.quick_actions] == [("label", '~"needs review"'), ("assign", "@bob")]
    assert sb.quick_actions[0]["user"] == "alice" and sb.quick_actions[0]["iid"] == issue.iid

    # Only commands: GitLab creates no note and answers 202 with what they did.
    before = len(sb.notes(p.id, issue.iid))
    result = issue.notes.create({"body": "/close"})
    assert result.summary == ["Closed this issue."] and result.commands_changes == {"state_event": "close"}
    assert p.issues.get(issue.iid).state == "closed"
    assert sb.notes(p.id, issue.iid)[before:] == []  # no note: the close is a resource state event
    issue.notes.create({"body": "/reopen\n/title Renamed\n/unlabel ~incident\n/confidential"})
    fresh = p.issues.get(issue.iid)
    assert (fresh.state, fresh.title, fresh.labels, fresh.confidential) == ("opened", "Renamed", ["needs review"], True)


def test_quick_actions_in_code_quotes_or_without_rights_do_nothing(sb, world):
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t", "labels": "incident"})
    text = "Example:\n```\n/close\n```\n> /close\n>>>\n/close\n>>>\n  /close"
    note = issue.notes.create({"body": text})
    assert note.body == text
    assert p.issues.get(issue.iid).state == "opened" and sb.quick_actions == []
    outsider = project_as(sb, "carol").issues.get(issue.iid, lazy=True)
    note = outsider.notes.create({"body": "/label ~incident\n/unlabel ~incident"})
    assert note.body == "/label ~incident\n/unlabel ~incident"  # not available to a non-member: kept as text
    assert p.issues.get(issue.iid).labels == ["incident"] and sb.quick_actions == []
    note = issue.notes.create({"body": "/label ~does-not-exist"})  # quick actions never create labels
    assert note.body == "/label ~does-not-exist" and p.issues.get(issue.iid).labels == ["incident"]


# -- webhooks ------------------------------------------------------------------------------------
def test_issue_hook_headers_and_payload_keys(sb, world, receiver):
    sb.add_hook(world["project"]["id"], receiver.url, token="secret")
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t", "labels": "incident", "issue_type": "incident"})
    p.issues.update(issue.iid, {"labels": "incident,severity::1", "assignee_ids": [world["bob"]["id"]]})
    p.issues.update(issue.iid, {"state_event": "close"})
    sb.wait_idle(timeout=10)
    hooks = receiver.events("Issue Hook")
    assert [h["json"]["object_attributes"]["action"] for h in hooks] == ["open", "update", "close"]
    h = hooks[0]["headers"]
    assert h["Content-Type"] == "application/json" and h["User-Agent"] == "GitLab/19.0.0"
    assert h["X-Gitlab-Token"] == "secret" and h["X-Gitlab-Instance"] == sb.url
    assert h["X-Gitlab-Webhook-Uuid"] and h["X-Gitlab-Event-Uuid"] and h["Idempotency-Key"]
    assert len({r["headers"]["Idempotency-Key"] for r in hooks}) == 3
    assert [d["status"] for d in sb.deliveries] == [200, 200, 200]

    fixture = json.loads((FIXTURES / "issue_hook.json").read_text())
    opened, updated, closed = (r["json"] for r in hooks)
    for part in ("object_attributes", "user", "project"):
        missing = missing_keys(fixture[part], updated[part])
        assert not missing, (part, missing)
    assert not missing_keys(fixture, updated)  # updated has assignees: every key, at every level
    assert "assignees" not in opened and "assignee" not in opened  # GitLab omits them when empty
    assert opened["object_kind"] == "issue" and opened["event_type"] == "issue"
    assert opened["object_attributes"]["type"] == "Incident" and "issue_type" not in opened["object_attributes"]
    assert opened["user"] == {**opened["user"], "username": "alice", "email": "[REDACTED]"}
    labels = updated["changes"]["labels"]
    assert [x["title"] for x in labels["previous"]] == ["incident"]
    assert [x["title"] for x in labels["current"]] == ["incident", "severity::1"]
    assert set(labels["current"][0]) == set(fixture["labels"][0])
    assert updated["object_attributes"]["assignee_ids"] == [world["bob"]["id"]]
    assert updated["changes"]["assignees"]["current"][0]["username"] == "bob"
    assert closed["changes"]["state_id"] == {"previous": 1, "current": 2}
    assert closed["object_attributes"]["state"] == "closed"


def test_note_hook_payload_and_system_notes_fire_nothing(sb, world, receiver):
    sb.add_hook(world["project"]["id"], receiver.url, token="secret")
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t", "labels": "incident"})
    note = issue.notes.create({"body": "hello"})
    note.body = "hello again"
    note.save()
    sb.wait_idle()
    fixture = json.loads((FIXTURES / "note_hook_issue.json").read_text())
    created, edited = (r["json"] for r in receiver.events("Note Hook"))
    for part in ("object_attributes", "user", "project", "issue", "repository"):
        missing = missing_keys(fixture[part], created[part])
        assert not missing, (part, missing)
    assert not missing_keys(fixture, created)
    attrs = created["object_attributes"]
    assert (attrs["id"], attrs["note"], attrs["action"], attrs["system"], attrs["internal"]) == \
        (note.id, "hello", "create", False, False)
    assert attrs["url"].endswith(f"/-/issues/{issue.iid}#note_{note.id}")
    assert attrs["created_at"].endswith(" UTC")
    assert created["issue"]["iid"] == issue.iid and created["issue"]["labels"][0]["title"] == "incident"
    assert edited["object_attributes"]["action"] == "update" and edited["object_attributes"]["note"] == "hello again"
    receiver.requests.clear()
    p.issues.update(issue.iid, {"add_labels": "x"})  # adds a system note: only the Issue Hook fires
    sb.wait_idle()
    assert [r["headers"]["X-Gitlab-Event"] for r in receiver.requests] == ["Issue Hook"]


def test_confidential_hooks_and_work_item_kind(sb, world, receiver):
    sb.add_hook(world["project"]["id"], receiver.url, token="secret")
    p = project_as(sb, "alice")
    public = p.issues.create({"title": "public"})
    public.notes.create({"body": "internal words", "internal": True})
    secret = p.issues.create({"title": "secret", "confidential": True})
    secret.notes.create({"body": "on a confidential issue"})
    sb.object_kind = "work_item"
    p.issues.update(public.iid, {"title": "renamed"})
    sb.wait_idle()
    events = [(r["headers"]["X-Gitlab-Event"], r["json"]["event_type"]) for r in receiver.requests]
    assert events == [("Issue Hook", "issue"), ("Confidential Note Hook", "confidential_note"),
                      ("Confidential Issue Hook", "confidential_issue"),
                      ("Confidential Note Hook", "confidential_note"), ("Issue Hook", "work_item")]
    last = receiver.requests[-1]["json"]
    assert last["object_kind"] == "work_item" and last["changes"]["title"] == {"previous": "public", "current": "renamed"}
    assert receiver.requests[1]["json"]["object_attributes"]["internal"] is True


def test_quick_action_changes_send_hooks(sb, world, receiver):
    sb.add_hook(world["project"]["id"], receiver.url)
    p = project_as(sb, "alice")
    issue = p.issues.create({"title": "t"})
    issue.notes.create({"body": "/close"})
    sb.wait_idle()
    assert [(r["headers"]["X-Gitlab-Event"], r["json"]["object_attributes"].get("action"))
            for r in receiver.requests] == [("Issue Hook", "open"), ("Issue Hook", "close")]
    assert "X-Gitlab-Token" not in receiver.requests[0]["headers"]


def test_event_uuid_reused_redeliver_and_signature(sb, world, receiver):
    sb.add_hook(world["project"]["id"], receiver.url, token="secret", signing_key=SIGNING_KEY)
    p = project_as(sb, "alice")
    r = requests.post(f"{sb.url}/api/v4/projects/{p.id}/issues", json={"title": "t"},
                      headers={"PRIVATE-TOKEN": sb.token_for("alice"), "X-Gitlab-Event-UUID": "caller-uuid"})
    assert r.status_code == 201
    sb.wait_idle()
    first = receiver.requests[0]
    assert first["headers"]["X-Gitlab-Event-Uuid"] == "caller-uuid"
    h = first["headers"]
    key = base64.b64decode(SIGNING_KEY.removeprefix("whsec_"))
    signed = f"{h['Webhook-Id']}.{h['Webhook-Timestamp']}.".encode() + first["body"]
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert h["Webhook-Signature"] == expected
    assert abs(int(h["Webhook-Timestamp"]) - time.time()) < 60

    sb.redeliver(0)
    sb.wait_idle()
    again = receiver.requests[1]
    assert again["headers"]["Idempotency-Key"] == h["Idempotency-Key"]
    assert again["headers"]["Webhook-Signature"] == h["Webhook-Signature"] and again["body"] == first["body"]
    assert len(sb.deliveries) == 2 and sb.deliveries[1]["redelivery_of"] == 0


def test_failed_deliveries_are_recorded(sb, world):
    bad = Receiver(status=500)
    try:
        sb.add_hook(world["project"]["id"], bad.url, token="t")
        sb.add_hook(world["project"]["id"], "http://127.0.0.1:9/nothing-listens", token="t")
        project_as(sb, "alice").issues.create({"title": "t"})
        sb.wait_idle()
        assert [d["status"] for d in sb.deliveries] == [500, None]
        assert sb.deliveries[1]["error"]
    finally:
        bad.stop()


def test_reporter_sees_internal_notes(sb, world):
    dave = sb.add_user("dave")
    sb.add_member(world["project"]["id"], dave["id"], access_level=REPORTER)
    issue = project_as(sb, "alice").issues.create({"title": "t"})
    issue.notes.create({"body": "internal", "internal": True})
    assert [n.body for n in project_as(sb, "dave").issues.get(issue.iid).notes.list()] == ["internal"]


def test_bad_update_changes_nothing_and_not_labels_filter(sb, world):
    p = project_as(sb, "alice")
    p.issues.create({"title": "a", "labels": "incident"})
    p.issues.create({"title": "b", "labels": "incident,postmortem"})
    with pytest.raises(gitlab.GitlabUpdateError) as err:
        p.issues.update(1, {"title": "changed", "state_event": "explode"})
    assert err.value.response_code == 400
    assert sb.issue(p.id, 1)["title"] == "a" and len(sb.notes(p.id, 1)) == 0
    found = p.issues.list(labels="incident", **{"not": {"labels": "postmortem"}}, get_all=True)
    assert [i.title for i in found] == ["a"]


def test_wait_quiet_waits_for_a_bot_reacting_to_hooks(sb, world):
    """A receiver that answers at once and then calls the API later, like the bot's worker."""
    client = gl(sb, "bob")

    @Request.application
    def bot(request: Request) -> Response:
        payload = json.loads(request.get_data())
        if payload["object_kind"] == "note" and payload["user"]["username"] == "alice":
            iid = payload["issue"]["iid"]
            threading.Timer(0.1, lambda: client.projects.get(payload["project_id"], lazy=True)
                            .issues.get(iid, lazy=True).notes.create({"body": "ack"})).start()
        return Response("", status=202)

    server = make_server("127.0.0.1", 0, bot, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sb.add_hook(world["project"]["id"], f"http://127.0.0.1:{server.port}/", token="s")
        issue = project_as(sb, "alice").issues.create({"title": "t"})
        issue.notes.create({"body": "hello bot"})
        sb.wait_quiet(quiet=0.4, timeout=10)
        assert [n["body"] for n in sb.notes(world["project"]["id"], issue.iid)] == ["hello bot", "ack"]
        assert [d["status"] for d in sb.deliveries] == [202, 202, 202]
    finally:
        server.shutdown()
        server.server_close()
