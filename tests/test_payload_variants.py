"""Real payload variants through `POST /webhook` to the reply (issue 16, section 3): the shapes older and
newer GitLabs send (../shared/fixtures/gitlab-docs/README.md), Standard Webhooks signatures under key
rotation and from the future, and a chunked body over the size limit. Each variant of a real delivery
the sandbox recorded is sent as a new delivery, and the bot must answer it as it answers the original."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import socket
import time

import pytest
from world import World

SIGNING_KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_KEY = "whsec_" + base64.b64encode(b"o" * 32).decode()


def last(world, event: str, needle: str) -> int:
    return max(i for i, d in enumerate(world.sb.deliveries) if d["event"] == event and needle in d["body"].decode())


def without(payload: dict, *paths: str) -> dict:
    p = copy.deepcopy(payload)
    for path in paths:
        *parents, key = path.split(".")
        node = p
        for name in parents:
            node = node.get(name) or {}
        node.pop(key, None)
    return p


def status_variants(payload: dict) -> dict[str, dict]:
    """A `/incident status` note as GitLabs from 2015 to 2026 sent it."""
    old_stamps = copy.deepcopy(payload)
    old_stamps["object_attributes"]["created_at"] = "2017-12-10 16:37:38 UTC"
    old_stamps["object_attributes"]["updated_at"] = "2023-05-25T22:21:16+05:30"
    redacted = copy.deepcopy(payload)
    redacted["user"]["email"] = "[REDACTED]"
    labels_only_top = without(payload, "issue.labels")
    return {
        "as sent": payload,
        "user without id (before about 2020)": without(payload, "user.id", "user.email"),
        "no event_type (before GitLab 11)": without(payload, "event_type"),
        "no action on the note (older versions)": without(payload, "object_attributes.action"),
        "email redacted (gitlab.com)": redacted,
        "no project object, project_id only": without(payload, "project", "repository"),
        "timestamps in older and offset shapes": old_stamps,
        "no labels on the issue object": labels_only_top,
    }


def held_back(world, act, event: str, needle: str) -> dict:
    """Do `act` while GitLab's webhooks do not reach the bot; the delivery it recorded (index, payload).
    The bot's hook is restored afterwards, so the test sends that delivery in the shape it chooses."""
    world.deliver_by_hand()
    act()
    world.sb.wait_idle(20)
    world.sb.store.hooks[world.pid][0]["url"] = world.bot.webhook_url
    index = last(world, event, needle)
    return {"index": index, "payload": json.loads(world.sb.deliveries[index]["body"])}


@pytest.mark.parametrize("variant", sorted(status_variants({"user": {}, "object_attributes": {}}).keys()))
def test_every_note_shape_is_answered_end_to_end(world, variant):
    iid = world.declare()
    held = held_back(world, lambda: world.comment(iid, "/incident status"), "Note Hook", "/incident status")
    replies = len(world.bot_notes(iid))
    answer = world.deliver_again(held["index"], payload=status_variants(held["payload"])[variant])
    assert answer["status"] == 202, answer
    assert len(world.bot_notes(iid)) == replies + 1 and world.kinds(iid)[-1] == "status"


def test_an_internal_note_in_the_old_shape_gets_an_internal_reply(world):
    """An internal note carries no flag on the note: the header (and event_type) tell; the bot reads the
    note from GitLab and answers internally even when the payload says nothing."""
    iid = world.declare()
    held = held_back(world, lambda: world.comment(iid, "/incident status", internal=True),
                     "Confidential Note Hook", "/incident status")
    payload = without(held["payload"], "event_type", "user.id")
    assert world.deliver_again(held["index"], payload=payload)["status"] == 202
    assert world.kinds(iid)[-1] == "status" and world.bot_notes(iid)[-1]["internal"] is True


def test_a_work_item_close_is_answered_end_to_end(world):
    """A 2026 incident's close arrives as object_kind work_item (event_type work_item), with the close
    shown as state_id 1 -> 2: the bot resolves it as it does an `issue` close."""
    iid = world.declare()
    held = held_back(world, lambda: world.edit_issue(iid, state_event="close"), "Issue Hook", '"close"')
    payload = dict(held["payload"], object_kind="work_item", event_type="work_item",
                   changes={"state_id": {"previous": 1, "current": 2}})
    assert world.deliver_again(held["index"], payload=payload)["status"] == 202
    assert world.state(iid).status == "resolved"


# -- Standard Webhooks signatures ---------------------------------------------------------------------
@pytest.fixture
def signed(tmp_path):
    w = World(str(tmp_path), signing_key=SIGNING_KEY, env={"INCIDENT_BOT_SIGNING_TOKEN": SIGNING_KEY})
    yield w
    w.close()


def sign(key: str, msg_id: str, stamp: int, body: bytes) -> str:
    raw = base64.b64decode(key.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(raw, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()


def resend_signed(w: World, index: int, signatures, stamp: int) -> int:
    """POST recorded delivery `index` with a new message id, signed as `signatures(msg_id, stamp, body)`."""
    import requests

    old = w.sb.deliveries[index]
    msg_id = f"msg_{time.monotonic_ns()}"
    headers = dict(old["headers"], **{"Idempotency-Key": msg_id, "webhook-id": msg_id,
                                      "webhook-timestamp": str(stamp),
                                      "webhook-signature": signatures(msg_id, stamp, old["body"])})
    status = requests.post(w.bot.webhook_url, data=old["body"], headers=headers, timeout=10).status_code
    w.settle()
    return status


def test_a_signature_header_with_two_signatures_is_accepted_under_key_rotation(signed):
    iid = signed.declare()
    assert signed.kinds(iid) == ["initial", "guidance"]  # the sandbox signs, the bot verifies
    index = held_back(signed, lambda: signed.comment(iid, "/incident status"), "Note Hook",
                      "/incident status")["index"]
    now = int(time.time())
    rotated = resend_signed(signed, index, lambda m, s, b: f"{sign(OLD_KEY, m, s, b)} {sign(SIGNING_KEY, m, s, b)}",
                            now)
    assert rotated == 202 and signed.kinds(iid)[-1] == "status"
    only_old = resend_signed(signed, index, lambda m, s, b: sign(OLD_KEY, m, s, b), now)
    assert only_old == 401


@pytest.mark.parametrize("skew", [3600, -3600])
def test_a_signature_from_the_future_or_the_past_is_refused(signed, skew):
    iid = signed.declare()
    index = last(signed, "Note Hook", "/incident declare")
    replies = len(signed.bot_notes(iid))
    status = resend_signed(signed, index, lambda m, s, b: sign(SIGNING_KEY, m, s, b), int(time.time()) + skew)
    assert status == 401 and len(signed.bot_notes(iid)) == replies


# -- size ------------------------------------------------------------------------------------------------
def test_a_chunked_body_over_the_limit_is_413_not_a_truncated_400(tmp_path):
    w = World(str(tmp_path), config_yaml="max_body_bytes: 65536\n")
    try:
        host, port = w.bot.url.removeprefix("http://").split(":")
        chunk = b"x" * 16384
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\n"
                         b"X-Gitlab-Token: s3cret-token\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(8):  # 128 KiB in all, twice the limit
                    conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may stop reading once it has refused
            answer = conn.recv(200).decode("latin-1")
        assert answer.startswith("HTTP/1.1 413"), answer
        assert w.bot.queue.list() == []
    finally:
        w.close()
