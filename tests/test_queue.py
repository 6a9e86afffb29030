"""The delivery queue's contract, run once against each store (SQLite and Redis): dedupe, order per
issue, retries with backoff, dead and replay, leases across a SIGKILL, restart, health and metrics."""

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
from queue_backends import FAST, Backend, wait_for

from bot import metrics
from bot.logs import log_context, setup_logging
from bot.queue import DeliveryQueue, PermanentError, RetryableError, dedupe_key, open_store
from bot.timeutil import iso, utcnow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.close()


def delivery(n, issue="1:1", **extra) -> dict:
    d = {"id": f"d{n}", "dedupe_key": f"key-{n}", "issue_key": issue, "event": "Note Hook",
         "headers": {"X-Gitlab-Event": "Note Hook"}, "body": json.dumps({"n": n}),
         "received_at": "2026-01-01T00:00:00Z"}
    d.update(extra)
    return d


def record(q: DeliveryQueue, delivery_id: str) -> dict:
    return next(r for r in q.list() if r["id"] == delivery_id)


def test_accept_then_duplicate(backend):
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


def test_a_remembered_key_dedupes_and_is_not_a_delivery(backend):
    q = backend.make(lambda d: None)
    assert q.remember("key-9") is True
    assert q.remember("key-9") is False
    assert q.submit(delivery(9)) is False  # its dedupe key was seen
    assert q.list() == [] and q.depth() == 0


def test_dedupe_window_expires(backend):
    q = backend.make(lambda d: None, dedupe_hours=1.0 / 3600)  # one second
    assert q.submit(delivery(1)) is True
    assert q.remember("key-r") is True
    assert q.submit(delivery(2, dedupe_key="key-1")) is False
    wait_for(lambda: q.submit(delivery(3, dedupe_key="key-1")), 5, "the key's window to pass")
    # key-r was remembered a moment after key-1 was stored: its window ends a moment later.
    wait_for(lambda: q.remember("key-r"), 5, "the remembered key's window to pass")


def _ordered_processor():
    lock = threading.Lock()
    seen = {"order": defaultdict(list), "active": defaultdict(int), "max_active": defaultdict(int),
            "now": 0, "max": 0}

    def processor(d):
        issue = d["issue_key"]
        with lock:
            seen["active"][issue] += 1
            seen["max_active"][issue] = max(seen["max_active"][issue], seen["active"][issue])
            seen["now"] += 1
            seen["max"] = max(seen["max"], seen["now"])
        time.sleep(0.01 + (d["seq"] % 3) * 0.005)
        with lock:
            seen["order"][issue].append(d["seq"])
            seen["active"][issue] -= 1
            seen["now"] -= 1

    return processor, seen


@pytest.mark.parametrize("instances", [1, 2])
def test_order_per_issue_with_four_workers(backend, instances):
    """Four workers (in one or two queue instances on the same store): each issue's deliveries run one
    at a time and in arrival order; different issues run in parallel."""
    processor, seen = _ordered_processor()
    # A lease long enough that a machine starved for a second does not hand a running head to another
    # worker (that is the killed-worker path, tested on its own).
    queues = [backend.make(processor, lease_seconds=30) for _ in range(instances)]
    for q in queues:
        q.start_workers(4 // instances)
    issues = [f"7:{i}" for i in range(5)]
    expected: dict[str, list[int]] = defaultdict(list)
    for n in range(50):
        issue = issues[(n * 7 + n // 5) % 5]
        assert queues[n % instances].submit(delivery(n, issue=issue, seq=n))
        expected[issue].append(n)
    assert queues[0].wait_idle(60), queues[0].list()
    assert dict(seen["order"]) == dict(expected)
    assert all(v == 1 for v in seen["max_active"].values()), dict(seen["max_active"])
    assert seen["max"] >= 2, "different incidents should run in parallel"
    assert all(r["status"] == "done" for r in queues[0].list())


def test_retries_then_success(backend):
    calls: list[int] = []

    def processor(d):
        calls.append(d["attempts"])
        if len(calls) <= 2:
            raise RetryableError("503 from GitLab")

    before = metrics.deliveries_retried_total._value.get()
    q = backend.make(processor, max_retries=3)
    q.start_workers(2)
    assert q.submit(delivery(1))
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert (r["status"], r["attempts"], r["last_error"]) == ("done", 3, None)
    assert calls == [1, 2, 3]  # the processor sees which attempt it is
    assert metrics.deliveries_retried_total._value.get() - before == 2


def test_retry_after_honoured_and_issue_order_kept(backend):
    seen: list[tuple[str, float]] = []

    def processor(d):
        seen.append((d["id"], time.monotonic()))
        if d["id"] == "d1" and sum(1 for i, _ in seen if i == "d1") == 1:
            raise RetryableError("429 Too Many Requests", retry_after=2.0)  # room to look while it waits

    q = backend.make(processor, retry_base_seconds=0.001, retry_max_seconds=0.002)
    q.start_workers(4)
    assert q.submit(delivery(1, issue="5:5"))
    assert q.submit(delivery(2, issue="5:5"))
    assert q.submit(delivery(3, issue="5:6"))  # another incident is not held up
    wait_for(lambda: record(q, "d1")["status"] == "retrying" and record(q, "d3")["status"] == "done")
    r = record(q, "d1")
    assert r["status"] == "retrying" and "429" in r["last_error"] and r["next_attempt_at"]
    assert record(q, "d2")["status"] == "queued"  # waits behind d1
    assert record(q, "d3")["status"] == "done"
    assert q.wait_idle(20)
    ids = [i for i, _ in seen]
    assert ids.index("d2") > len(ids) - 1 - ids[::-1].index("d1")  # d2 after d1's successful attempt
    first, second = [t for i, t in seen if i == "d1"]
    assert second - first >= 2.0


def test_a_day_long_retry_after_is_capped_and_retried(backend):
    """Issue 12: a Retry-After of 86,400 held an incident for a day. It is capped, and retried."""
    calls = defaultdict(int)

    def processor(d):
        calls[d["id"]] += 1
        if calls[d["id"]] == 1:
            raise RetryableError("429 Too Many Requests", retry_after=86400)

    q = backend.make(processor, retry_after_max_seconds=0.3)
    q.start_workers(2)
    assert q.submit(delivery(1, issue="6:6"))
    assert q.submit(delivery(2, issue="6:6"))
    assert q.wait_idle(10), q.list()
    assert [(r["id"], r["status"]) for r in q.list()] == [("d1", "done"), ("d2", "done")]
    assert q.backoff(0, retry_after=86400) == 0.3


def test_dead_after_max_retries_then_replay(backend):
    state = {"fail": True}
    calls = defaultdict(int)
    hold = threading.Event()

    seen = defaultdict(list)

    def processor(d):
        calls[d["id"]] += 1
        seen[d["id"]].append((d["attempts"], d["replayed"]))
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
    assert q.replay("d1") is False  # already pending
    hold.set()
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert (r["status"], r["attempts"], r["last_error"]) == ("done", 1, None)
    # The processor is told a replayed try follows earlier ones (they may have posted before failing).
    assert seen["d1"] == [(1, False), (2, False), (3, False), (1, True)]
    assert seen["d2"] == [(1, False), (1, True)]
    assert q.list(dead_only=True) == []
    assert calls["d2"] == 2
    assert q.get("d1")["body"] == json.dumps({"n": 1}) and q.get("nope") is None


def test_replay_all_dead(backend):
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


def test_permanent_error_not_retried_unknown_error_retried(backend):
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
    assert [r["id"] for r in q.list(dead_only=True)] == ["d1", "d3"]  # neither will be retried


def test_an_expired_lease_is_claimed_again_and_the_old_claim_is_void(backend):
    store = backend.store()
    q = backend.make()
    assert q.submit(delivery(1)) and q.submit(delivery(2))
    now = time.time()
    first = store.claim("c1", now, 5.0)
    assert first["id"] == "d1" and first["attempts"] == 1
    assert store.claim("c2", now, 5.0) is None  # the lane's head is leased: d2 waits behind it
    assert store.extend("d1", "c1", now + 10)
    assert store.claim("c2", now + 6, 5.0) is None  # the lease was kept
    again = store.claim("c2", now + 11, 5.0)  # its worker stopped keeping it
    assert again["id"] == "d1" and again["attempts"] == 2
    assert store.finish("d1", "c1", "done", now + 12) is False and store.extend("d1", "c1", now + 20) is False
    assert store.finish("d1", "c2", "done", now + 12) is True
    assert store.claim("c3", now + 12, 5.0)["id"] == "d2"
    store.close()


def test_purge_forgets_finished_deliveries_only(backend):
    q = backend.make(lambda d: None, done_retention_hours=1.0 / 3600)
    assert q.submit(delivery(1, issue="8:1")) and q.submit(delivery(2, issue="8:2"))
    q.start_workers(1)
    assert q.wait_idle(10)
    q.stop()
    assert q.submit(delivery(3, issue="8:3"))
    assert q.purge() == 0  # done only just now: kept
    purged = []  # the two finished a moment apart: a purge may take one, the next the other
    wait_for(lambda: purged.append(q.purge()) or sum(purged) == 2, 5, "the retention to pass")
    assert [r["id"] for r in q.list()] == ["d3"]


CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from bot.queue import DeliveryQueue, open_store
mode, out, loc, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])

def processor(d):
    with open(out, "a") as fh:
        fh.write("start %s\n" % d["id"])
    if d["id"] == "slow":
        time.sleep(3600)
    with open(out, "a") as fh:
        fh.write("done %s\n" % d["id"])

q = DeliveryQueue(open_store(**loc), processor, settings)
for d in json.loads(sys.argv[5]):
    assert q.submit(d)
print("SUBMITTED", flush=True)
if mode == "work":
    q.start_workers(2)
time.sleep(3600)
"""


def _run_child(backend, tmp_path, mode, deliveries, out):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(out), json.dumps(backend.location), json.dumps(FAST),
         json.dumps(deliveries)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def _appender(out):
    lock = threading.Lock()

    def processor(d):
        with lock, open(out, "a") as fh:
            fh.write(f"start {d['id']}\ndone {d['id']}\n")

    return processor


def test_durable_when_killed_before_processing(backend, tmp_path):
    out = tmp_path / "processed.txt"
    deliveries = [delivery(n, issue=("2:1" if n % 2 else None)) for n in range(6)]
    _run_child(backend, tmp_path, "submit", deliveries, out)
    assert not out.exists()
    q = backend.make(_appender(out))
    assert q.depth() == 6
    q.start_workers(2)
    assert q.wait_idle(30), q.list()
    lines = out.read_text().splitlines()
    for d in deliveries:
        assert f"done {d['id']}" in lines
    assert {r["id"]: r["status"] for r in q.list()} == {d["id"]: "done" for d in deliveries}


def test_durable_when_killed_mid_processing(backend, tmp_path):
    """A worker process SIGKILLed mid-delivery: its lease runs out, the delivery runs again, in order."""
    out = tmp_path / "processed.txt"
    deliveries = [delivery("slow", issue="4:1", id="slow"), delivery("after1", issue="4:1", id="after1"),
                  delivery("after2", issue="4:1", id="after2"), delivery("solo", issue=None, id="solo")]
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
    assert lines.index("done slow") < lines.index("done after1") < lines.index("done after2")


def test_a_delivery_that_keeps_killing_its_worker_goes_dead(backend):
    store = backend.store()
    q = backend.make(lambda d: None, max_retries=1)
    assert q.submit(delivery(1))
    now = time.time()
    for n in range(3):  # three workers died holding it (short leases: the last one is over at once)
        assert store.claim(f"c{n}", now + 0.02 * n, 0.01)["attempts"] == n + 1
    q.start_workers(1)
    assert q.wait_idle(10)
    r = record(q, "d1")
    assert r["status"] == "dead" and "gave up after 3 attempts" in r["last_error"]
    store.close()


def test_healthy_and_depth_metric(backend):
    q = backend.make(lambda d: None)
    assert q.healthy() is True
    assert q.submit(delivery(1))
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert "queue_depth 1.0" in body.decode()


def test_stop_and_restart_same_process(backend):
    seen = []
    q = backend.make(seen.append)
    q.start_workers(2)
    assert q.submit(delivery(1))
    assert q.wait_idle(20)
    q.stop()
    assert q.submit(delivery(2))
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


def test_concurrent_submits_each_stored_once(backend):
    q = backend.make(lambda d: None)
    results: dict[str, list[bool]] = defaultdict(list)
    lock = threading.Lock()
    start = threading.Barrier(16)

    def sender(t: int) -> None:
        start.wait()
        for n in range(20):
            key = f"k{(t * 20 + n) % 100}"  # every key sent by several threads
            ok = q.submit(delivery(f"{t}-{n}", issue=f"1:{n % 4}", dedupe_key=key))
            with lock:
                results[key].append(ok)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v.count(True) == 1 for v in results.values()), results
    assert q.depth() == len(results) == 100


def test_unhealthy_when_sqlite_unusable(tmp_path):
    q = DeliveryQueue(open_store(None, str(tmp_path / "q.db")))
    assert q.healthy() is True
    os.remove(tmp_path / "q.db")
    os.mkdir(tmp_path / "q.db")  # the path is now a directory
    assert q.healthy() is False


def test_unreachable_redis_is_unhealthy_and_refuses_submits():
    from bot.queue import QueueUnavailable

    q = DeliveryQueue(open_store("redis://127.0.0.1:1/0", "unused"))
    assert q.healthy() is False
    with pytest.raises(QueueUnavailable):
        q.submit(delivery(1))


def test_sqlite_synchronous_is_full_by_default(tmp_path):
    assert open_store(None, str(tmp_path / "a.db")).synchronous == "FULL"
    assert open_store(None, str(tmp_path / "b.db"), "normal").synchronous == "NORMAL"
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        open_store(None, str(tmp_path / "c.db"), "OFF")
    with pytest.raises(ValueError, match="unsupported queue URL"):
        open_store("mysql://x", str(tmp_path / "d.db"))


def test_dedupe_key_rules():
    body = b'{"object_kind":"note"}'
    assert dedupe_key({"idempotency-key": "abc", "X-Gitlab-Event-UUID": "u1"}, body, "note", 5) == "idem:abc"
    k1 = dedupe_key({"X-Gitlab-Event-UUID": "u1"}, body, "note", 5)
    k2 = dedupe_key({"X-Gitlab-Event-UUID": "u1"}, body, "issue", 7)
    assert k1 != k2 and "u1" in k1
    assert k1 == dedupe_key({"x-gitlab-event-uuid": "u1"}, b"other body", "note", 5)
    k3 = dedupe_key({}, body, "note", 5)
    assert k3.startswith("sha256:") and k3 == dedupe_key({}, body.decode(), "issue", 9)
    assert k3 != dedupe_key({}, b"{}", "note", 5)


def test_backoff_full_jitter_and_capped_retry_after(tmp_path):
    q = DeliveryQueue(open_store(None, str(tmp_path / "q.db")), None,
                      {"retry_base_seconds": 2.0, "retry_max_seconds": 10.0})
    for n in range(8):
        for _ in range(50):
            assert 0 <= q.backoff(n) <= min(10.0, 2.0 * 2**n)
    assert q.backoff(0, retry_after=30.0) == 30.0  # a larger Retry-After wins
    assert q.backoff(0, retry_after=86400) == 300.0  # capped: 5 minutes by default
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


def test_an_outage_is_retried_past_max_retries_then_followed_by_what_on_give_up_queues(backend):
    # issue 14, item 3: a 5xx or no answer waits for outage_retry_minutes since arrival, apart from
    # max_retries; then the delivery is dead and on_give_up's delivery follows it in its lane.
    calls, now = defaultdict(int), iso(utcnow())

    def processor(d):
        calls[d["id"]] += 1
        if d["id"] == "d1":
            raise RetryableError("GitLab answered 502", outage=True)

    q = backend.make(processor, max_retries=1, outage_retry_minutes=0.02)
    q.on_give_up = lambda d, status, error: {"id": f"{d['id']}-after", "dedupe_key": f"after-{d['id']}",
                                             "issue_key": d["issue_key"], "event": "Failure Notice",
                                             "follows": d["id"]}
    q.start_workers(1)
    assert q.submit(delivery(1, received_at=now))
    assert q.wait_idle(20)
    r = record(q, "d1")
    assert r["status"] == "dead" and r["last_error"].startswith("[outage x") and calls["d1"] > 2
    assert record(q, "d1-after")["status"] == "done" and calls["d1-after"] == 1
    # A follower of a delivery that is not given up on (done, or replayed since) is skipped.
    assert q.submit({"id": "d3", "dedupe_key": "k3", "issue_key": "1:1", "event": "x", "follows": "d1-after"})
    assert q.wait_idle(20) and calls["d3"] == 0 and record(q, "d3")["status"] == "done"
