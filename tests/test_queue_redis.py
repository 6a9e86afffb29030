"""The delivery queue against a real Redis at 127.0.0.1:6379 (db 15), same scenarios as tests/test_queue.py.

Every test uses its own key prefix and deletes only its own keys. Skipped (with the reason) only when no Redis
answers there; CI starts one."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
import redis

from bot.queue import DeliveryQueue, _RedisStore

try:  # tests/ is on sys.path under pytest's default import mode; a package import otherwise
    import test_queue as shared
except ImportError:  # pragma: no cover
    from tests import test_queue as shared

REDIS_URL = os.environ.get("INCIDENT_BOT_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _redis_or_reason():
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
        client.ping()
        return client, None
    except redis.RedisError as exc:
        return None, f"Redis not reachable at {REDIS_URL}: {exc}"


class RedisBackend:
    name = "redis"

    def __init__(self, client):
        self.client = client
        self.prefix = "ibtest_" + uuid.uuid4().hex[:10]
        self.queues: list[DeliveryQueue] = []

    def make(self, processor, **settings) -> DeliveryQueue:
        q = DeliveryQueue(shared.make_cfg(**settings), processor, url=REDIS_URL, name=self.prefix)
        self.queues.append(q)
        return q

    def location(self) -> dict:
        return {"url": REDIS_URL, "name": self.prefix}

    def flush(self):
        clean = re.sub("[^A-Za-z0-9_]", "", self.prefix)
        for pattern in (f"{self.prefix}:*", f"huey.*.{clean}", f"huey.notify.{clean}.*"):
            keys = list(self.client.scan_iter(match=pattern, count=500))
            if keys:
                self.client.delete(*keys)

    def close(self):
        for q in self.queues:
            q.stop()
        self.flush()


@pytest.fixture
def backend():
    client, reason = _redis_or_reason()
    if client is None:
        pytest.skip(reason)
    b = RedisBackend(client)
    yield b
    b.close()


def test_backend_is_redis(backend):
    q = backend.make(lambda d: None)
    assert q.backend == "redis" and isinstance(q._store, _RedisStore)
    assert q.submit(shared.delivery(1))
    assert backend.client.exists(f"{backend.prefix}:d:d1")
    # the wake-up, in huey's queue: sent by the housekeeping thread, so it may come a moment later
    deadline = time.monotonic() + 5
    while not backend.client.exists(f"huey.redis.{backend.prefix}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.client.exists(f"huey.redis.{backend.prefix}")


def test_accept_then_duplicate(backend):
    shared.check_accept_then_duplicate(backend)


def test_dedupe_window_expires(backend):
    shared.check_dedupe_window_expires(backend)


def test_order_per_issue_with_four_workers(backend):
    shared.check_order_per_issue(backend)


def test_order_per_issue_across_two_queue_instances(backend):
    """Scale-out: two consumers (as two `incident-bot worker` processes would be) share the lanes."""
    import threading
    import time
    from collections import defaultdict

    lock = threading.Lock()
    order = defaultdict(list)
    active = defaultdict(int)
    overlap = []

    def processor(d):
        with lock:
            active[d["issue_key"]] += 1
            if active[d["issue_key"]] > 1:
                overlap.append(d["id"])
        time.sleep(0.005)
        with lock:
            order[d["issue_key"]].append(d["seq"])
            active[d["issue_key"]] -= 1

    a = backend.make(processor)
    b = backend.make(processor)
    a.start_workers(3)
    b.start_workers(3)
    expected = defaultdict(list)
    for n in range(40):
        issue = f"8:{n % 4}"
        assert (a if n % 2 else b).submit(shared.delivery(n, issue=issue, seq=n))
        expected[issue].append(n)
    assert a.wait_idle(60)
    assert dict(order) == dict(expected)
    assert overlap == []


def test_retries_then_success(backend):
    shared.check_retries_then_success(backend)


def test_retry_after_honoured_and_issue_order_kept(backend):
    shared.check_retry_after_and_order_kept(backend)


def test_dead_after_max_retries_then_replay(backend):
    shared.check_dead_then_replay(backend)


def test_replay_all_dead(backend):
    shared.check_replay_all_dead(backend)


def test_permanent_error_not_retried_unknown_error_retried(backend):
    shared.check_permanent_not_retried(backend)


def test_durable_when_killed_before_processing(backend, tmp_path):
    shared.check_durable_after_kill_before_processing(backend, tmp_path)


def test_durable_when_killed_mid_processing(backend, tmp_path):
    shared.check_durable_after_kill_mid_processing(backend, tmp_path)


def test_healthy_and_depth_metric(backend):
    shared.check_healthy_and_metrics(backend)


def test_unhealthy_for_unreachable_redis():
    # needs no Redis: nothing connects until used
    q = DeliveryQueue(shared.make_cfg(), lambda d: None, url="redis://127.0.0.1:1/0")
    assert q.backend == "redis"
    assert q.healthy() is False


def test_submit_raises_queue_unavailable_for_unreachable_redis():
    from bot.queue import QueueUnavailable

    q = DeliveryQueue(shared.make_cfg(), lambda d: None, url="redis://127.0.0.1:1/0")
    with pytest.raises(QueueUnavailable):
        q.submit(shared.delivery(1))
