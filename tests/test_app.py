"""The webhook's front door: secret, signature, size, malformed input, ignoring, dedupe, health."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from conftest import FIXTURES

from bot.app import create_app
from bot.cli import main
from bot.compose import build_queue
from bot.config import load_config
from bot.queue import DeliveryQueue

SECRET = "topsecret"
NOTE = (FIXTURES / "note_hook_issue.json").read_text()


_OPENED: list[DeliveryQueue] = []


@pytest.fixture(autouse=True)
def _close_queues():
    """Close the queues a test made."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def make(tmp_path, **env):
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": SECRET, **env})
    cfg.data["queue"]["sqlite_path"] = str(tmp_path / "q.db")
    queue = build_queue(cfg)
    _OPENED.append(queue)
    return create_app(cfg, queue).test_client(), queue


def note_body(text="/incident status", action="create"):
    payload = json.loads(NOTE)
    payload["object_attributes"]["note"] = text
    payload["object_attributes"]["action"] = action
    return json.dumps(payload)


def post(client, body, token=SECRET, event="Note Hook", **headers):
    hdrs = {"X-Gitlab-Event": event, "Content-Type": "application/json", **headers}
    if token is not None:
        hdrs["X-Gitlab-Token"] = token
    return client.post("/webhook", data=body, headers=hdrs)


def test_token_is_required_and_nothing_is_queued(tmp_path):
    client, queue = make(tmp_path)
    assert post(client, note_body(), token=None).status_code == 401
    assert post(client, note_body(), token="wrong").status_code == 401
    assert post(client, note_body(), token=SECRET + "x").status_code == 401
    assert queue.list() == []


def test_accepted_then_duplicate(tmp_path):
    client, queue = make(tmp_path)
    first = post(client, note_body(), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 202 and first.json["status"] == "accepted"
    again = post(client, note_body(), **{"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert len(queue.list()) == 1


def test_oversized_body_is_413(tmp_path):
    client, queue = make(tmp_path)
    huge = note_body("x" * (16 * 1024 * 1024 + 10))
    resp = post(client, huge)
    assert resp.status_code == 413 and "over 16777216 bytes" in resp.json["error"]
    assert queue.list() == []
    assert post(client, huge, token="wrong").status_code == 401  # the token is checked first


def test_the_server_refuses_a_large_body_before_reading_it(tmp_path):
    """Issue 12: waitress spooled up to 1 GiB of an unauthenticated body before the 401. The server
    `serve` runs (here through LocalBot, with the same options) answers 413 on the headers alone."""
    import socket

    from sandbox.local import LocalBot

    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": SECRET})
    cfg.data["queue"]["sqlite_path"] = str(tmp_path / "q.db")
    with LocalBot(cfg, workers=False) as bot:
        host, port = bot.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\n"
                         b"Content-Length: 100000000\r\n\r\n" + b"x" * 1000)  # the rest is never sent
            answer = conn.recv(200).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer


def test_a_delivery_that_triggers_nothing_keeps_only_its_key(tmp_path):
    """Issue 12: every accepted delivery was kept 24 h, even those that trigger nothing."""
    client, queue = make(tmp_path)
    issue = json.loads((FIXTURES / "issue_hook.json").read_text())  # a label change the bot ignores
    for _ in range(2):
        resp = post(client, json.dumps(issue), event="Issue Hook", **{"Idempotency-Key": "k-issue"})
        assert resp.status_code == 200 and resp.json["status"] == "ignored"
        resp = post(client, note_body("no command here"), **{"Idempotency-Key": "k-note"})
        assert resp.status_code == 200 and resp.json["reason"] == "no command"
    assert queue.list() == [] and queue.depth() == 0
    assert queue.remember("idem:k-issue") is False and queue.remember("idem:k-note") is False


@pytest.mark.parametrize("body,event", [
    ("not json", "Note Hook"),
    ("[]", "Issue Hook"),
    ('{"object_kind": "issue", "object_attributes": {"iid": "x"}}', "Issue Hook"),
    ('{"object_kind": "note", "object_attributes": {"noteable_type": "Issue", "note": 5}}', "Note Hook"),
])
def test_malformed_is_400_with_reason_never_500(tmp_path, body, event):
    client, queue = make(tmp_path)
    resp = post(client, body, event=event)
    assert resp.status_code == 400 and resp.json["error"]
    assert queue.list() == []


def test_missing_event_header_is_400(tmp_path):
    client, _ = make(tmp_path)
    resp = client.post("/webhook", data=note_body(), headers={"X-Gitlab-Token": SECRET})
    assert resp.status_code == 400 and "X-Gitlab-Event" in resp.json["error"]


@pytest.mark.parametrize("body,event", [
    ((FIXTURES / "note_hook_merge_request.json").read_text(), "Note Hook"),
    (note_body("just a comment"), "Note Hook"),
    (note_body("/incident resolve", action="update"), "Note Hook"),
    ('{"object_kind": "emoji"}', "Emoji Hook"),
    ('{"object_kind": "push", "user_username": "x"}', "Push Hook"),
    # A group hook's epic: a work item without a project (issue 14, item 6): 200, not a 400 toward disabling.
    ('{"object_kind": "work_item", "project": null, "user": {"id": 1, "username": "root"},'
     ' "object_attributes": {"iid": 3, "project_id": null, "type": "Epic", "action": "open", "title": "Q3"}}',
     "Issue Hook"),
])
def test_ignored_events_get_200_and_are_not_queued(tmp_path, body, event):
    client, queue = make(tmp_path)
    resp = post(client, body, event=event)
    assert resp.status_code == 200 and resp.json["status"] == "ignored"
    assert queue.list() == []


def sign(key_b64, msg_id, stamp, body):
    digest = hmac.new(base64.b64decode(key_b64), f"{msg_id}.{stamp}.".encode() + body.encode(), hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def test_standard_webhooks_signature(tmp_path):
    key = base64.b64encode(b"k" * 32).decode()
    client, queue = make(tmp_path, INCIDENT_BOT_SIGNING_TOKEN="whsec_" + key)
    body = note_body()
    now = str(int(time.time()))
    good = {"webhook-id": "msg_1", "webhook-timestamp": now, "webhook-signature": sign(key, "msg_1", now, body)}
    assert post(client, body, **good).status_code == 202
    assert post(client, body, **{**good, "webhook-signature": "v1,AAAA"}).status_code == 401
    assert post(client, body).status_code == 401  # headers missing
    old = str(int(time.time()) - 301)
    stale = {"webhook-id": "msg_2", "webhook-timestamp": old, "webhook-signature": sign(key, "msg_2", old, body)}
    assert post(client, body, **stale).status_code == 401
    assert len(queue.list()) == 1


def test_healthz_and_metrics(tmp_path):
    client, _ = make(tmp_path)
    assert client.get("/healthz").status_code == 200
    post(client, note_body(), token="wrong")
    text = client.get("/metrics").get_data(as_text=True)
    assert "deliveries_received_total" in text and 'deliveries_rejected_total{reason="token"}' in text


def test_unreachable_queue_store_gives_503_not_a_lost_delivery(tmp_path):
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": SECRET, "INCIDENT_BOT_QUEUE": "redis://127.0.0.1:1/0"})
    queue = build_queue(cfg)
    client = create_app(cfg, queue).test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["status"] == "unavailable"
    assert health.json["checks"]["queue"].startswith("the redis queue store cannot be reached: ConnectionError")
    resp = post(client, note_body())
    assert resp.status_code == 503 and "cannot be reached" in resp.json["error"]


def test_serve_refuses_to_start_without_a_secret(monkeypatch, capsys):
    monkeypatch.delenv("INCIDENT_BOT_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("GITLAB_TOKEN", "x")
    assert main(["serve", "--port", "0"]) == 2
    assert "INCIDENT_BOT_WEBHOOK_SECRET" in capsys.readouterr().err
    with pytest.raises(ValueError):
        create_app(load_config(env={}), None)


def test_the_queue_keeps_the_parsed_event_not_the_body(tmp_path):
    """A delivery is parsed once: the worker rebuilds the event the door parsed (issue 13)."""
    from bot.events import event_from_dict, parse_delivery

    client, queue = make(tmp_path)
    body = note_body("/incident update\nsummary: x")
    resp = post(client, body)
    assert resp.status_code == 202
    stored = queue.get(resp.get_json()["id"])
    assert "body" not in stored
    assert event_from_dict(stored["parsed"]) == parse_delivery({"X-Gitlab-Event": "Note Hook"}, body)
