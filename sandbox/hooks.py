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


# -- auto-disabling (app/models/concerns/web_hooks/auto_disabling.rb) --------------------------------
# A project hook that fails (any answer but 2xx/3xx, or no answer) counts `recent_failures`; past 3 in a row
# each failure disables it for INITIAL_BACKOFF * 2**(failures - 3), clamped to [1 minute, 1 day]; past 39
# it is disabled for good. A success resets the count. A disabled hook is not fired: its events are dropped.
TEMPORARILY_DISABLED_FAILURE_THRESHOLD = 3
PERMANENTLY_DISABLED_FAILURE_THRESHOLD = 39
INITIAL_BACKOFF, MAX_BACKOFF = 60.0, 86400.0


def temporarily_disabled(hook: dict[str, Any], now: float) -> bool:
    until = hook.get("disabled_until")
    return (until is not None and until >= now and TEMPORARILY_DISABLED_FAILURE_THRESHOLD
            < hook["recent_failures"] <= PERMANENTLY_DISABLED_FAILURE_THRESHOLD)


def permanently_disabled(hook: dict[str, Any]) -> bool:
    return hook["recent_failures"] > PERMANENTLY_DISABLED_FAILURE_THRESHOLD


def executable(hook: dict[str, Any], now: float) -> bool:
    return not temporarily_disabled(hook, now) and not permanently_disabled(hook)


def alert_status(hook: dict[str, Any], now: float) -> str:
    if temporarily_disabled(hook, now):
        return "temporarily_disabled"
    return "disabled" if permanently_disabled(hook) else "executable"


def enable(hook: dict[str, Any]) -> None:
    hook.update(recent_failures=0, disabled_until=None)


def backoff(hook: dict[str, Any], now: float) -> None:
    """One more failure (only while the hook is executable, as GitLab's `backoff!`)."""
    if not executable(hook, now):
        return
    failures = hook["recent_failures"]
    if failures + 1 > TEMPORARILY_DISABLED_FAILURE_THRESHOLD:
        delay = INITIAL_BACKOFF * 2.0 ** max(failures - TEMPORARILY_DISABLED_FAILURE_THRESHOLD, 0)
        hook["disabled_until"] = now + min(max(delay, INITIAL_BACKOFF), MAX_BACKOFF)
    hook["recent_failures"] = min(failures + 1, PERMANENTLY_DISABLED_FAILURE_THRESHOLD + 1)


def record_outcome(hook: dict[str, Any], status: int | None, now: float) -> None:
    """WebHooks::LogExecutionService: :ok (2xx, 3xx) enables; anything else backs off."""
    if status is not None and 200 <= status < 400:
        enable(hook)
    else:
        backoff(hook, now)


class RecursionDetection:
    """lib/gitlab/web_hooks/recursion_detection.rb: per event UUID, the hooks already fired in its chain.
    A call that carries X-Gitlab-Event-UUID (made by a webhook's receiver) fires no hook of that chain
    again, nor any once the chain has fired COUNT_LIMIT hooks. Entries live 30 minutes."""

    COUNT_LIMIT = 100
    TTL = 1800.0

    def __init__(self) -> None:
        self._chains: dict[str, tuple[float, set[int]]] = {}
        self.blocked: list[dict[str, Any]] = []

    def _ids(self, event_uuid: str, now: float) -> set[int]:
        touched, ids = self._chains.get(event_uuid, (now, set()))
        return ids if now - touched <= self.TTL else set()

    def block(self, hook: dict[str, Any], event_uuid: str, chained: bool, now: float) -> bool:
        if not chained:  # not made by a webhook's receiver: no recursion is possible
            return False
        ids = self._ids(event_uuid, now)
        if hook["id"] in ids or len(ids) >= self.COUNT_LIMIT:
            self.blocked.append({"hook_id": hook["id"], "event_uuid": event_uuid})
            return True
        return False

    def register(self, hook: dict[str, Any], event_uuid: str, now: float) -> None:
        ids = self._ids(event_uuid, now)
        ids.add(hook["id"])
        self._chains[event_uuid] = (now, ids)


HOOK_EVENT_FLAGS = ("push_events", "tag_push_events", "merge_requests_events", "repository_update_events",
                    "enable_ssl_verification", "issues_events", "confidential_issues_events", "note_events",
                    "confidential_note_events", "pipeline_events", "wiki_page_events", "deployment_events",
                    "job_events", "releases_events", "emoji_events", "resource_access_token_events",
                    "feature_flag_events", "milestone_events")


def hook_entity(hook: dict[str, Any], now: float) -> dict[str, Any]:
    """API::Entities::ProjectHook: every field but the token and the signing key, which GitLab never shows."""
    from datetime import datetime, timezone

    from .clock import iso
    until = hook.get("disabled_until")
    return {"id": hook["id"], "url": hook["url"], "name": hook.get("name") or "",
            "description": hook.get("description") or "", "project_id": hook["project_id"],
            **{flag: bool(hook.get(flag, flag in ("push_events", "enable_ssl_verification")))
               for flag in HOOK_EVENT_FLAGS},
            "created_at": hook.get("created_at"), "push_events_branch_filter": None,
            "branch_filter_strategy": "wildcard", "custom_webhook_template": None, "custom_headers": [],
            "url_variables": [], "alert_status": alert_status(hook, now),
            "disabled_until": iso(datetime.fromtimestamp(until, timezone.utc)) if until is not None else None}
