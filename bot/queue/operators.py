"""What operators (`incident-bot deliveries`, tests) ask of the queue: list, look, replay, purge."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from bot.timeutil import UTC, iso

from .store import STATUSES

LOG = logging.getLogger("incident_bot.queue")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(datetime.fromtimestamp(ts, UTC))


class Operators:
    """A mixin of DeliveryQueue: it has ``store``, ``settings``, ``_f`` and ``_wake``."""

    def list(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        """Deliveries, oldest first: id, event, issue_key, status, attempts, last_error, received_at,
        updated_at, next_attempt_at."""
        # "dead": every delivery that will not be retried (a refused call fails at once: failed).
        rows = self.store.list(("dead", "failed") if dead_only else STATUSES, limit)
        return [{"id": r["id"], "event": r["event"], "issue_key": r["issue_key"], "status": r["status"],
                 "attempts": r["attempts"], "last_error": r["last_error"], "received_at": r["received_at"],
                 "updated_at": _iso(r["updated_at"]),
                 "next_attempt_at": _iso(r["next_at"]) if r["status"] == "retrying" else None} for r in rows]

    def get(self, delivery_id: str) -> dict | None:
        """The delivery as submitted, plus _status, _attempts, _last_error."""
        r = self.store.get(delivery_id)
        if r is None:
            return None
        return dict(json.loads(r["payload"]), _status=r["status"], _attempts=r["attempts"],
                    _last_error=r["last_error"])

    def replay(self, delivery_id: str) -> bool:
        """Queue a dead, failed or done delivery again. False when it is unknown or still pending."""
        if not self.store.replay(delivery_id, time.time()):
            return False
        LOG.info("delivery replayed", extra={"delivery_id": delivery_id})
        self._wake()
        return True

    def replay_all_dead(self) -> int:
        """Replay every delivery that will not be retried: dead and failed."""
        return sum(1 for r in self.list(dead_only=True) if self.replay(r["id"]))

    def purge(self) -> int:
        """Forget finished deliveries older than the retention (default: the dedupe window)."""
        keep = self.settings.get("done_retention_hours") or self._f("dedupe_hours")
        return self.store.purge(time.time(), float(keep) * 3600)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.depth():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True
