"""The pure half of the webhook door, pinned where mutation testing found it loose (docs/testing.md):
the signature's every reason, the stored delivery's exact shape, the guards' reasons."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from conftest import load_fixture
from werkzeug.datastructures import Headers

from bot.config import load_config
from bot.events import event_to_dict, parse_delivery
from bot.queue import dedupe_key
from bot.webhook import (
    SIGNATURE_TOLERANCE_SECONDS,
    ignored_key,
    stored_delivery,
    token_matches,
    triggers_nothing,
    verify_signature,
)

RAW = b"k" * 32
KEY = "whsec_" + base64.b64encode(RAW).decode()
NOW = 1_800_000_000
BODY = b'{"x": 1}'


def signed(key_bytes: bytes = RAW, msg_id: str = "msg_1", stamp: int = NOW, body: bytes = BODY) -> str:
    return "v1," + base64.b64encode(hmac.new(key_bytes, f"{msg_id}.{stamp}.".encode() + body,
                                             hashlib.sha256).digest()).decode()


def headers(**over) -> Headers:
    h = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": signed()}
    h.update(over)
    return Headers([(k, v) for k, v in h.items() if v is not None])


@pytest.mark.parametrize("over, reason", [
    ({}, None),
    ({"webhook-id": None}, "signature headers missing"),
    ({"webhook-timestamp": None}, "signature headers missing"),
    ({"webhook-signature": None}, "signature headers missing"),
    ({"webhook-timestamp": "soon"}, "bad signature timestamp"),
    ({"webhook-signature": "v1,AAAA"}, "signature mismatch"),
    ({"webhook-signature": "v2," + signed()[3:]}, "signature mismatch"),
    ({"webhook-signature": "v1,AAAA " + signed()}, None),  # key rotation: any one that matches
])
def test_signature_reasons(over, reason):
    assert verify_signature(KEY, headers(**over), BODY, now=NOW) == reason


def test_signature_time_tolerance_is_inclusive_and_symmetric():
    for skew in (SIGNATURE_TOLERANCE_SECONDS, -SIGNATURE_TOLERANCE_SECONDS):
        assert verify_signature(KEY, headers(), BODY, now=NOW + skew) is None
        assert verify_signature(KEY, headers(), BODY, now=NOW + skew + (1 if skew > 0 else -1)) == \
            "signature timestamp too far from now"


def test_signature_header_names_are_matched_as_sent_lowercase_in_a_plain_mapping():
    plain = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": signed()}
    assert verify_signature(KEY, plain, BODY, now=NOW) is None


def test_a_key_without_the_whsec_prefix_and_a_key_that_is_not_base64():
    b64 = base64.b64encode(RAW).decode()
    assert verify_signature(b64, headers(), BODY, now=NOW) is None  # no prefix: the same key
    raw_text = "not base64!"
    assert verify_signature(raw_text, headers(**{"webhook-signature": signed(raw_text.encode())}), BODY,
                            now=NOW) is None


def test_token_comparison():
    assert token_matches("s", "s") and not token_matches("s", None) and not token_matches("s", "t")
    assert token_matches("", None)  # no secret configured (--insecure): no token to match


def note_event(text="/incident status", action="create"):
    payload = load_fixture("note_hook_issue.json")
    payload["object_attributes"]["note"], payload["object_attributes"]["action"] = text, action
    body = json.dumps(payload).encode()
    return body, parse_delivery({"X-Gitlab-Event": "Note Hook"}, body)


def test_the_stored_delivery_is_exactly_what_the_worker_needs():
    body, event = note_event()
    h = Headers({"X-Gitlab-Event": "Note Hook", "X-Gitlab-Event-UUID": "u-1", "Idempotency-Key": "k-1",
                 "X-Gitlab-Token": "secret", "X-Gitlab-Instance": "https://gitlab.example"})
    d = stored_delivery(h, body, event)
    kept = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Event-UUID": "u-1", "Idempotency-Key": "k-1",
            "X-Gitlab-Instance": "https://gitlab.example"}
    received = d.pop("received_at")
    assert d == {"id": "k-1", "dedupe_key": dedupe_key(kept, body, event.kind, event.object_id),
                 "issue_key": f"{event.issue.project_id}:{event.issue.iid}", "event": "Note Hook",
                 "headers": kept, "parsed": event_to_dict(event)}
    assert received.endswith("Z") and len(received) == 20
    assert "X-Gitlab-Token" not in d["headers"]  # nothing secret is stored
    assert d["dedupe_key"] == ignored_key(h, body, event) == dedupe_key(kept, None, None, None)
    without_key = stored_delivery(Headers({"X-Gitlab-Event": "Note Hook", "X-Gitlab-Event-UUID": "u-1"}),
                                  body, event)
    assert len(without_key["id"]) == 36 and without_key["id"] != stored_delivery(
        Headers({"X-Gitlab-Event": "Note Hook"}), body, event)["id"]  # a fresh id each time
    assert without_key["dedupe_key"] == dedupe_key({"X-Gitlab-Event-UUID": "u-1"}, body, event.kind,
                                                   event.object_id) != dedupe_key({"X-Gitlab-Event-UUID": "u-1"},
                                                                                  body, None, None)


def test_the_guards_reasons_at_the_door():
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": "s"})
    assert triggers_nothing(note_event(action="update")[1], cfg) == "an edited comment runs nothing"
    assert triggers_nothing(note_event("just chatting")[1], cfg) == "no command"
    assert triggers_nothing(note_event("@incident-bot status")[1], cfg) is None  # a mention: kept
    assert triggers_nothing(note_event("/incident status")[1], cfg) is None
    payload = load_fixture("issue_hook.json")
    payload["changes"] = {"title": {"previous": "a", "current": "b"}}
    payload["labels"] = payload["object_attributes"]["labels"] = []
    event = parse_delivery({"X-Gitlab-Event": "Issue Hook"}, json.dumps(payload).encode())
    assert triggers_nothing(event, cfg) == "no label or state change the bot reacts to"


def test_an_ignored_delivery_without_any_key_is_remembered_by_its_body():
    body, event = note_event("just chatting")
    other_body, other = note_event("still chatting")
    bare = Headers({"X-Gitlab-Event": "Note Hook"})
    assert ignored_key(bare, body, event) == dedupe_key({"X-Gitlab-Event": "Note Hook"}, body, event.kind,
                                                        event.object_id)
    assert ignored_key(bare, body, event) != ignored_key(bare, other_body, other)
    with_uuid = Headers({"X-Gitlab-Event-UUID": "u-9"})
    assert ignored_key(with_uuid, body, event) == dedupe_key({"X-Gitlab-Event-UUID": "u-9"}, b"", event.kind,
                                                             event.object_id)
    assert stored_delivery(bare, body, event)["dedupe_key"] != stored_delivery(bare, other_body, other)["dedupe_key"]


def test_the_app_refuses_to_start_without_a_secret_and_says_how():
    from bot.app import create_app

    with pytest.raises(ValueError) as err:
        create_app(load_config(env={}), None)
    assert str(err.value) == "INCIDENT_BOT_WEBHOOK_SECRET is not set; refusing to run without it (use --insecure)"
