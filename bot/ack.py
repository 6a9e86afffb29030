"""POST /webhook: verify, parse, store, acknowledge. Nothing here calls GitLab.

Answers 401 (token or signature), 413 (too large), 400 (malformed), 405 (not a POST), 200 (ignored or
duplicate), 202 (stored for the worker) or 503 (the store cannot be reached: not stored, so not
acknowledged, and GitLab can resend).

This one endpoint is a plain WSGI callable that reads the environ directly, mounted in front of the Flask
app (`mount`). Every delivery pays for this path, and under load Flask's request machinery (the request
context, its proxies and header objects) cost more than verifying, parsing and storing together
(benchmarks/webhook_ack.py, README "Measured").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Callable, Iterable, Protocol

from . import metrics
from .ackfirst import ACK_FIRST
from .commands import has_command
from .events import BadDelivery, Ignored, NoteEvent, parse_delivery
from .queue import QueueUnavailable, dedupe_key
from .timeutil import iso, utcnow

PATH = "/webhook"
# Headers kept with a stored delivery: what the worker needs, nothing secret.
KEPT_HEADERS = ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "Idempotency-Key", "X-Gitlab-Webhook-UUID",
                "X-Gitlab-Instance", "webhook-id")
SIGNATURE_TOLERANCE_SECONDS = 300
_STATUS = {200: "200 OK", 202: "202 Accepted", 400: "400 Bad Request", 401: "401 Unauthorized",
           405: "405 Method Not Allowed", 413: "413 Payload Too Large", 503: "503 Service Unavailable"}


class Dispatcher(Protocol):
    def submit(self, delivery: dict) -> bool: ...
    def healthy(self) -> bool: ...


def _environ_key(name: str) -> str:
    upper = name.upper().replace("-", "_")
    return upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper


class EnvironHeaders:
    """Case-insensitive, read-only header lookup straight from a WSGI environ (what parse_delivery and
    verify_signature need), without building a header object per request."""

    __slots__ = ("_environ",)

    def __init__(self, environ: dict):
        self._environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._environ.get(_environ_key(name), default)


_KEPT = tuple((h, _environ_key(h)) for h in KEPT_HEADERS)


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


def quick_ignore(event) -> str | None:
    """Cheap, pure reasons to skip a delivery before it is stored: nothing to do for it."""
    if isinstance(event, Ignored):
        return event.reason
    if isinstance(event, NoteEvent) and event.action == "update":
        return "an edited comment runs nothing"
    return None


class _Reject(Exception):
    def __init__(self, reason: str, status: int, message: str):
        super().__init__(message)
        self.reason, self.status = reason, status


class WebhookEndpoint:
    def __init__(self, cfg, dispatcher: Dispatcher):
        self.dispatcher = dispatcher
        self.max_body = cfg.max_body_bytes
        self.secret = cfg.webhook_secret.encode() if cfg.webhook_secret else None
        self.signing_token = cfg.signing_token
        self.prefix = cfg.prefix

    def mount(self, app: Callable) -> Callable:
        """A WSGI app that sends /webhook here and everything else to `app`."""
        def dispatch(environ: dict, start_response) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == PATH:
                return self(environ, start_response)
            return app(environ, start_response)
        return dispatch

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self._answer(start_response, 405, {"error": "POST only"}, [("Allow", "POST")])
        metrics.delivery_received()
        ACK_FIRST.started()
        try:
            code, fields = self.handle(environ)
        except _Reject as exc:
            metrics.delivery_rejected(exc.reason)
            code, fields = exc.status, {"error": str(exc)}
        finally:
            ACK_FIRST.finished()
        return self._answer(start_response, code, fields)

    @staticmethod
    def _answer(start_response, code: int, fields: dict, extra: list | None = None) -> list[bytes]:
        body = json.dumps(fields).encode()
        start_response(_STATUS[code], [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                       + (extra or []))
        return [body]

    def _too_large(self) -> _Reject:
        return _Reject("too_large", 413, f"body over {self.max_body} bytes")

    def _body(self, environ: dict) -> bytes:
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            try:
                n = int(length)
            except ValueError:
                raise _Reject("malformed", 400, "bad Content-Length") from None
            if n > self.max_body:
                raise self._too_large()
            return stream.read(n) if n > 0 else b""
        body = stream.read(self.max_body + 1)  # no length (chunked): the server ends the stream
        if len(body) > self.max_body:
            raise self._too_large()
        return body

    def handle(self, environ: dict) -> tuple[int, dict]:
        if self.secret is not None:
            token = environ.get("HTTP_X_GITLAB_TOKEN", "")
            if not hmac.compare_digest(token.encode(), self.secret):
                raise _Reject("token", 401, "missing or wrong X-Gitlab-Token")
        body = self._body(environ)
        headers = EnvironHeaders(environ)
        if self.signing_token:
            reason = verify_signature(self.signing_token, headers, body)
            if reason:
                raise _Reject("signature", 401, reason)
        try:
            event = parse_delivery(headers, body)
        except BadDelivery as exc:
            raise _Reject("malformed", 400, str(exc)) from None
        ignored = quick_ignore(event)
        if ignored is None and isinstance(event, NoteEvent) and "@" not in event.body \
                and not has_command(event.body, self.prefix, None):
            ignored = "no command"
        if ignored:
            return 200, {"status": "ignored", "reason": ignored}

        kept = {name: v for name, key in _KEPT if (v := environ.get(key)) is not None}
        issue = getattr(event, "issue", None)
        delivery = {
            "id": kept.get("Idempotency-Key") or str(uuid.uuid4()),
            "dedupe_key": dedupe_key(kept, body, event.kind, event.object_id),
            "issue_key": f"{issue.project_id}:{issue.iid}" if issue else None,
            "event": kept.get("X-Gitlab-Event"),
            "headers": kept,
            "body": body.decode("utf-8", "replace"),
            "received_at": iso(utcnow()),
        }
        try:
            accepted = self.dispatcher.submit(delivery)  # the queue counts accepted and duplicate deliveries
        except QueueUnavailable:
            raise _Reject("queue_unavailable", 503, "the delivery store cannot be reached") from None
        if not accepted:
            return 200, {"status": "duplicate"}
        return 202, {"status": "accepted", "id": delivery["id"]}
