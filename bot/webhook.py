"""The pure half of POST /webhook: check the secret and the signature, and decide at the door whether
a delivery will trigger anything (bot/app.py does the HTTP).

A delivery is parsed once, here; the guards that need no GitLab call run once, here: an unknown event,
a note on something other than an issue, a system note, an edited note, a note with no command, an
issue event with no change the bot reacts to. Such a delivery is answered 200 and only its dedupe key
is kept. The queue keeps the parsed event (not the body), and the worker rebuilds it from that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from .commands import has_command
from .config import Config
from .events import Event, Ignored, IssueEvent, NoteEvent, event_to_dict
from .queue import dedupe_key
from .timeutil import iso, utcnow
from .wiring import ROUTER

# Headers kept with a stored delivery: what the worker needs, nothing secret.
KEPT_HEADERS = ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "Idempotency-Key", "X-Gitlab-Webhook-UUID",
                "X-Gitlab-Instance", "webhook-id")
SIGNATURE_TOLERANCE_SECONDS = 300


def token_matches(secret: str, token: str | None) -> bool:
    """Constant-time comparison of the X-Gitlab-Token header with the configured secret."""
    return hmac.compare_digest((token or "").encode(), secret.encode())


def verify_signature(key: str, headers, body: bytes, now: float | None = None) -> str | None:
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">. Returns a reason when invalid."""
    msg_id, stamp, signatures = (headers.get("webhook-id"), headers.get("webhook-timestamp"),
                                 headers.get("webhook-signature"))
    if not (msg_id and stamp and signatures):
        return "signature headers missing"
    try:
        sent = int(stamp)
    except ValueError:
        return "bad signature timestamp"
    if abs((now or time.time()) - sent) > SIGNATURE_TOLERANCE_SECONDS:
        return "signature timestamp too far from now"
    secret = key[len("whsec_"):] if key.startswith("whsec_") else key
    try:
        raw = base64.b64decode(secret)
    except ValueError:
        raw = secret.encode()
    expected = base64.b64encode(hmac.new(raw, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return None
    return "signature mismatch"


def quick_ignore(event: Event) -> str | None:
    """Cheap, pure reasons a delivery needs no work: the parser's own (unknown event, system note, a
    note on a merge request), or an edited comment."""
    if isinstance(event, Ignored):
        return event.reason
    if isinstance(event, NoteEvent) and event.action == "update":
        return "an edited comment runs nothing"
    return None


def triggers_nothing(event: Event, cfg: Config) -> str | None:
    """Why this delivery will trigger nothing, or None when a worker must look at it. The bot's
    user name is not known here (it needs a GitLab call), so a note with any mention is kept."""
    reason = quick_ignore(event)
    if reason:
        return reason
    if isinstance(event, NoteEvent) and "@" not in event.body and not has_command(event.body, cfg.prefix, None):
        return "no command"
    if isinstance(event, IssueEvent) and not ROUTER.triggers_for(event, cfg):
        return "no label or state change the bot reacts to"
    return None


def stored_delivery(headers, body: bytes, event: IssueEvent | NoteEvent) -> dict:
    """What the queue keeps of a delivery to process: the processor's input."""
    kept = {name: v for name in KEPT_HEADERS if (v := headers.get(name)) is not None}
    issue = event.issue
    return {
        "id": kept.get("Idempotency-Key") or str(uuid.uuid4()),
        "dedupe_key": dedupe_key(kept, body, event.kind, event.object_id),
        "issue_key": f"{issue.project_id}:{issue.iid}",
        "event": kept.get("X-Gitlab-Event"),
        "headers": kept,
        "parsed": event_to_dict(event),
        "received_at": iso(utcnow()),
    }


def ignored_key(headers, body: bytes, event: Event) -> str:
    kept = {name: v for name in KEPT_HEADERS if (v := headers.get(name)) is not None}
    return dedupe_key(kept, body, event.kind, event.object_id)
