"""The SQLite store: delivery records, dedupe keys, lane locks and worker heartbeats in ``ib_*`` tables."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from typing import Any, Callable, Iterable

from .records import _FIELDS

# Records are read by name: the table has a column more than a record (dedupe_expires, for the trigger).
_SELECT = "select " + ", ".join(_FIELDS)
_SELECT_D = "select " + ", ".join(f"d.{f}" for f in _FIELDS)


class WriteLock:
    """One writer at a time in this process, acknowledgements first.

    Every connection of the process to the queue file (ours and huey's) writes under this lock, so they
    take turns here rather than in SQLite's busy handler, which sleeps in growing steps. A group commit
    (urgent) goes before worker bookkeeping and huey's polling, which can wait a commit or two. A release
    wakes one waiter, not all: under load every commit would otherwise wake each waiting worker only for
    it to find the lock taken again, and each of those wake-ups costs the acknowledgements the GIL."""

    def __init__(self) -> None:
        mutex = threading.Lock()
        self._mutex = mutex
        self._urgent_turn = threading.Condition(mutex)
        self._normal_turn = threading.Condition(mutex)
        self._held = False
        self._urgent = 0  # urgent callers waiting
        self._normal = 0  # others waiting

    def acquire(self, urgent: bool = False) -> None:
        with self._mutex:
            if urgent:
                self._urgent += 1
                try:
                    while self._held:
                        self._urgent_turn.wait()
                finally:
                    self._urgent -= 1
            else:
                self._normal += 1
                try:
                    while self._held or self._urgent:
                        self._normal_turn.wait()
                finally:
                    self._normal -= 1
            self._held = True

    def release(self) -> None:
        with self._mutex:
            self._held = False
            if self._urgent:
                self._urgent_turn.notify()
            elif self._normal:
                self._normal_turn.notify()

    def __enter__(self) -> "WriteLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class _SqliteStore:
    kind = "sqlite"

    DDL = (
        "create table if not exists ib_delivery ("
        " id text primary key, pos integer not null, lane text not null, issue_key text, event text,"
        " status text not null, attempts integer not null default 0, last_error text, received_at text,"
        " dedupe_key text, payload text not null, next_at real, claim text, owner text, started_at real,"
        " created_at real not null, updated_at real not null, finished_at real, dedupe_expires real)",
        "create index if not exists ib_delivery_lane_pos on ib_delivery (lane, status, pos)",
        "create index if not exists ib_delivery_status_pos on ib_delivery (status, pos)",
        # submit() asks for max(pos) on every delivery: without this index that is a scan of the table.
        "create index if not exists ib_delivery_pos on ib_delivery (pos)",
        "create table if not exists ib_dedupe (key text primary key, delivery_id text, expires_at real not null)",
        "create index if not exists ib_dedupe_expires on ib_dedupe (expires_at)",
        # A stored delivery claims its dedupe key (see _add_many): the key is written by this trigger, so
        # storing a batch is one statement.
        "create trigger if not exists ib_delivery_dedupe after insert on ib_delivery"
        " when new.dedupe_key is not null and new.dedupe_expires is not null begin"
        " insert into ib_dedupe (key, delivery_id, expires_at) values (new.dedupe_key, new.id, new.dedupe_expires)"
        " on conflict (key) do update set delivery_id=excluded.delivery_id, expires_at=excluded.expires_at; end",
        "create table if not exists ib_lock (lane text primary key, owner text not null, expires_at real not null)",
        "create table if not exists ib_worker (token text primary key, ident text, pid integer, last_seen real)",
    )

    def __init__(self, path: str, synchronous: str = "NORMAL"):
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"queue.sqlite_synchronous: expected NORMAL or FULL, got {synchronous!r}")
        self.path = path
        # NORMAL (WAL): a commit survives the process being killed, not a power cut; FULL survives both at
        # the price of an fsync per delivery on the acknowledgement path.
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self.write_lock = WriteLock()  # huey's storage shares it (see DeliveryQueue)
        self._batch: list[dict] = []  # deliveries waiting for the next group commit
        self._batch_lock = threading.Lock()
        self._committing = False  # a leader is writing a batch; newcomers wait for it
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        conn = self._conn()
        # The delivery table, then the column that files made before it lack, then the rest: the trigger
        # uses that column.
        self._retry_locked(lambda: conn.execute(self.DDL[0]))
        self._add_column(conn, "ib_delivery", "dedupe_expires real")
        for statement in self.DDL[1:]:
            self._retry_locked(lambda s=statement: conn.execute(s))

    # -- plumbing
    @staticmethod
    def _retry_locked(fn: Callable[[], Any], seconds: float = 30.0) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _add_column(self, conn: sqlite3.Connection, table: str, column: str) -> None:
        name = column.split()[0]
        if any(row[1] == name for row in conn.execute(f"pragma table_info({table})")):
            return
        try:
            self._retry_locked(lambda: conn.execute(f"alter table {table} add column {column}"))
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process added it first
                raise

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._retry_locked(lambda: conn.execute("pragma journal_mode=wal"))
            conn.execute(f"pragma synchronous={self.synchronous}")
            conn.execute("pragma busy_timeout=30000")
            # The queue's housekeeping thread checkpoints (checkpoint()); left to SQLite, the commit that
            # crosses 1,000 pages would copy the log into the file, with fsyncs, under the write lock.
            conn.execute("pragma wal_autocheckpoint=0")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _tx(self):
        """A write transaction under the write lock (worker bookkeeping; not urgent)."""
        conn = self._conn()
        with self.write_lock:
            self._retry_locked(lambda: conn.execute("begin immediate"))
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            else:
                conn.execute("commit")

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file without blocking writers (PASSIVE)."""
        self._conn().execute("pragma wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict | None:
        return None if row is None else dict(row)

    # -- operations
    def ping(self) -> bool:
        self._conn().execute("select 1 from ib_delivery limit 1").fetchall()
        return True

    # A leader keeps committing while deliveries keep arriving, up to this many batches: it is already
    # running, and waking another thread to take over costs a scheduling delay on a busy machine.
    LEAD_ROUNDS = 4

    def add(self, rec: dict, key: str, ttl: float, now: float) -> bool:
        """Store one delivery. Concurrent callers are committed together (group commit): one of them, the
        leader, writes everyone waiting in one transaction while the others sleep, so N acknowledgements
        cost one lock handoff and one commit instead of N. Each caller returns only after its own row is
        committed."""
        # `wake` is held from the start; released once, when the leader has committed this job or hands it
        # the lead. A bare lock rather than an Event: one lock operation on each side.
        wake = threading.Lock()
        wake.acquire()
        job = {"args": (rec, key, ttl, now), "wake": wake, "lead": False, "result": None, "error": None,
               "done": False}
        with self._batch_lock:
            self._batch.append(job)
            if not self._committing:
                self._committing = job["lead"] = True
        if not job["lead"]:
            wake.acquire()
        if not job["done"]:  # it leads: from the start, or handed over
            self._lead(job)
        if job["error"] is not None:
            raise job["error"]
        return job["result"]

    def _lead(self, own: dict) -> None:
        """Commit the waiting deliveries, batch after batch, then give up the lead: to nobody when none is
        waiting, else to the first one waiting (so no caller commits for others for long)."""
        for _ in range(self.LEAD_ROUNDS):
            with self._batch_lock:
                jobs, self._batch = self._batch, []
            self._commit_batch(jobs, own)
            with self._batch_lock:
                if not self._batch:
                    self._committing = False
                    return
        with self._batch_lock:
            self._batch[0]["lead"] = True
            self._batch[0]["wake"].release()

    def _commit_batch(self, jobs: list[dict], own: dict) -> None:
        """Write the deliveries, then wake their callers (all but the leader's own)."""
        try:
            self._store_jobs(jobs)
        except BaseException as exc:
            for job in jobs:
                job["error"] = exc
        finally:
            for job in jobs:
                job["done"] = True
                if job is not own:
                    job["wake"].release()

    def _store_jobs(self, jobs: list[dict]) -> None:
        conn = self._conn()
        self.write_lock.acquire(urgent=True)
        try:
            for start in range(0, len(jobs), self.ROWS_PER_STATEMENT):
                self._add_many(conn, jobs[start:start + self.ROWS_PER_STATEMENT])
        finally:
            self.write_lock.release()

    def add_logged(self, entries: list[tuple]) -> list[bool]:
        """Store deliveries from the acknowledgement log (acklog.py), in order: (rec, key, ttl, now) each.
        True for each one stored; False for one whose key is live or whose id is already stored (a
        delivery logged again after a crash, or a resend whose key had expired)."""
        jobs = [{"args": entry} for entry in entries]
        self._store_jobs(jobs)
        return [job["result"] for job in jobs]

    def live_keys(self, after_rowid: int, now: float) -> tuple[list[tuple[str, str, float]], int]:
        """(key, delivery id, expiry) of the dedupe keys stored after `after_rowid` and still live, and the
        last rowid read."""
        rows = self._conn().execute("select rowid, key, delivery_id, expires_at from ib_dedupe where rowid > ?"
                                    " order by rowid", (after_rowid,)).fetchall()
        last = rows[-1][0] if rows else after_rowid
        return [(r[1], r[2], r[3]) for r in rows if r[3] > now], last

    # A batch is stored by one statement, its own transaction, whatever its size: every call into SQLite
    # hands the GIL over and has to wait to get it back, while the write lock is held and every caller in
    # the batch waits. 20 parameters a row stays far below SQLite's limit of 32,766 per statement.
    ROWS_PER_STATEMENT = 500
    _ROW_COLUMNS = tuple(f for f in _FIELDS if f != "pos") + ("dedupe_expires",)
    _INSERT = (
        f"insert or ignore into ib_delivery ({', '.join(_ROW_COLUMNS)}, pos)"
        f" select {', '.join(f'column{i + 1}' for i in range(len(_ROW_COLUMNS)))},"
        f" (select coalesce(max(pos), 0) from ib_delivery) + column{len(_ROW_COLUMNS) + 1}"
        f" from (values {{rows}})"
        f" where not exists (select 1 from ib_dedupe where key = column{_ROW_COLUMNS.index('dedupe_key') + 1}"
        f" and expires_at > ?)")
    _ROW = "(" + ", ".join("?" * (len(_ROW_COLUMNS) + 1)) + ")"

    @classmethod
    def _add_many(cls, c: sqlite3.Connection, jobs: list[dict]) -> None:
        """Store each job's delivery unless its dedupe key is live, and set job["result"].

        The statement skips a row whose key is live, and ignores one whose id is already stored (a resend
        whose key had expired); the trigger claims the key of each row stored. Of two deliveries with the
        same key or id in one batch, the first one wins, as if they had come one after the other (they are
        sorted out here, before the statement). Row i gets max(pos) + i: unique and in batch order whether
        SQLite reads max(pos) once or row by row."""
        candidates, seen = [], set()
        for job in jobs:
            rec, key, _ttl, _now = job["args"]
            job["result"] = False
            if ("key", key) in seen or ("id", rec["id"]) in seen:
                continue
            seen.update((("key", key), ("id", rec["id"])))
            candidates.append(job)
        params: list = []
        for i, job in enumerate(candidates, start=1):
            rec, key, ttl, now = job["args"]
            params += [key if f == "dedupe_key" else rec.get(f) for f in cls._ROW_COLUMNS[:-1]]
            params += (now + ttl, i)
        params.append(max(job["args"][3] for job in candidates))
        stored = c.execute(cls._INSERT.format(rows=", ".join([cls._ROW] * len(candidates))), params).rowcount
        if stored == len(candidates):
            for job in candidates:
                job["result"] = True
            return
        if stored == 0:
            return
        # Some were skipped: a stored row is one whose created_at is this caller's (a record stored
        # earlier under the same id has its own).
        ids = [job["args"][0]["id"] for job in candidates]
        created = dict(c.execute(f"select id, created_at from ib_delivery where id in ({', '.join('?' * len(ids))})",
                                 ids).fetchall())
        for job in candidates:
            rec = job["args"][0]
            job["result"] = created.get(rec["id"]) == rec["created_at"]

    def get(self, delivery_id: str) -> dict | None:
        return self._row(self._conn().execute(_SELECT + " from ib_delivery where id=?", (delivery_id,)).fetchone())

    def lane_head(self, lane: str) -> dict | None:
        row = self._conn().execute(
            _SELECT + " from ib_delivery where lane=? and status in ('queued','retrying','running')"
            " order by pos limit 1", (lane,)).fetchone()
        return self._row(row)

    def heads(self) -> list[dict]:
        rows = self._conn().execute(
            _SELECT_D + " from ib_delivery d join (select lane, min(pos) as p from ib_delivery"
            " where status in ('queued','retrying','running') group by lane) h on d.lane=h.lane and d.pos=h.p"
        ).fetchall()
        return [dict(r) for r in rows]

    def running(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute(_SELECT + " from ib_delivery where status='running'")]

    def claim(self, delivery_id: str, claim: str, owner: str, now: float) -> dict | None:
        with self._tx() as c:
            cur = c.execute(
                "update ib_delivery set status='running', claim=?, owner=?, started_at=?, updated_at=?,"
                " attempts=attempts+1 where id=? and status in ('queued','retrying','running')",
                (claim, owner, now, now, delivery_id))
            if cur.rowcount != 1:
                return None
            return self._row(c.execute(_SELECT + " from ib_delivery where id=?", (delivery_id,)).fetchone())

    def finish(self, rec: dict, claim: str | None, status: str, now: float, last_error: str | None = None,
               next_at: float | None = None, keep_error: bool = False) -> bool:
        """Move a claimed record to status (conditional on its claim): done/failed/dead leave the lane;
        retrying/queued stay in it."""
        finished = now if status in ("done", "failed", "dead") else None
        error_sql = "last_error=coalesce(?, last_error)" if keep_error else "last_error=?"
        with self._tx() as c:
            cur = c.execute(
                f"update ib_delivery set status=?, {error_sql}, next_at=?, claim=null, owner=null,"
                " updated_at=?, finished_at=? where id=? and claim is ?",
                (status, last_error, next_at, now, finished, rec["id"], claim))
            return cur.rowcount == 1

    def requeue(self, delivery_id: str, now: float) -> dict | None:
        with self._tx() as c:
            cur = c.execute(
                "update ib_delivery set status='queued', attempts=0, last_error=null, next_at=null, claim=null,"
                " owner=null, started_at=null, finished_at=null, updated_at=?,"
                " pos=(select coalesce(max(pos), 0) + 1 from ib_delivery)"
                " where id=? and status in ('dead','failed','done')", (now, delivery_id))
            if cur.rowcount != 1:
                return None
            return self._row(c.execute(_SELECT + " from ib_delivery where id=?", (delivery_id,)).fetchone())

    def records(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        sql = _SELECT + " from ib_delivery"
        if dead_only:
            sql += " where status='dead'"
        sql += " order by pos desc"
        params: tuple = ()
        if limit:
            sql += " limit ?"
            params = (int(limit),)
        rows = [dict(r) for r in self._conn().execute(sql, params)]
        rows.reverse()
        return rows

    def depth(self) -> int:
        return self._conn().execute(
            "select count(*) from ib_delivery where status in ('queued','retrying','running')").fetchone()[0]

    # -- locks and workers
    def try_lock(self, lane: str, value: str, now: float, ttl: float, owner_dead: Callable[[str], bool]) -> bool:
        with self._tx() as c:
            row = c.execute("select owner, expires_at from ib_lock where lane=?", (lane,)).fetchone()
            if row is not None and row[1] > now and not owner_dead(row[0]):
                return False
            c.execute("insert or replace into ib_lock (lane, owner, expires_at) values (?,?,?)",
                      (lane, value, now + ttl))
            return True

    def lock_owner(self, lane: str) -> str | None:
        row = self._conn().execute("select owner, expires_at from ib_lock where lane=?", (lane,)).fetchone()
        if row is None or row[1] <= time.time():
            return None
        return row[0]

    def release_lock(self, lane: str, value: str) -> None:
        with self._tx() as c:
            c.execute("delete from ib_lock where lane=? and owner=?", (lane, value))

    def refresh_locks(self, held: Iterable[tuple[str, str]], now: float, ttl: float) -> None:
        held = list(held)
        if not held:
            return
        with self._tx() as c:
            c.executemany("update ib_lock set expires_at=? where lane=? and owner=?",
                          [(now + ttl, lane, value) for lane, value in held])

    def heartbeat(self, token: str, ident: str, pid: int, now: float, ttl: float) -> None:
        with self._tx() as c:
            c.execute("insert or replace into ib_worker (token, ident, pid, last_seen) values (?,?,?,?)",
                      (token, ident, pid, now))
            c.execute("delete from ib_worker where last_seen < ?", (now - 10 * ttl,))

    def get_worker(self, token: str) -> tuple[str, int, float] | None:
        row = self._conn().execute("select ident, pid, last_seen from ib_worker where token=?",
                                   (token,)).fetchone()
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def remove_worker(self, token: str) -> None:
        with self._tx() as c:
            c.execute("delete from ib_worker where token=?", (token,))

    def purge(self, now: float, done_retention: float) -> None:
        with self._tx() as c:
            c.execute("delete from ib_dedupe where expires_at < ?", (now,))
            c.execute("delete from ib_delivery where status='done' and finished_at < ?", (now - done_retention,))
