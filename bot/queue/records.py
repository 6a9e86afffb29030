"""The delivery record: its statuses and its fields, shared by the SQLite and the Redis store."""

from __future__ import annotations

PENDING = ("queued", "retrying", "running")
STATUSES = ("queued", "running", "retrying", "done", "failed", "dead")

_FIELDS = (
    "id", "pos", "lane", "issue_key", "event", "status", "attempts", "last_error", "received_at", "dedupe_key",
    "payload", "next_at", "claim", "owner", "started_at", "created_at", "updated_at", "finished_at",
)
_INT_FIELDS = ("pos", "attempts")
_FLOAT_FIELDS = ("next_at", "started_at", "created_at", "updated_at", "finished_at")
