"""The idempotency (dedupe) key of a delivery."""

from __future__ import annotations

import hashlib
from typing import Any


def dedupe_key(headers: dict | None, body: bytes | str | None, event_kind: str | None, object_id: Any) -> str:
    """The idempotency key of a delivery.

    ``Idempotency-Key`` (GitLab 17.4+) when present; else ``X-Gitlab-Event-UUID`` + event kind + object id
    (one UUID is shared by a chain of hooks triggered by one event, so the UUID alone is not enough);
    else the sha256 of the body. Header names are matched case-insensitively.
    """
    lower = {str(k).lower(): v for k, v in (headers or {}).items()}
    idem = str(lower.get("idempotency-key") or "").strip()
    if idem:
        return "idem:" + idem
    event_uuid = str(lower.get("x-gitlab-event-uuid") or "").strip()
    if event_uuid:
        return f"uuid:{event_uuid}:{event_kind or ''}:{'' if object_id is None else object_id}"
    if isinstance(body, str):
        body = body.encode("utf-8")
    return "sha256:" + hashlib.sha256(body or b"").hexdigest()
