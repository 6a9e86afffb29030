"""The delivery store on one SQLite table (the embedded default).

Every write is one short transaction (``BEGIN IMMEDIATE``); ``synchronous=FULL`` by default, so an
acknowledged delivery survives a power cut, not only a killed process. Several processes may share the
file: SQLite's own lock orders their claims.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import contextmanager

from .store import FINAL, REPLAYED, STATUSES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    pos INTEGER NOT NULL,
    dedupe_key TEXT UNIQUE,
    dedupe_until REAL,
    lane TEXT,
    issue_key TEXT,
    event TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL,
    lease_until REAL,
    claim TEXT,
    last_error TEXT,
    payload TEXT,
    received_at TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_pos ON deliveries (pos);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (lane, pos)
    WHERE status IN ('queued', 'retrying', 'running');
"""

_PENDING_SQL = "('queued', 'retrying', 'running')"
_FIELDS = ("id", "lane", "issue_key", "event", "status", "attempts", "last_error", "received_at", "payload",
           "next_at", "updated_at")


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: str, synchronous: str = "FULL"):
        synchronous = str(synchronous).upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"queue.sqlite_synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path, self.synchronous = path, synchronous
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if self._closed:  # a worker still finishing after close(): its connection goes now, not mid-call
            if conn is not None:
                conn.close()
                self._local.conn = None
            raise sqlite3.ProgrammingError("the queue store is closed")
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("pragma journal_mode=WAL")
            conn.execute(f"pragma synchronous={self.synchronous}")
            self._local.conn = conn
            with self._all_lock:
                self._all.append((threading.current_thread(), conn))
        return conn

    @contextmanager
    def _write(self):
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _insert(self, conn, row: dict, status: str, now: float, dedupe_seconds: float) -> bool:
        # A key whose window has passed no longer dedupes; its row stays until purged.
        conn.execute("UPDATE deliveries SET dedupe_key = NULL WHERE dedupe_key = ? AND dedupe_until <= ?",
                     (row["dedupe_key"], now))
        cur = conn.execute(
            "INSERT OR IGNORE INTO deliveries (id, pos, dedupe_key, dedupe_until, lane, issue_key, event, status,"
            " payload, received_at, created_at, updated_at)"
            " SELECT ?, COALESCE(MAX(pos), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM deliveries",
            (row["id"], row["dedupe_key"], now + dedupe_seconds, row.get("lane"), row.get("issue_key"),
             row.get("event"), status, row.get("payload"), row.get("received_at"), now, now))
        return cur.rowcount == 1

    def add(self, row: dict, now: float, dedupe_seconds: float) -> bool:
        with self._write() as conn:
            return self._insert(conn, row, "queued", now, dedupe_seconds)

    def remember(self, dedupe_key: str, now: float, dedupe_seconds: float) -> bool:
        with self._write() as conn:
            return self._insert(conn, {"id": "key:" + uuid.uuid4().hex, "dedupe_key": dedupe_key}, "ignored",
                                now, dedupe_seconds)

    def claim(self, claim: str, now: float, lease_seconds: float) -> dict | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT d.id FROM deliveries d"
                f" JOIN (SELECT lane, MIN(pos) AS pos FROM deliveries WHERE status IN {_PENDING_SQL} GROUP BY lane) h"
                " ON d.lane = h.lane AND d.pos = h.pos"
                " WHERE d.status = 'queued' OR (d.status = 'retrying' AND d.next_at <= ?)"
                " OR (d.status = 'running' AND d.lease_until <= ?)"
                " ORDER BY d.pos LIMIT 1", (now, now)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE deliveries SET status = 'running', attempts = attempts + 1, claim = ?,"
                         " lease_until = ?, updated_at = ? WHERE id = ?", (claim, now + lease_seconds, now, row[0]))
            return self._row(conn, row[0])

    def extend(self, delivery_id: str, claim: str, until: float) -> bool:
        with self._write() as conn:
            return conn.execute("UPDATE deliveries SET lease_until = ? WHERE id = ? AND claim = ?"
                                " AND status = 'running'", (until, delivery_id, claim)).rowcount == 1

    def finish(self, delivery_id: str, claim: str, status: str, now: float, error: str | None = None,
               next_at: float | None = None) -> bool:
        if status not in FINAL + ("retrying", "queued"):
            raise ValueError(f"unknown outcome {status!r}")
        with self._write() as conn:
            return conn.execute(
                "UPDATE deliveries SET status = ?, last_error = ?, next_at = ?, claim = NULL, lease_until = NULL,"
                " updated_at = ? WHERE id = ? AND claim = ? AND status = 'running'",
                (status, error, next_at, now, delivery_id, claim)).rowcount == 1

    def replay(self, delivery_id: str, now: float) -> bool:
        with self._write() as conn:
            return conn.execute(
                "UPDATE deliveries SET status = 'queued', attempts = 0, last_error = ?, next_at = NULL,"
                " pos = (SELECT MAX(pos) + 1 FROM deliveries), updated_at = ?"
                f" WHERE id = ? AND status IN {tuple(FINAL)!r}", (REPLAYED, now, delivery_id)).rowcount == 1

    def _row(self, conn, delivery_id: str) -> dict | None:
        row = conn.execute(f"SELECT {', '.join(_FIELDS)} FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return None if row is None or row["status"] not in STATUSES else dict(row)

    def get(self, delivery_id: str) -> dict | None:
        return self._row(self._conn(), delivery_id)

    def list(self, statuses: tuple[str, ...] = STATUSES, limit: int | None = None) -> list[dict]:
        marks = ", ".join("?" * len(statuses))
        rows = self._conn().execute(
            f"SELECT {', '.join(_FIELDS)} FROM deliveries WHERE status IN ({marks}) ORDER BY pos LIMIT ?",
            (*statuses, -1 if limit is None else int(limit))).fetchall()
        return [dict(r) for r in rows]

    def depth(self) -> int:
        return self._conn().execute(f"SELECT COUNT(*) FROM deliveries WHERE status IN {_PENDING_SQL}").fetchone()[0]

    def purge(self, now: float, keep_seconds: float) -> int:
        with self._write() as conn:
            return conn.execute(
                f"DELETE FROM deliveries WHERE (status IN {tuple(FINAL)!r} AND updated_at < ?)"
                " OR (status = 'ignored' AND dedupe_until <= ?)", (now - keep_seconds, now)).rowcount

    def ping(self) -> bool:
        # A connection of its own: the cached ones keep working on a file that was deleted under them.
        conn = sqlite3.connect(self.path, timeout=5)
        try:
            conn.execute("SELECT COUNT(*) FROM deliveries WHERE 0").fetchone()
            return True
        finally:
            conn.close()

    def close(self) -> None:
        """Close the connections no other thread may be using: closing one under a running statement
        crashes the process (SQLite frees it mid-call). A thread still at work closes its own on its next
        call, which then fails."""
        with self._all_lock:
            self._closed = True
            conns, self._all = self._all, []
        me = threading.current_thread()
        for thread, conn in conns:
            if thread is me or not thread.is_alive():
                conn.close()

