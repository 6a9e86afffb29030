"""The acknowledgement log (bot/queue/acklog.py) and the DeliveryQueue path through it (bot/queue/core.py).

`submit` copies an accepted delivery into `<sqlite_path>-acklog` and answers; the housekeeping thread stores
it in SQLite later (AckLog.flush). These tests check that what is acknowledged is stored exactly once and in
order: after a kill, a torn frame, a full half, a failed flush, a second holder, and a restart."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from pathlib import Path

import pytest
from test_queue import delivery, make_cfg

from bot.queue import DeliveryQueue
from bot.queue.acklog import AckLog, AckLogBusy, encode
from bot.queue.sqlite_store import _SqliteStore

ROOT = Path(__file__).resolve().parents[1]
TTL = 3600.0
HALF_HEADER = struct.Struct("<4sIQQ")  # magic, half size, half id, activated
FRAME_HEADER = struct.Struct("<IIQ")  # length, crc32 of the data, half id


# ---------------------------------------------------------------------------------------------------------------
# helpers


def rec_of(d: dict, now: float | None = None) -> dict:
    """The record DeliveryQueue.submit builds for a delivery (bot/queue/core.py)."""
    now = time.time() if now is None else now
    issue_key = d.get("issue_key") or None
    return {
        "id": d["id"], "lane": f"issue:{issue_key}" if issue_key else f"solo:{d['id']}", "issue_key": issue_key,
        "event": d.get("event"), "status": "queued", "attempts": 0, "last_error": None,
        "received_at": d.get("received_at"), "dedupe_key": d["dedupe_key"], "payload": json.dumps(d),
        "created_at": now, "updated_at": now,
    }


def entry_of(d: dict, now: float | None = None) -> tuple[dict, str, float, float]:
    rec = rec_of(d, now)
    return rec, d["dedupe_key"], TTL, rec["created_at"]


def add(log: AckLog, d: dict) -> bool:
    return log.add(*entry_of(d))


def stored(db: str) -> list[str]:
    """Delivery ids in SQLite, in queue (pos) order, read on a connection of its own."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("select id from ib_delivery order by pos")]


def read_half(path: str, half: int) -> tuple[int, list[tuple[int, int, int, int, bytes]]]:
    """The half's id and its frames as laid out in the file (offset, length, crc, half id, data), read up to the
    first frame that is empty or runs past the half; a fresh log's half is st_size // 2."""
    raw = Path(path).read_bytes()
    size = len(raw) // 2
    base = half * size
    magic, _, ident, _ = HALF_HEADER.unpack_from(raw, base)
    if magic != b"IBA1":  # never activated
        return 0, []
    pos, frames = base + HALF_HEADER.size, []
    while pos + FRAME_HEADER.size <= base + size:
        length, crc, frame_id = FRAME_HEADER.unpack_from(raw, pos)
        if length == 0 or pos + FRAME_HEADER.size + length > base + size:
            break
        frames.append((pos, length, crc, frame_id, raw[pos + FRAME_HEADER.size:pos + FRAME_HEADER.size + length]))
        pos += FRAME_HEADER.size + length
    return ident, frames


def recorder():
    """A processor that records (issue_key, id) in processing order."""
    lock, seen = threading.Lock(), []

    def processor(d: dict) -> None:
        with lock:
            seen.append((d.get("issue_key"), d["id"]))

    return processor, seen


def big(n: int, size: int, issue: str | None = "1:1", **extra) -> dict:
    return delivery(n, issue=issue, blob="x" * size, **extra)


# ---------------------------------------------------------------------------------------------------------------
# fixtures: every log and queue opened is closed, so no flock, thread or connection outlives its test


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "queue.db")


@pytest.fixture
def store(db):
    s = _SqliteStore(db)
    yield s
    s.close()


@pytest.fixture
def open_log():
    logs: list[AckLog] = []

    def make(store: _SqliteStore, path: str, size: int = 1 << 20) -> AckLog:
        log = AckLog(store, path, size)
        logs.append(log)
        return log

    yield make
    for log in logs:
        with contextlib.suppress(Exception):
            log.close(flush=False)


@pytest.fixture
def make_queue():
    queues: list[DeliveryQueue] = []

    def make(db: str, processor=None, **settings) -> DeliveryQueue:
        q = DeliveryQueue(make_cfg(**settings), processor or (lambda d: None), sqlite_path=db)
        queues.append(q)
        return q

    yield make
    for q in reversed(queues):
        with contextlib.suppress(Exception):
            q.close()


# ---------------------------------------------------------------------------------------------------------------
# 1. a killed process: what it logged is stored by the next one, once, in order

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from bot.queue.acklog import AckLog
from bot.queue.sqlite_store import _SqliteStore

db, entries_file, flush_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = _SqliteStore(db)
log = AckLog(store, db + "-acklog", 1 << 20)
with open(entries_file) as fh:
    entries = json.load(fh)
for i, (rec, key, ttl, now) in enumerate(entries):
    if i == flush_after:
        log.flush()
    assert log.add(rec, key, ttl, now) is True, rec["id"]
print("ready", flush=True)
time.sleep(3600)
"""


@pytest.mark.parametrize("flush_after", [-1, 8], ids=["all-logged", "first-8-stored"])
def test_what_a_killed_process_logged_is_stored_once_in_order(tmp_path, db, make_queue, flush_after):
    issues = ["3:1", "3:2", None]
    deliveries = [delivery(n, issue=issues[n % 3]) for n in range(20)]
    ids = [d["id"] for d in deliveries]
    entries_file = tmp_path / "entries.json"
    entries_file.write_text(json.dumps([entry_of(d) for d in deliveries]))
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), db, str(entries_file), str(flush_after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert stored(db) == (ids[:8] if flush_after == 8 else [])  # the rest only in the log

    q = make_queue(db)  # recovers the log on open, written with 1 MiB, opened with the default size
    listed = q.list()
    assert [r["id"] for r in listed] == ids
    assert {r["status"] for r in listed} == {"queued"}
    assert q.get("d4")["body"] == deliveries[4]["body"]  # the payload as submitted
    assert q.submit(delivery(5)) is False  # its dedupe key came back with it
    q.close()

    processor, seen = recorder()
    q2 = make_queue(db, processor, ack_log_mib=1)  # opening again stores nothing twice
    assert stored(db) == ids
    assert q2.depth() == 20
    q2.start_workers(2)
    assert q2.wait_idle(20), q2.list()
    assert sorted(i for _, i in seen) == sorted(ids)  # each once
    for issue in issues[:2]:  # (each delivery without an issue has a lane of its own)
        assert [i for k, i in seen if k == issue] == [d["id"] for d in deliveries if d["issue_key"] == issue]


# ---------------------------------------------------------------------------------------------------------------
# 2. the file layout, and a torn frame


def test_layout_and_a_torn_frame_ends_the_half(store, db, open_log, caplog):
    path = db + "-acklog"
    log = open_log(store, path)
    entries = [entry_of(delivery(n)) for n in range(1, 4)]
    for entry in entries:
        assert log.add(*entry)
    log.close(flush=False)  # as if killed

    ident, frames = read_half(path, 0)
    assert ident != 0
    assert [f[0] for f in frames] == [24, 24 + 16 + frames[0][1], 24 + 32 + frames[0][1] + frames[1][1]]
    for (_, length, crc, frame_id, data), entry in zip(frames, entries, strict=True):
        assert data == encode(*entry) and length == len(data)
        assert crc == zlib.crc32(data) and frame_id == ident
    assert read_half(path, 1)[0] == 0  # the other half is empty

    offset = frames[2][0] + FRAME_HEADER.size + frames[2][1] // 2  # a byte inside the third frame's data
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))

    with caplog.at_level(logging.ERROR, logger="incident_bot.queue"):
        log2 = open_log(store, path)
    assert stored(db) == ["d1", "d2"]
    assert any(r.levelno == logging.ERROR and "torn frame" in r.getMessage() for r in caplog.records)
    assert add(log2, delivery(3)) is True  # the torn one was not stored, so its key is free
    assert add(log2, delivery(2)) is False
    log2.flush()
    log2.close()
    open_log(store, path).close()
    assert stored(db) == ["d1", "d2", "d3"]


# ---------------------------------------------------------------------------------------------------------------
# 3. frames of a half already stored are never stored again


@pytest.mark.parametrize("flushes", [1, 2], ids=["other-half", "same-half-reused"])
def test_stale_frames_are_not_resurrected(store, db, open_log, flushes):
    """flushes=1: the new delivery goes into the other half; the stored half keeps its frames behind a cleared
    header. flushes=2: the new delivery overwrites the first frame of a half used again, and the stale frames
    of its previous use follow it exactly (same length: one `now` for all), with the old half id."""
    path, now = db + "-acklog", time.time()
    log = open_log(store, path)
    for n in range(1, 6):
        assert log.add(*entry_of(delivery(n), now))
    log.flush()
    if flushes == 2:
        assert log.add(*entry_of(delivery(6), now))
        log.flush()
    assert stored(db) == [f"d{n}" for n in range(1, 6 + (flushes == 2))]
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("delete from ib_delivery")
        conn.execute("delete from ib_dedupe")
    assert log.add(*entry_of(delivery(7), now))
    log.close(flush=False)

    ident, frames = read_half(path, 1 if flushes == 1 else 0)
    assert frames[0][3] == ident and frames[0][4] == encode(*entry_of(delivery(7), now))
    if flushes == 2:
        assert len(frames) == 5 and all(f[3] != ident for f in frames[1:])  # the stale frames follow it
    else:
        assert len(frames) == 1
        cleared, old = read_half(path, 0)
        assert cleared == 0 and len(old) == 5  # a cleared header in front of stale frames

    open_log(store, path).close()
    assert stored(db) == ["d7"]


# ---------------------------------------------------------------------------------------------------------------
# 4. a full half is stored by the add that does not fit, from one thread or several


def test_full_halves_single_thread_keeps_add_order(store, db, open_log):
    log = open_log(store, db + "-acklog", 128 << 10)  # two halves of 64 KiB, ~14 deliveries each
    ids = []
    for n in range(100):
        d = big(n, 4000, issue=f"4:{n % 3}")
        assert add(log, d) is True
        ids.append(d["id"])
    assert 0 < len(stored(db)) < 100  # halves were stored on the way
    log.flush()
    assert stored(db) == ids
    assert log.pending() == 0


def test_full_halves_from_several_threads_each_stored_once(store, db, open_log):
    log = open_log(store, db + "-acklog", 128 << 10)
    results: dict[str, list[bool]] = defaultdict(list)
    accepted: dict[int, list[str]] = defaultdict(list)
    errors: list[BaseException] = []
    lock, start = threading.Lock(), threading.Barrier(4)

    def sender(t: int) -> None:
        try:
            start.wait()
            for i in range(40):
                n = t * 1000 + i
                d = big(n, 4000, issue=f"5:{t}") if i % 4 else big(n, 4000, dedupe_key=f"shared-{i}")
                ok = add(log, d)
                with lock:
                    results[d["dedupe_key"]].append(ok)
                    if ok:
                        accepted[t].append(d["id"])
        except BaseException as exc:  # noqa: B036 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors and not any(th.is_alive() for th in threads)
    assert all(sum(flags) == 1 for flags in results.values()), {k: v for k, v in results.items() if sum(v) != 1}
    log.flush()
    rows = stored(db)
    assert len(rows) == len(set(rows)) == len(results) == sum(len(v) for v in accepted.values())
    for t, ids in accepted.items():  # one sender's deliveries are stored in the order it added them
        assert [i for i in rows if i in set(ids)] == ids, t


# ---------------------------------------------------------------------------------------------------------------
# 5. a delivery larger than half the log


def test_delivery_larger_than_a_half_is_stored_directly(store, db, open_log):
    log = open_log(store, db + "-acklog", 128 << 10)
    assert add(log, delivery(1, issue="6:1"))  # logged, not stored yet
    huge = big(2, 100_000, issue="6:2")
    assert add(log, huge) is True
    assert [r["id"] for r in store.records()] == ["d1", "d2"]  # stored at once, after what was logged before
    assert json.loads(store.get("d2")["payload"]) == huge
    assert "issue:6:2" in log.flush()
    assert add(log, huge) is False
    assert add(log, dict(huge, dedupe_key="another")) is False  # the same id
    assert log.flush() == []
    assert stored(db) == ["d1", "d2"]


# ---------------------------------------------------------------------------------------------------------------
# 6. one holder at a time


def test_a_second_holder_is_refused(store, db, open_log):
    path = db + "-acklog"
    log = open_log(store, path)
    assert add(log, delivery(1))
    with pytest.raises(AckLogBusy):
        AckLog(store, path, 1 << 20)
    assert stored(db) == []  # the refused open stored nothing (recovery is the holder's)
    log.close()
    assert stored(db) == ["d1"]
    open_log(store, path).close()  # free again
    assert stored(db) == ["d1"]


def test_a_second_queue_stores_directly_while_the_first_holds_the_log(db, make_queue):
    q1 = make_queue(db)
    assert q1.submit(delivery(1, issue="7:1"))
    assert q1._acklog is not None  # the first submit took the log
    q2 = make_queue(db)  # its recovery finds the log busy and leaves it
    assert q2.submit(delivery(2, issue="7:1")) is True
    assert q2._acklog is None
    assert "d2" in [r["id"] for r in q2._store.records()]  # stored before submit returned
    assert q2.submit(delivery(2, dedupe_key="again")) is False
    q1.close()  # stores d1
    assert sorted(stored(db)) == ["d1", "d2"]
    assert q2.submit(delivery(1)) is False  # q2 answers from SQLite


# ---------------------------------------------------------------------------------------------------------------
# 7. dedupe across a restart


def test_dedupe_across_a_restart(db, make_queue):
    q = make_queue(db)
    assert q.submit(delivery(1)) is True
    q.close()
    q2 = make_queue(db)
    assert q2.submit(delivery(2, dedupe_key="key-1")) is False  # the same key
    assert q2.submit(delivery(1, dedupe_key="other")) is False  # the same id
    assert q2.submit(delivery(3)) is True
    assert q2._acklog is not None  # answered by the log (its keys read from ib_dedupe)
    assert [r["id"] for r in q2.list()] == ["d1", "d3"]


# ---------------------------------------------------------------------------------------------------------------
# 8. a flush that fails


def failing(monkeypatch, store: _SqliteStore, times: int = 1, after_commit: bool = False) -> list[int]:
    """Make store.add_logged raise sqlite3.OperationalError `times` times (after committing, if after_commit)."""
    real, calls = store.add_logged, []

    def add_logged(entries):
        calls.append(len(entries))
        if len(calls) <= times:
            if after_commit:
                real(entries)
            raise sqlite3.OperationalError("disk I/O error")
        return real(entries)

    monkeypatch.setattr(store, "add_logged", add_logged)
    return calls


def test_a_full_half_that_cannot_be_stored_fills_the_other_then_answers_unavailable(store, db, open_log,
                                                                                     monkeypatch):
    log = open_log(store, db + "-acklog", 128 << 10)  # halves of 64 KiB: 14 deliveries of 4 KiB each
    calls = failing(monkeypatch, store, times=10**6)

    def unreachable(*args):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "add", unreachable)  # the direct store, for what the log cannot take
    accepted = 0
    with pytest.raises(sqlite3.OperationalError):  # both halves full, and SQLite out of reach
        for n in range(40):
            assert add(log, big(n, 4000))
            accepted += 1
    assert 20 <= accepted < 40 and log.pending() == accepted  # the second half took over from the first
    assert calls  # storing was tried
    monkeypatch.undo()
    log.flush()
    assert stored(db) == [f"d{n}" for n in range(accepted)]


def test_a_failed_flush_keeps_the_entries_and_the_next_stores_them_in_order(store, db, open_log, monkeypatch):
    log = open_log(store, db + "-acklog")
    for n in range(1, 4):
        assert add(log, delivery(n, issue="8:1"))
    calls = failing(monkeypatch, store)
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    assert log.pending() == 3 and stored(db) == []
    assert add(log, delivery(4, issue="8:2")) and add(log, delivery(5, issue="8:1"))  # adds go on
    assert add(log, delivery(1, dedupe_key="again")) is False  # the unstored ones keep their keys
    assert log.pending() == 5
    assert set(log.flush()) == {"issue:8:1", "issue:8:2"}
    assert stored(db) == ["d1", "d2", "d3", "d4", "d5"]  # older ones first
    assert log.pending() == 0 and log.flush() == []
    assert calls == [3, 3, 2]
    log.close()
    open_log(store, db + "-acklog").close()
    assert stored(db) == ["d1", "d2", "d3", "d4", "d5"]


def test_a_failed_flush_then_a_kill_is_recovered_oldest_half_first(store, db, open_log, monkeypatch):
    log = open_log(store, db + "-acklog")
    for n in range(1, 4):
        assert add(log, delivery(n))
    failing(monkeypatch, store)
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    for n in range(4, 6):
        assert add(log, delivery(n))
    log.close(flush=False)  # killed with one half unstored and the other being filled
    monkeypatch.undo()
    open_log(store, db + "-acklog").close()
    assert stored(db) == ["d1", "d2", "d3", "d4", "d5"]


def test_a_flush_that_fails_after_its_commit_stores_nothing_twice(store, db, open_log, monkeypatch):
    """Killed (or failing) between storing a half and clearing it: the half is stored again, which is a no-op."""
    log = open_log(store, db + "-acklog")
    for n in range(1, 4):
        assert add(log, delivery(n))
    failing(monkeypatch, store, after_commit=True)
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    assert stored(db) == ["d1", "d2", "d3"]
    assert log.flush() == []  # stored again: nothing new, no lane to wake
    assert add(log, delivery(4))
    log.close(flush=False)
    open_log(store, db + "-acklog").close()
    assert stored(db) == ["d1", "d2", "d3", "d4"]


def test_queue_counts_unstored_deliveries_and_stores_them_once_the_store_is_back(db, make_queue, monkeypatch, caplog):
    q = make_queue(db)
    calls = failing(monkeypatch, q._store, times=10**6)
    with caplog.at_level(logging.ERROR, logger="incident_bot.queue"):
        for n in range(1, 4):
            assert q.submit(delivery(n, issue="8:3")) is True
        q._flush_acklog()  # what the housekeeping thread does; it logs, it does not raise
    assert calls, "the log was never flushed"
    assert any("could not store logged deliveries" in r.getMessage() for r in caplog.records)
    assert q.depth() == 3 and stored(db) == []
    assert q.submit(delivery(4, issue="8:3")) is True  # acknowledgements go on
    assert q.submit(delivery(2, dedupe_key="again")) is False
    monkeypatch.undo()
    assert [r["id"] for r in q.list()] == ["d1", "d2", "d3", "d4"]
    assert q.depth() == 4


# ---------------------------------------------------------------------------------------------------------------
# 9. no log: FULL, or ack_log_mib 0


@pytest.mark.parametrize("settings", [{"sqlite_synchronous": "FULL"}, {"ack_log_mib": 0}], ids=["full", "mib-0"])
def test_no_log_with_full_or_zero_size(db, make_queue, settings):
    q = make_queue(db, **settings)
    assert q.submit(delivery(1)) is True
    assert [r["id"] for r in q._store.records()] == ["d1"]  # stored before submit returned
    assert q.submit(delivery(2, dedupe_key="key-1")) is False
    assert q._acklog is None
    assert not os.path.exists(db + "-acklog")
    assert q.open_ack_log() is False


def test_no_room_for_the_log_stores_directly(db, make_queue, monkeypatch, caplog):
    def no_space(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    q = make_queue(db)
    assert q.open_ack_log() is False
    assert "cannot open the acknowledgement log" in caplog.text
    assert q.submit(delivery(1)) is True
    assert [r["id"] for r in q._store.records()] == ["d1"]  # stored before submit returned
    assert q.submit(delivery(2, dedupe_key="key-1")) is False


def test_depth_never_misses_a_delivery_stored_while_it_counts(db, make_queue, monkeypatch):
    q = make_queue(db)
    monkeypatch.setattr(q, "_flush_acklog", lambda: None)  # the housekeeping thread stores nothing itself
    assert q.open_ack_log() and q.submit(delivery(1))
    real_depth = q._store.depth

    def depth_then_flush():  # the housekeeping thread stores the log between depth()'s two reads
        n = real_depth()
        q._acklog.flush()
        return n

    monkeypatch.setattr(q._store, "depth", depth_then_flush)
    assert q.depth() >= 1


def test_serve_opens_the_log_before_the_first_webhook(db, make_queue, store, open_log):
    q = make_queue(db)
    assert q.open_ack_log() is True
    with pytest.raises(AckLogBusy):  # held from now on, with nothing submitted yet
        open_log(store, db + "-acklog")
    assert q.submit(delivery(1)) is True
    assert [r["id"] for r in q.list()] == ["d1"]


# ---------------------------------------------------------------------------------------------------------------
# 10. end to end through the log


def test_submitted_through_the_log_each_processed_once_in_order_per_issue(db, make_queue):
    processor, seen = recorder()
    q = make_queue(db, processor)
    q.start_workers(2)
    issues = ["9:1", "9:2", "9:3"]
    expected: dict[str, list[str]] = defaultdict(list)
    for n in range(30):
        d = delivery(n, issue=issues[(n * 7 + n // 4) % 3])
        assert q.submit(d) is True
        expected[d["issue_key"]].append(d["id"])
    assert q._acklog is not None
    assert q.wait_idle(20), q.list()
    assert sorted(i for _, i in seen) == sorted(i for ids in expected.values() for i in ids)
    for issue, ids in expected.items():
        assert [i for k, i in seen if k == issue] == ids
    assert {r["status"] for r in q.list()} == {"done"}


# ---------------------------------------------------------------------------------------------------------------
# bugs found while the log was written (each test failed before its fix)


def test_lanes_of_a_half_stored_by_add_are_reported_by_the_next_flush(store, db, open_log):
    log = open_log(store, db + "-acklog", 128 << 10)
    lanes = set()
    for n in range(20):  # ~14 fit in a half: the 15th add stores the first half itself
        d = big(n, 4000, issue=None)  # a lane of its own each
        assert add(log, d)
        lanes.add(f"solo:{d['id']}")
    assert stored(db)  # add() stored a half
    assert set(log.flush()) == lanes


def test_a_delivery_in_a_half_stored_by_submit_is_processed(db, make_queue, monkeypatch):
    processor, seen = recorder()
    q = make_queue(db, processor, ack_log_mib=0.125, sweep_seconds=30)  # halves of 64 KiB
    q.start_workers(2)
    with monkeypatch.context() as m:
        m.setattr(q, "_flush_acklog", lambda: None)  # the housekeeping thread does not flush meanwhile
        assert q.submit(big(1, 30_000, issue=None))
        assert q.submit(big(2, 40_000, issue=None))  # does not fit: submit stores d1's half itself
        assert stored(db) == ["d1"]
    q._nudge()
    assert q.wait_idle(3), q.list()
    assert sorted(i for _, i in seen) == ["d1", "d2"]


@pytest.mark.parametrize("old_mib,new_mib", [(1, 2), (2, 1)], ids=["grown", "shrunk"])
def test_a_log_left_with_another_size_is_recovered(store, db, open_log, old_mib, new_mib):
    path = db + "-acklog"
    log = open_log(store, path, old_mib << 20)
    assert add(log, delivery(1)) and add(log, delivery(2))
    log.flush()  # the second half is now the active one
    assert add(log, delivery(3)) and add(log, delivery(4))
    log.close(flush=False)  # killed
    open_log(store, path, new_mib << 20).close()
    assert stored(db) == ["d1", "d2", "d3", "d4"]


@pytest.mark.parametrize("settings", [{"ack_log_mib": 0}, {"sqlite_synchronous": "FULL"}], ids=["mib-0", "full"])
def test_a_log_left_by_a_killed_process_is_recovered_with_the_log_turned_off(store, db, open_log, make_queue,
                                                                              settings):
    log = open_log(store, db + "-acklog")
    assert add(log, delivery(1)) and add(log, delivery(2))
    log.close(flush=False)  # killed
    q = make_queue(db, **settings)
    assert [r["id"] for r in q.list()] == ["d1", "d2"]
