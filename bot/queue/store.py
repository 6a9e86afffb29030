"""The store protocol: what the delivery queue needs from SQLite or Redis, and nothing more.

A delivery is one row: its id, its dedupe key (unique within the dedupe window), its lane (the issue,
or ``solo:<id>``), its status, attempts, next try time and lease. A lane is processed in arrival order;
``claim`` hands out the oldest ready head of a lane whose head nobody holds, with a lease. A worker that
dies loses its lease when it runs out, and the head is claimed again (at least once; the processor is
idempotent).
"""

from __future__ import annotations

from typing import Protocol

PENDING = ("queued", "retrying", "running")
FINAL = ("done", "failed", "dead")
STATUSES = PENDING + FINAL
# The last error of a replayed delivery until its next try ends: that try may follow one that posted
# before it failed, so the processor is told it is a retry.
REPLAYED = "replayed"


class Store(Protocol):
    kind: str  # "sqlite" | "redis"

    def add(self, row: dict, now: float, dedupe_seconds: float) -> bool:
        """Store a new delivery (row: id, dedupe_key, lane, issue_key, event, payload, received_at).
        False when its id or its dedupe key (within the window) is already known."""

    def remember(self, dedupe_key: str, now: float, dedupe_seconds: float) -> bool:
        """Keep only the dedupe key of a delivery that triggers nothing. False when already known."""

    def claim(self, claim: str, now: float, lease_seconds: float) -> dict | None:
        """Lease the oldest ready lane head (queued, retrying and due, or running with an expired lease);
        its attempts go up by one. None when nothing is ready."""

    def extend(self, delivery_id: str, claim: str, until: float) -> bool:
        """Keep a lease: False when the claim was lost."""

    def finish(self, delivery_id: str, claim: str, status: str, now: float, error: str | None = None,
               next_at: float | None = None) -> bool:
        """Record an outcome: done, failed, dead (the lane moves on), retrying (the lane waits until
        next_at) or queued (released). False when the claim was lost."""

    def replay(self, delivery_id: str, now: float) -> bool:
        """Queue a done, failed or dead delivery again at the end of its lane, attempts reset."""

    def list(self, statuses: tuple[str, ...] = STATUSES, limit: int | None = None) -> list[dict]:
        """Deliveries, oldest first (a row: id, lane, issue_key, event, status, attempts, last_error,
        received_at, payload, next_at, updated_at)."""

    def get(self, delivery_id: str) -> dict | None: ...

    def depth(self) -> int:
        """Deliveries not finished (queued, retrying or running)."""

    def purge(self, now: float, keep_seconds: float) -> int:
        """Delete finished deliveries, and remembered keys, older than keep_seconds / their window."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...
