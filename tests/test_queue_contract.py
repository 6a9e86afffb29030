"""The queue's promises, run once against each store (issue 16, section 4): a 503 loses nothing and
leaves no dedupe key behind, a Retry-After is not cut short by a newer delivery, backoff bounds grow,
and order per incident holds under four workers and random transient failures."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import defaultdict

import pytest
from queue_backends import FAST, Backend, wait_for
from test_app import SECRET, note_body, post
from test_queue import delivery

from bot.app import create_app
from bot.config import load_config
from bot.queue import DeliveryQueue, RetryableError


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.close()


class FlakyStore:
    """The backend's store, whose next `add` fails: before it writes (the store cannot be reached), or
    after it wrote (the answer is lost on the way back)."""

    def __init__(self, store, when: str):
        self._store, self.when, self.failures = store, when, 1

    def __getattr__(self, name):
        return getattr(self._store, name)

    def add(self, row, now, dedupe_seconds):
        if self.failures and self.when == "before":
            self.failures -= 1
            raise ConnectionError("the store cannot be reached")
        added = self._store.add(row, now, dedupe_seconds)
        if self.failures and self.when == "after":
            self.failures -= 1
            raise ConnectionError("the answer was lost")
        return added


def door(backend, store, processor):
    """The real webhook door on a queue over `store`, with workers running `processor`."""
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": SECRET})
    q = DeliveryQueue(store, processor, FAST)
    backend.queues.append(q)
    q.start_workers(2)
    return create_app(cfg, q).test_client(), q


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_503_leaves_no_key_behind_and_gitlabs_resend_is_processed_once(backend, when):
    seen = []
    client, q = door(backend, FlakyStore(backend.store(), when), lambda d: seen.append(d["id"]))
    body = note_body("/incident status")
    headers = {"Idempotency-Key": "k-503", "X-Gitlab-Event-UUID": "u-503"}
    assert post(client, body, **headers).status_code == 503
    again = post(client, body, **headers)  # GitLab's "Resend request": the same key
    # Not written: the resend is new (202). Written, answer lost: a duplicate (200), but stored.
    assert again.status_code == {"before": 202, "after": 200}[when]
    assert q.wait_idle(10)
    wait_for(lambda: len(seen) == 1)
    assert [r["status"] for r in q.list()] == ["done"]


def test_a_store_failure_inside_its_transaction_keeps_no_key(backend, monkeypatch):
    """SQLite: the row and its dedupe key go in one transaction; a failure after the insert rolls both back."""
    if backend.kind != "sqlite":
        pytest.skip("one Lua script in Redis: it runs whole or not at all when the store is reachable")
    store = backend.store()
    real = type(store)._insert
    fail = {"left": 1}

    def insert_then_fail(self, conn, *args):
        result = real(self, conn, *args)
        if fail["left"]:
            fail["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return result

    monkeypatch.setattr(type(store), "_insert", insert_then_fail)
    seen = []
    client, q = door(backend, store, lambda d: seen.append(d["id"]))
    headers = {"Idempotency-Key": "k-tx"}
    assert post(client, note_body(), **headers).status_code == 503
    assert post(client, note_body(), **headers).status_code == 202
    assert q.wait_idle(10) and len(q.list()) == 1


def test_a_new_delivery_does_not_run_a_head_waiting_on_retry_after_early(backend):
    runs: dict[str, list[float]] = defaultdict(list)

    def processor(d):
        runs[d["id"]].append(time.monotonic())
        if d["id"] == "d1" and len(runs["d1"]) == 1:
            raise RetryableError("429 Too Many Requests", retry_after=2.0)  # room to look while it waits

    q = backend.make(processor, retry_base_seconds=0.001, retry_max_seconds=0.002)
    q.start_workers(4)
    assert q.submit(delivery(1, issue="5:5"))
    wait_for(lambda: any(r["id"] == "d1" and r["status"] == "retrying" for r in q.list()))
    for n in range(2, 6):  # each one wakes every worker
        assert q.submit(delivery(n, issue="5:5"))
    assert q.wait_idle(10), q.list()
    first, second = runs["d1"]
    assert second - first >= 2.0
    assert all(runs[f"d{n}"][0] > second for n in range(2, 6))  # they waited behind their head


def test_a_delivery_that_keeps_failing_ends_dead_after_the_configured_attempts(backend):
    attempts = []

    def processor(d):
        attempts.append(d["attempts"])
        raise RetryableError("502 Bad Gateway")

    q = backend.make(processor, max_retries=2)
    q.start_workers(2)
    assert q.submit(delivery(1))
    assert q.wait_idle(10)
    (row,) = q.list()
    assert (row["status"], row["attempts"], attempts) == ("dead", 3, [1, 2, 3])


def test_successive_backoff_bounds_grow_up_to_the_cap(backend, monkeypatch):
    q = backend.make(None, retry_base_seconds=0.5, retry_max_seconds=10.0)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the bound full jitter draws under
    bounds = [q.backoff(n) for n in range(7)]
    assert bounds == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert q.backoff(3) == 0.0  # full jitter: anything from zero


def test_order_per_incident_under_four_workers_and_random_transient_failures(backend):
    rng = random.Random(16)
    lock = threading.Lock()
    order, active, overlap = defaultdict(list), defaultdict(int), []
    fail = {n: rng.random() < 0.3 for n in range(40)}  # these fail once, transiently

    def processor(d):
        issue, seq = d["issue_key"], d["seq"]
        with lock:
            active[issue] += 1
            overlap.append(active[issue])
        try:
            time.sleep(0.002 * (seq % 3))
            if fail[seq] and d["attempts"] == 1:
                raise RetryableError("502 Bad Gateway")
            with lock:
                order[issue].append(seq)
        finally:
            with lock:
                active[issue] -= 1

    q = backend.make(processor, lease_seconds=30, retry_base_seconds=0.01, retry_max_seconds=0.02)
    q.start_workers(4)
    expected = defaultdict(list)
    for n in range(40):
        issue = f"9:{n % 4}"
        assert q.submit(delivery(n, issue=issue, seq=n))
        expected[issue].append(n)
    assert q.wait_idle(30), q.list()
    assert dict(order) == dict(expected)
    assert max(overlap) == 1  # one delivery of an incident at a time
    assert {r["status"] for r in q.list()} == {"done"}
    assert sum(fail.values()) >= 5  # the seed gives failures to hold order through

