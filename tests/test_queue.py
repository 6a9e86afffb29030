"""The delivery queue on SQLite (tests/test_queue_redis.py runs the same scenarios against Redis).

Each ``check_*`` function takes a backend (how to build a queue, and how a child process finds the same store)
so both backends run identical scenarios."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bot import metrics
from bot.config import Config
from bot.logs import log_context, setup_logging
from bot.queue import DeliveryQueue, PermanentError, RetryableError, dedupe_key

ROOT = Path(__file__).resolve().parents[1]

FAST = {
    "sweep_seconds": 0.1,
    "retry_base_seconds": 0.01,
    "retry_max_seconds": 0.05,
    "max_retries": 3,
    "poll_max_seconds": 0.05,
}


def make_cfg(**settings) -> Config:
    cfg = Config()
    cfg.queue.update(FAST)
    cfg.queue.update(settings)
    return cfg


def delivery(n, issue="1:1", **extra) -> dict:
    d = {
        "id": f"d{n}",
        "dedupe_key": f"key-{n}",
        "issue_key": issue,
        "event": "Note Hook",
        "headers": {"X-Gitlab-Event": "Note Hook"},
        "body": json.dumps({"n": n}),
        "received_at": "2026-01-01T00:00:00Z",
    }
    d.update(extra)
    return d


class SqliteBackend:
    name = "sqlite"

    def __init__(self, tmp_path: Path):
        self.path = str(tmp_path / "queue.db")
        self.queues: list[DeliveryQueue] = []

    def make(self, processor, **settings) -> DeliveryQueue:
        q = DeliveryQueue(make_cfg(**settings), processor, sqlite_path=self.path)
        self.queues.append(q)
        return q

    def location(self) -> dict:
        return {"sqlite_path": self.path}

    def close(self):
        for q in self.queues:
            q.stop()


@pytest.fixture
def backend(tmp_path):
    b = SqliteBackend(tmp_path)
    yield b
    b.close()


def record(q: DeliveryQueue, delivery_id: str) -> dict:
    return next(r for r in q.list() if r["id"] == delivery_id)


# ---------------------------------------------------------------------------------------------------------------
# scenarios shared with the Redis tests


def check_accept_then_duplicate(backend):
    q = backend.make(lambda d: None)
    assert q.submit(delivery(1)) is True
    assert q.submit(delivery(2, dedupe_key="key-1")) is False  # same dedupe key, another id
    assert q.submit(delivery(1, dedupe_key="other")) is False  # same delivery id
    assert q.depth() == 1
    d = {"dedupe_key": "k-new", "issue_key": None, "event": "Issue Hook", "headers": {}, "body": "{}"}
    assert q.submit(d) is True
    assert d["id"] and d["received_at"]  # assigned on submit
    assert [r["status"] for r in q.list()] == ["queued", "queued"]
    q.start_workers(2)
    assert q.wait_idle(20)
    assert [r["status"] for r in q.list()] == ["done", "done"]
    assert q.submit(delivery(3, dedupe_key="key-1")) is False  # still within the window after processing


def check_dedupe_window_expires(backend):
    q = backend.make(lambda d: None, dedupe_hours=1.0 / 3600)  # one second
    assert q.submit(delivery(1)) is True
    assert q.submit(delivery(2, dedupe_key="key-1")) is False
    time.sleep(1.3)
    assert q.submit(delivery(3, dedupe_key="key-1")) is True


def check_order_per_issue(backend):
    lock = threading.Lock()
    order: dict[str, list[int]] = defaultdict(list)
    active: dict[str, int] = defaultdict(int)
    max_active: dict[str, int] = defaultdict(int)
    overall = {"now": 0, "max": 0}

    def processor(d):
        issue = d["issue_key"]
        with lock:
            active[issue] += 1
            max_active[issue] = max(max_active[issue], active[issue])
            overall["now"] += 1
            overall["max"] = max(overall["max"], overall["now"])
        time.sleep(0.01 + (d["seq"] % 3) * 0.005)
        with lock:
            order[issue].append(d["seq"])
            active[issue] -= 1
            overall["now"] -= 1

    q = backend.make(processor)
    q.start_workers(4)
    issues = [f"7:{i}" for i in range(5)]
    expected: dict[str, list[int]] = defaultdict(list)
    for n in range(50):
        issue = issues[(n * 7 + n // 5) % 5]
        assert q.submit(delivery(n, issue=issue, seq=n))
        expected[issue].append(n)
    assert q.wait_idle(60), q.list()
    assert dict(order) == dict(expected)
    assert all(v == 1 for v in max_active.values()), dict(max_active)
    assert overall["max"] >= 2, "different incidents should run in parallel"
    assert all(r["status"] == "done" for r in q.list())


def check_retries_then_success(backend):
    calls: list[float] = []

    def processor(d):
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise RetryableError("503 from GitLab")

    before = metrics.deliveries_retried_total._value.get()
    q = backend.make(processor, max_retries=3)
    q.start_workers(2)
    assert q.submit(delivery(1))
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert (r["status"], r["attempts"], r["last_error"]) == ("done", 3, None)
    assert len(calls) == 3
    assert metrics.deliveries_retried_total._value.get() - before == 2


def check_retry_after_and_order_kept(backend):
    seen: list[tuple[str, float]] = []

    def processor(d):
        seen.append((d["id"], time.monotonic()))
        if d["id"] == "d1" and sum(1 for i, _ in seen if i == "d1") == 1:
            raise RetryableError("429 Too Many Requests", retry_after=1.0)

    q = backend.make(processor, retry_base_seconds=0.001, retry_max_seconds=0.002)
    q.start_workers(4)
    assert q.submit(delivery(1, issue="5:5"))
    assert q.submit(delivery(2, issue="5:5"))
    assert q.submit(delivery(3, issue="5:6"))  # another incident is not held up
    time.sleep(0.5)
    r = record(q, "d1")
    assert r["status"] == "retrying" and "429" in r["last_error"] and r["next_attempt_at"]
    assert record(q, "d2")["status"] == "queued"  # waits behind d1
    assert record(q, "d3")["status"] == "done"
    assert q.wait_idle(20)
    ids = [i for i, _ in seen]
    assert ids.index("d2") > len(ids) - 1 - ids[::-1].index("d1")  # d2 after d1's successful attempt
    first, second = [t for i, t in seen if i == "d1"]
    assert second - first >= 1.0


def check_dead_then_replay(backend):
    state = {"fail": True}
    calls = defaultdict(int)
    hold = threading.Event()

    def processor(d):
        calls[d["id"]] += 1
        if d["id"] == "d2" and calls["d2"] == 2:
            hold.wait(20)  # the replayed d2 holds its lane, so d1, replayed behind it, stays pending
        if state["fail"] and d["id"] == "d1":
            raise RetryableError(f"boom {calls[d['id']]}")

    dead_before = metrics.deliveries_dead_total._value.get()
    q = backend.make(processor, max_retries=2)
    q.start_workers(2)
    assert q.submit(delivery(1, issue="9:1"))
    assert q.submit(delivery(2, issue="9:1"))
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert (r["status"], r["attempts"], r["last_error"]) == ("dead", 3, "RetryableError: boom 3")
    assert calls["d1"] == 3
    assert record(q, "d2")["status"] == "done"  # the lane moved on
    assert [x["id"] for x in q.list(dead_only=True)] == ["d1"]
    assert metrics.deliveries_dead_total._value.get() - dead_before == 1
    assert q.replay("d2") is True  # done deliveries can be replayed too
    assert q.replay("nope") is False
    state["fail"] = False
    assert q.replay("d1") is True
    assert q.replay("d1") is False  # already pending (before, a worker could finish it in between)
    hold.set()
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert (r["status"], r["attempts"], r["last_error"]) == ("done", 1, None)
    assert q.list(dead_only=True) == []
    assert calls["d2"] == 2


def check_replay_all_dead(backend):
    state = {"fail": True}

    def processor(d):
        if state["fail"]:
            raise RetryableError("down")

    q = backend.make(processor, max_retries=0)
    q.start_workers(2)
    for n in range(3):
        assert q.submit(delivery(n, issue=None))
    assert q.wait_idle(20)
    assert len(q.list(dead_only=True)) == 3
    state["fail"] = False
    assert q.replay_all_dead() == 3
    assert q.wait_idle(20)
    assert [r["status"] for r in q.list()] == ["done"] * 3


def check_permanent_not_retried(backend):
    calls = defaultdict(int)

    def processor(d):
        calls[d["id"]] += 1
        if d["id"] == "d1":
            raise PermanentError("403 Forbidden")
        if d["id"] == "d3":
            raise ValueError("a bug")  # unknown exceptions are retried

    q = backend.make(processor, max_retries=1)
    q.start_workers(2)
    for n in (1, 2, 3):
        assert q.submit(delivery(n, issue="3:3"))
    assert q.wait_idle(20)
    r1, r2, r3 = (record(q, f"d{n}") for n in (1, 2, 3))
    assert (r1["status"], r1["attempts"], r1["last_error"]) == ("failed", 1, "PermanentError: 403 Forbidden")
    assert calls["d1"] == 1
    assert r2["status"] == "done"
    assert (r3["status"], r3["attempts"], r3["last_error"]) == ("dead", 2, "ValueError: a bug")
    assert q.list(dead_only=True)[0]["id"] == "d3"


CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from bot.config import Config
from bot.queue import DeliveryQueue
mode, out, loc = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
cfg = Config()
cfg.queue.update(loc.pop("settings"))

def processor(d):
    with open(out, "a") as fh:
        fh.write("start %s\n" % d["id"])
    if d["id"] == "slow":
        time.sleep(3600)
    with open(out, "a") as fh:
        fh.write("done %s\n" % d["id"])

q = DeliveryQueue(cfg, processor, **loc)
for d in json.loads(sys.argv[4]):
    assert q.submit(d)
print("SUBMITTED", flush=True)
if mode == "work":
    q.start_workers(2)
time.sleep(3600)
"""


def _run_child(backend, tmp_path, mode, deliveries, out):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    loc = dict(backend.location(), settings=FAST)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(out), json.dumps(loc), json.dumps(deliveries)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "SUBMITTED", proc.stderr.read() if proc.poll() is not None else line
        if mode == "work":
            deadline = time.monotonic() + 30
            while "start slow" not in (out.read_text() if out.exists() else ""):
                assert time.monotonic() < deadline, "the child never started the slow delivery"
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)  # reaped: its pid is gone
    assert proc.returncode == -signal.SIGKILL


def _appender(out):
    lock = threading.Lock()

    def processor(d):
        with lock, open(out, "a") as fh:
            fh.write(f"start {d['id']}\ndone {d['id']}\n")

    return processor


def check_durable_after_kill_before_processing(backend, tmp_path):
    out = tmp_path / "processed.txt"
    deliveries = [delivery(n, issue=("2:1" if n % 2 else None)) for n in range(6)]
    _run_child(backend, tmp_path, "submit", deliveries, out)
    assert not out.exists()  # nothing was processed in the child
    q = backend.make(_appender(out))
    assert q.depth() == 6
    q.start_workers(2)
    assert q.wait_idle(30), q.list()
    lines = out.read_text().splitlines()
    for d in deliveries:
        assert f"done {d['id']}" in lines
    assert {r["id"]: r["status"] for r in q.list()} == {d["id"]: "done" for d in deliveries}


def check_durable_after_kill_mid_processing(backend, tmp_path):
    out = tmp_path / "processed.txt"
    deliveries = [
        delivery("slow", issue="4:1", id="slow"),
        delivery("after1", issue="4:1", id="after1"),
        delivery("after2", issue="4:1", id="after2"),
        delivery("solo", issue=None, id="solo"),
    ]
    _run_child(backend, tmp_path, "work", deliveries, out)
    killed_view = out.read_text().splitlines()
    assert "start slow" in killed_view and "done slow" not in killed_view
    assert "start after1" not in killed_view  # the lane waited behind the slow delivery
    q = backend.make(_appender(out))
    assert record(q, "slow")["status"] == "running"  # left behind by the dead worker
    q.start_workers(2)
    assert q.wait_idle(30), q.list()
    lines = out.read_text().splitlines()
    for d in deliveries:
        assert f"done {d['id']}" in lines
    recs = {r["id"]: r for r in q.list()}
    assert all(r["status"] == "done" for r in recs.values()), recs
    assert recs["slow"]["attempts"] == 2
    # order kept across the crash: slow (re-run) before after1 before after2
    assert lines.index("done slow") < lines.index("done after1") < lines.index("done after2")


def check_healthy_and_metrics(backend):
    q = backend.make(lambda d: None)
    assert q.healthy() is True
    assert q.submit(delivery(1))
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert "queue_depth 1.0" in text


# ---------------------------------------------------------------------------------------------------------------
# SQLite runs


def test_accept_then_duplicate(backend):
    check_accept_then_duplicate(backend)


def test_dedupe_window_expires(backend):
    check_dedupe_window_expires(backend)


def test_order_per_issue_with_four_workers(backend):
    check_order_per_issue(backend)


def test_retries_then_success(backend):
    check_retries_then_success(backend)


def test_retry_after_honoured_and_issue_order_kept(backend):
    check_retry_after_and_order_kept(backend)


def test_dead_after_max_retries_then_replay(backend):
    check_dead_then_replay(backend)


def test_replay_all_dead(backend):
    check_replay_all_dead(backend)


def test_permanent_error_not_retried_unknown_error_retried(backend):
    check_permanent_not_retried(backend)


def test_durable_when_killed_before_processing(backend, tmp_path):
    check_durable_after_kill_before_processing(backend, tmp_path)


def test_durable_when_killed_mid_processing(backend, tmp_path):
    check_durable_after_kill_mid_processing(backend, tmp_path)


def test_healthy_and_depth_metric(backend):
    check_healthy_and_metrics(backend)


def test_unhealthy_when_sqlite_unusable(tmp_path):
    q = DeliveryQueue(make_cfg(), lambda d: None, sqlite_path=str(tmp_path / "q.db"))
    os.remove(tmp_path / "q.db")
    os.mkdir(tmp_path / "q.db")  # the path is now a directory
    q._store.close()
    assert q.healthy() is False


def test_stop_and_restart_same_process(backend):
    seen = []
    q = backend.make(seen.append)
    q.start_workers(2)
    assert q.submit(delivery(1))
    assert q.wait_idle(20)
    q.stop()
    assert q.submit(delivery(2))
    # Let the first queue go entirely: with SQLite, d2 may still be in its acknowledgement log, which
    # another queue neither sees nor takes over while this one holds it; closing stores it.
    q.close()
    q2 = backend.make(seen.append)
    q2.start_workers(1)
    assert q2.wait_idle(20)
    assert [d["id"] for d in seen] == ["d1", "d2"]


def test_run_worker_blocking_outside_main_thread(backend):
    seen = []
    q = backend.make(seen.append)
    t = threading.Thread(target=q.run_worker, args=(2,), daemon=True)
    t.start()
    assert q.submit(delivery(1))
    assert q.wait_idle(20)
    q.stop()
    t.join(10)
    assert not t.is_alive()
    assert [d["id"] for d in seen] == ["d1"]


# ---------------------------------------------------------------------------------------------------------------
# pure parts


def test_dedupe_key_rules():
    body = b'{"object_kind":"note"}'
    # Idempotency-Key wins, whatever the header case
    assert dedupe_key({"idempotency-key": "abc", "X-Gitlab-Event-UUID": "u1"}, body, "note", 5) == "idem:abc"
    # the event UUID is shared by a chain of hooks: kind and object id tell them apart
    k1 = dedupe_key({"X-Gitlab-Event-UUID": "u1"}, body, "note", 5)
    k2 = dedupe_key({"X-Gitlab-Event-UUID": "u1"}, body, "issue", 7)
    assert k1 != k2 and "u1" in k1
    assert k1 == dedupe_key({"x-gitlab-event-uuid": "u1"}, b"other body", "note", 5)
    # else the body hash
    k3 = dedupe_key({}, body, "note", 5)
    assert k3.startswith("sha256:") and k3 == dedupe_key({}, body.decode(), "issue", 9)
    assert k3 != dedupe_key({}, b"{}", "note", 5)


def test_backoff_full_jitter_and_retry_after(tmp_path):
    q = DeliveryQueue(make_cfg(retry_base_seconds=2.0, retry_max_seconds=10.0), lambda d: None,
                      sqlite_path=str(tmp_path / "q.db"))
    for n in range(8):
        for _ in range(50):
            assert 0 <= q.backoff(n) <= min(10.0, 2.0 * 2**n)
    assert q.backoff(0, retry_after=30.0) == 30.0  # larger retry_after wins
    assert q.backoff(100) <= 10.0


def test_metrics_render_has_every_name():
    metrics.observe_api_call("get", 200, 0.05)
    metrics.delivery_received()
    metrics.delivery_rejected("bad_token")
    text = metrics.render()[0].decode()
    for name in (
        "deliveries_received_total", "deliveries_accepted_total", "deliveries_duplicate_total",
        "deliveries_rejected_total", "deliveries_processed_total", "deliveries_retried_total",
        "deliveries_dead_total", "queue_depth", "delivery_processing_seconds", "gitlab_api_calls_total",
        "gitlab_api_seconds",
    ):
        assert name in text, name
    assert 'gitlab_api_calls_total{method="GET",status="200"}' in text
    assert 'deliveries_rejected_total{reason="bad_token"}' in text


def test_json_logs_with_context():
    stream = io.StringIO()
    handler = setup_logging("INFO", stream)
    try:
        log = logging.getLogger("incident_bot.test")
        with log_context(delivery_id="d1", project=42):
            with log_context(issue=7, command="declare"):
                log.info("hello %s", "world")
            log.warning("outer")
        log.info("plain")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)
    assert lines[0]["msg"] == "hello world" and lines[0]["level"] == "INFO" and lines[0]["ts"].endswith("Z")
    assert (lines[0]["delivery_id"], lines[0]["project"], lines[0]["issue"], lines[0]["command"]) == (
        "d1", 42, 7, "declare")
    assert "issue" not in lines[1] and lines[1]["delivery_id"] == "d1"
    assert "delivery_id" not in lines[2]


def test_sqlite_synchronous_setting(tmp_path):
    from bot.config import load_config as _load
    from bot.queue import DeliveryQueue as _Queue

    cfg = _load(env={})
    cfg.data["queue"]["sqlite_synchronous"] = "FULL"
    q = _Queue(cfg, lambda d: None, sqlite_path=str(tmp_path / "full.db"))
    assert q._store._conn().execute("pragma synchronous").fetchone()[0] == 2  # FULL
    cfg.data["queue"]["sqlite_synchronous"] = "OFF"
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        _Queue(cfg, lambda d: None, sqlite_path=str(tmp_path / "off.db"))


# ---------------------------------------------------------------------------------------------------------------
# The SQLite acknowledgement path: group commit, the write lock, wake-ups and checkpoints off that path


def test_concurrent_submits_each_stored_once(backend):
    """16 threads at once: every key is accepted exactly once (resends of one key included, even when they
    land in the same group commit), and every accepted delivery has its own position."""
    q = backend.make(lambda d: None)
    results: dict[str, list[bool]] = defaultdict(list)
    lock = threading.Lock()
    start = threading.Barrier(16)

    def sender(t: int) -> None:
        start.wait()
        for i in range(30):
            n = t * 100 + i
            d = delivery(n, issue=f"1:{n % 5}") if i % 3 else delivery(n, dedupe_key=f"shared-{i}")
            accepted = q.submit(d)
            with lock:
                results[d["dedupe_key"]].append(accepted)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert all(sum(flags) == 1 for flags in results.values()), {k: v for k, v in results.items() if sum(v) != 1}
    q._flush_acklog()  # what the acknowledgement log holds, into the store
    rows = q._store.records()
    assert len(rows) == len(results)
    assert len({r["pos"] for r in rows}) == len(rows)


def test_write_lock_serves_urgent_first_and_strands_no_one():
    """Release wakes one waiter at a time: every waiter still gets the lock, acknowledgements first."""
    from bot.queue.sqlite_store import WriteLock

    lock, order = WriteLock(), []
    lock.acquire()

    def take(name: str, urgent: bool) -> None:
        lock.acquire(urgent=urgent)
        order.append(name)
        lock.release()

    def wait_until(condition) -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.001)

    workers = [threading.Thread(target=take, args=(f"worker-{i}", False)) for i in range(3)]
    for t in workers:  # the workers wait first
        t.start()
    wait_until(lambda: lock._normal == 3)
    acks = [threading.Thread(target=take, args=(f"ack-{i}", True)) for i in range(3)]
    for t in acks:
        t.start()
    wait_until(lambda: lock._urgent == 3)
    lock.release()
    for t in workers + acks:
        t.join(5)
    assert not any(t.is_alive() for t in workers + acks)
    assert sorted(order[:3]) == ["ack-0", "ack-1", "ack-2"]
    assert sorted(order[3:]) == ["worker-0", "worker-1", "worker-2"]


def test_failed_wake_up_is_recovered_by_the_sweeper(backend):
    """submit() stores and returns; the wake-up is sent later. If sending it fails, the delivery still runs."""
    seen = []
    q = backend.make(lambda d: seen.append(d["id"]))
    q.start_workers(2)
    real, calls = q._drain_task, []

    def failing_once(lane):
        calls.append(lane)
        if len(calls) == 1:
            raise RuntimeError("huey storage unavailable")
        return real(lane)

    q._drain_task = failing_once
    assert q.submit(delivery(1)) is True
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen == ["d1"]
    assert len(calls) >= 2  # the failed wake-up, then the sweeper's


def test_checkpoints_left_to_the_housekeeping_thread(backend):
    q = backend.make(lambda d: None)
    q.submit(delivery(1))
    assert q._store._conn().execute("pragma wal_autocheckpoint").fetchone()[0] == 0
    with q.huey.storage.db() as cursor:
        assert cursor.execute("pragma wal_autocheckpoint").fetchone()[0] == 0
    assert q.huey.storage.lock is q._store.write_lock


def _rec(n: int, now: float) -> dict:
    return {"id": f"d-{n}", "lane": "issue:1:1", "issue_key": "1:1", "event": "Note Hook", "status": "queued",
            "attempts": 0, "last_error": None, "received_at": "2026-11-27T00:00:00Z", "dedupe_key": f"k-{n}",
            "payload": "{}", "created_at": now, "updated_at": now}


def test_one_batch_stores_new_keys_and_skips_live_keys_ids_and_repeats(tmp_path):
    """The single-statement batch: a live key, an id already stored (its key expired) and a repeat within
    the batch are each refused; the others are stored in batch order and claim their keys."""
    from bot.queue.sqlite_store import _SqliteStore

    store, now = _SqliteStore(str(tmp_path / "q.db")), time.time()
    assert store.add(_rec(1, now), "live", 3600, now) is True
    assert store.add(_rec(2, now), "expired", -1, now) is True  # stored, its key already expired

    def job(rec, key):
        return {"args": (rec, key, 3600, now + 1)}

    jobs = [job(_rec(3, now + 1), "live"), job(_rec(4, now + 1), "new"), job(_rec(2, now + 1), "expired"),
            job(_rec(5, now + 1), "new"), job(_rec(6, now + 1), "other")]
    store._add_many(store._conn(), jobs)
    assert [j["result"] for j in jobs] == [False, True, False, False, True]
    rows = store._conn().execute("select id, pos from ib_delivery order by pos").fetchall()
    assert [r[0] for r in rows] == ["d-1", "d-2", "d-4", "d-6"]
    assert len({r[1] for r in rows}) == 4
    keys = dict(store._conn().execute("select key, delivery_id from ib_dedupe").fetchall())
    assert keys == {"live": "d-1", "expired": "d-2", "new": "d-4", "other": "d-6"}
    assert "dedupe_expires" not in store.get("d-4")  # a record has the same fields in both stores


def test_sqlite_file_from_before_the_dedupe_trigger_is_upgraded(tmp_path):
    import sqlite3

    from bot.queue.sqlite_store import _SqliteStore

    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    old.execute("create table ib_delivery (id text primary key, pos integer not null, lane text not null,"
                " issue_key text, event text, status text not null, attempts integer not null default 0,"
                " last_error text, received_at text, dedupe_key text, payload text not null, next_at real,"
                " claim text, owner text, started_at real, created_at real not null, updated_at real not null,"
                " finished_at real)")
    old.execute("insert into ib_delivery (id, pos, lane, status, payload, created_at, updated_at)"
                " values ('old-1', 1, 'issue:1:1', 'queued', '{}', 1, 1)")
    old.commit()
    old.close()
    store, now = _SqliteStore(path), time.time()
    assert store.get("old-1")["status"] == "queued"
    assert store.add(_rec(7, now), "k", 3600, now) is True
    assert store.add(_rec(8, now), "k", 3600, now) is False
    assert _SqliteStore(path).add(_rec(9, now), "k2", 3600, now) is True  # opening it again changes nothing
    assert store.lane_head("issue:1:1")["id"] == "old-1"
