"""The two delivery stores, built the same way for the queue tests (Redis at 127.0.0.1:6379 is skipped
cleanly when it is not running)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis

from bot.queue import DeliveryQueue, open_store

REDIS_URL = "redis://127.0.0.1:6379/15"

FAST = {
    "retry_base_seconds": 0.01,
    "retry_max_seconds": 0.05,
    "max_retries": 3,
    "poll_seconds": 0.05,
    "lease_seconds": 1.0,
}


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not running at {REDIS_URL}: {exc}")


class Backend:
    """Where a store lives (so a child process can open the same one), and the queues made on it."""

    def __init__(self, kind: str, tmp_path: Path):
        self.kind = kind
        self.location = {"url": None, "sqlite_path": str(tmp_path / "queue.db"), "name": "incident-bot"}
        if kind == "redis":
            redis_or_skip()
            self.location.update(url=REDIS_URL, name=f"ib-test-{uuid.uuid4().hex[:8]}")
        self.queues: list[DeliveryQueue] = []

    def store(self):
        return open_store(**self.location)

    def make(self, processor=None, **settings) -> DeliveryQueue:
        q = DeliveryQueue(self.store(), processor, {**FAST, **settings})
        self.queues.append(q)
        return q

    def close(self) -> None:
        for q in self.queues:
            q.close()
        if self.kind == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{self.location['name']}:*"):
                client.delete(key)


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    """Poll `condition` until it holds and return what it gave; fail the test after `timeout` seconds
    (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} not met in {timeout}s"
        time.sleep(0.01)
    return found
