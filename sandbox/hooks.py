"""Webhook delivery: GitLab's headers, Standard Webhooks signing, one sender thread in order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from typing import Any, Callable

import requests

from .payloads import hook_event_name

EVENT_FLAG = {"Issue Hook": "issues_events", "Confidential Issue Hook": "confidential_issues_events",
              "Note Hook": "note_events", "Confidential Note Hook": "confidential_note_events"}


def sign(signing_key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(signing_key.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def build_request(hook: dict[str, Any], payload: dict[str, Any], event_uuid: str, instance: str,
                  now: float) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    key = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "User-Agent": "GitLab/19.0.0",
               "X-Gitlab-Event": hook_event_name(payload), "X-Gitlab-Webhook-UUID": hook["uuid"],
               "X-Gitlab-Instance": instance, "X-Gitlab-Event-UUID": event_uuid, "Idempotency-Key": key}
    if hook.get("token"):
        headers["X-Gitlab-Token"] = hook["token"]
    if hook.get("signing_key"):
        ts = int(now)
        headers.update({"webhook-id": key, "webhook-timestamp": str(ts),
                        "webhook-signature": sign(hook["signing_key"], key, ts, body)})
    return headers, body


def wants(hook: dict[str, Any], event: str) -> bool:
    return bool(hook.get(EVENT_FLAG[event]))


class Sender:
    """Sends queued deliveries one at a time, in order, and records each answer."""

    def __init__(self, record: Callable[[dict[str, Any]], None], timeout: float = 10.0):
        self._record = record
        self._timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending = 0
        self.enqueued = 0  # every delivery ever queued: a waiter sees one queued while it looked away
        self._idle = threading.Condition()
        self._session = requests.Session()
        self._thread: threading.Thread | None = None
        self.last_activity = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=self._timeout + 1)
            self._thread = None

    def enqueue(self, delivery: dict[str, Any]) -> None:
        with self._idle:
            self._pending += 1
            self.enqueued += 1
        self._queue.put(delivery)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def pending(self) -> int:
        return self._pending

    def _run(self) -> None:
        while (delivery := self._queue.get()) is not None:
            started = time.monotonic()
            try:
                resp = self._session.post(delivery["url"], data=delivery["body"], headers=delivery["headers"],
                                          timeout=self._timeout)
                delivery.update(status=resp.status_code, response=resp.text[:2000], error=None)
            except requests.RequestException as exc:  # GitLab records a failed delivery, status "internal error"
                delivery.update(status=None, response=None, error=str(exc))
            delivery["duration"] = time.monotonic() - started
            self._record(delivery)
            with self._idle:
                self._pending -= 1
                self.last_activity = time.monotonic()
                self._idle.notify_all()
