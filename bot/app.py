"""The Flask app: verify, parse, store, acknowledge. Nothing here calls GitLab.

POST /webhook answers 401 (token or signature), 413 (too large), 400 (malformed), 200 (ignored or
duplicate) or 202 (stored for the worker). GET /healthz and GET /metrics for operators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Protocol

from flask import Flask, Response, request

from . import metrics
from .commands import has_command
from .config import Config
from .events import BadDelivery, Ignored, NoteEvent, parse_delivery
from .queue import QueueUnavailable, dedupe_key
from .timeutil import iso, utcnow

log = logging.getLogger("incident_bot.app")

# Headers kept with a stored delivery: what the worker needs, nothing secret.
KEPT_HEADERS = ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "Idempotency-Key", "X-Gitlab-Webhook-UUID",
                "X-Gitlab-Instance", "webhook-id")
SIGNATURE_TOLERANCE_SECONDS = 300


class Dispatcher(Protocol):
    def submit(self, delivery: dict) -> bool: ...
    def healthy(self) -> bool: ...


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


def _json(code: int, **fields) -> Response:
    # Flask's jsonify goes through the app's JSON provider; on the acknowledgement path every step counts.
    return Response(json.dumps(fields), code, mimetype="application/json")


def _reject(reason: str, status: int, message: str) -> Response:
    metrics.delivery_rejected(reason)
    return _json(status, error=message)


def quick_ignore(event) -> str | None:
    """Cheap, pure reasons to skip a delivery before it is stored: nothing to do for it."""
    if isinstance(event, Ignored):
        return event.reason
    if isinstance(event, NoteEvent) and event.action == "update":
        return "an edited comment runs nothing"
    return None


def create_app(cfg: Config, dispatcher: Dispatcher, *, insecure: bool = False) -> Flask:
    if not cfg.webhook_secret and not insecure:
        raise ValueError("INCIDENT_BOT_WEBHOOK_SECRET is not set; refusing to run without it (use --insecure)")
    app = Flask("incident_bot")
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes

    @app.post("/webhook")
    def webhook():
        metrics.delivery_received()
        if request.content_length is not None and request.content_length > cfg.max_body_bytes:
            return _reject("too_large", 413, f"body over {cfg.max_body_bytes} bytes")
        if cfg.webhook_secret:
            token = request.headers.get("X-Gitlab-Token", "")
            if not hmac.compare_digest(token.encode(), cfg.webhook_secret.encode()):
                return _reject("token", 401, "missing or wrong X-Gitlab-Token")
        body = request.get_data(cache=False)
        if len(body) > cfg.max_body_bytes:
            return _reject("too_large", 413, f"body over {cfg.max_body_bytes} bytes")
        if cfg.signing_token:
            reason = verify_signature(cfg.signing_token, request.headers, body)
            if reason:
                return _reject("signature", 401, reason)
        try:
            event = parse_delivery(request.headers, body)
        except BadDelivery as exc:
            return _reject("malformed", 400, str(exc))
        ignored = quick_ignore(event)
        if ignored is None and isinstance(event, NoteEvent) and not has_command(event.body, cfg.prefix, None) \
                and "@" not in event.body:
            ignored = "no command"
        if ignored:
            return _json(200, status="ignored", reason=ignored)

        headers = {h: v for h in KEPT_HEADERS if (v := request.headers.get(h)) is not None}
        issue = getattr(event, "issue", None)
        delivery = {
            "id": headers.get("Idempotency-Key") or str(uuid.uuid4()),
            "dedupe_key": dedupe_key(headers, body, event.kind, event.object_id),
            "issue_key": f"{issue.project_id}:{issue.iid}" if issue else None,
            "event": headers.get("X-Gitlab-Event"),
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "received_at": iso(utcnow()),
        }
        try:
            accepted = dispatcher.submit(delivery)  # the queue counts accepted and duplicate deliveries
        except QueueUnavailable:
            # Not stored, so not acknowledged: GitLab keeps the delivery and can resend it.
            return _reject("queue_unavailable", 503, "the delivery store cannot be reached")
        if not accepted:
            return _json(200, status="duplicate")
        return _json(202, status="accepted", id=delivery["id"])

    @app.errorhandler(413)
    def too_large(_exc):
        return _reject("too_large", 413, f"body over {cfg.max_body_bytes} bytes")

    @app.get("/healthz")
    def healthz():
        if dispatcher.healthy():
            return _json(200, status="ok")
        return _json(503, status="queue store unreachable")

    @app.get("/metrics")
    def metrics_endpoint():
        data, content_type = metrics.render()
        return Response(data, content_type=content_type)

    return app
