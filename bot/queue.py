"""The durable delivery queue: accept a webhook delivery fast, process it later, at least once, in order per incident.

The queue does not know what a delivery means: the processor (``Callable[[dict], None]``) is injected.

Storage
    ``redis://`` (or ``rediss://``, ``unix://``) URL -> huey's RedisHuey plus our own Redis keys under ``<name>:``;
    otherwise huey's SqliteHuey plus our own ``ib_*`` tables in the same SQLite file.
    huey only carries wake-up messages ("drain lane X") and runs the worker threads and the retry schedule;
    the source of truth is our own delivery record (status, attempts, last_error, payload), so a lost huey
    message never loses a delivery.

Order
    Every delivery belongs to a *lane*: ``issue:<issue_key>``, or ``solo:<id>`` when issue_key is None.
    A lane is a FIFO ordered by a store-wide sequence number (SQLite ``pos`` column / Redis sorted set).
    The huey task ``drain(lane)`` takes the lane's lock (owner = process token + random suffix, with an expiry
    refreshed by the heartbeat), then processes the lane head by head until it is empty or the head waits for
    a retry. After releasing the lock it looks at the head again, so a delivery submitted while the lock was
    held is never stranded. One lane is therefore processed by at most one worker at a time, in arrival
    order, whatever the number of threads or processes. A head that waits for a retry blocks its lane (its
    later deliveries wait behind it); a dead or failed head leaves the lane, and the lane moves on.

Durability (at-least-once)
    submit() writes the record and the dedupe key in one transaction (SQLite, synchronous=FULL) or one Lua
    script (Redis; durable as far as the Redis server's persistence is configured), then enqueues the huey
    wake-up. Each consumer process writes a heartbeat (token, host+pid-namespace identity, pid, last_seen).
    On worker start and then every ``sweep_seconds`` a sweeper:
      - re-queues records left "running" by a worker that is gone (heartbeat expired, or same host and the pid
        no longer exists, or the same process no longer runs that claim) or that has been running for more
        than ``stale_running_minutes``; a record whose attempts are exhausted becomes dead instead (poison
        delivery protection). The dead owner's lane lock is removed.
      - wakes lanes whose head is ready but that no live worker holds (always at start; later only when
        huey's queue is empty, so a backlog does not pile up duplicate wake-ups). Wake-ups are idempotent.
    Processors must be idempotent: a delivery killed mid-processing runs again.

Failures
    RetryableError (and any *unknown* exception, so that a bug fix plus ``replay`` can recover)
    -> retry after ``uniform(0, min(retry_max_seconds, retry_base_seconds * 2**n))`` seconds (full jitter,
    n = 0 for the first retry), or ``retry_after`` when that is larger; after ``max_retries`` retries -> dead
    with the last error. PermanentError -> failed (not retried). Dead and failed records stay listed and can
    be replayed.

Extra settings read from ``cfg.queue`` with defaults (not in config.DEFAULTS): ``sweep_seconds`` (5),
``heartbeat_ttl_seconds`` (60), ``stale_running_minutes`` (30), ``poll_max_seconds`` (0.5, idle polling of
SQLite), ``lock_ttl_seconds`` (120), ``done_retention_hours`` (dedupe_hours).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from typing import Any, Callable, Iterable

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer

from bot import metrics
from bot.logs import log_context

LOG = logging.getLogger("incident_bot.queue")

PENDING = ("queued", "retrying", "running")
STATUSES = ("queued", "running", "retrying", "done", "failed", "dead")
_MAX_ERROR = 2000

_QUEUE_DEFAULTS: dict[str, Any] = {
    "url": None,
    "sqlite_path": "incident-bot-queue.db",
    "workers": 4,
    "dedupe_hours": 24,
    "max_retries": 5,
    "retry_base_seconds": 2.0,
    "retry_max_seconds": 300.0,
    "sweep_seconds": 5.0,
    "heartbeat_ttl_seconds": 60.0,
    "stale_running_minutes": 30.0,
    "poll_max_seconds": 0.5,
    "lock_ttl_seconds": 120.0,
    "done_retention_hours": None,
}


# ---------------------------------------------------------------------------------------------------------------
# errors and the dedupe key


class RetryableError(Exception):
    """A transient failure (429, 5xx, connection error, timeout): the delivery is retried with backoff."""

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = None if retry_after is None else max(0.0, float(retry_after))


class PermanentError(Exception):
    """A failure that will not go away by retrying (4xx other than 429): the delivery is marked failed."""


class QueueUnavailable(Exception):
    """The queue's store cannot be reached; submit() raises it so the web layer can answer 503."""


def dedupe_key(headers: dict | None, body: bytes | str | None, event_kind: str | None, object_id: Any) -> str:
    """The idempotency key of a delivery.

    ``Idempotency-Key`` (GitLab 17.4+) when present; else ``X-Gitlab-Event-UUID`` + event kind + object id
    (one UUID is shared by a chain of hooks triggered by one event, so the UUID alone is not enough);
    else the sha256 of the body. Header names are matched case-insensitively.
    """
    lower = {str(k).lower(): v for k, v in (headers or {}).items()}
    idem = str(lower.get("idempotency-key") or "").strip()
    if idem:
        return "idem:" + idem
    event_uuid = str(lower.get("x-gitlab-event-uuid") or "").strip()
    if event_uuid:
        return f"uuid:{event_uuid}:{event_kind or ''}:{'' if object_id is None else object_id}"
    if isinstance(body, str):
        body = body.encode("utf-8")
    return "sha256:" + hashlib.sha256(body or b"").hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# process identity and liveness


def _process_ident() -> str:
    """Host name plus PID namespace: two processes with the same ident can judge each other's pid."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return f"{socket.gethostname()}|{ns}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours (EPERM)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False  # killed, not yet reaped
    except (OSError, IndexError):
        pass
    return True


# tokens of queue instances whose workers run in this process: token -> pid
_LOCAL_TOKENS: dict[str, int] = {}
_LOCAL_LOCK = threading.Lock()


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# stores: the same operations on SQLite and on Redis

_FIELDS = (
    "id", "pos", "lane", "issue_key", "event", "status", "attempts", "last_error", "received_at", "dedupe_key",
    "payload", "next_at", "claim", "owner", "started_at", "created_at", "updated_at", "finished_at",
)
_INT_FIELDS = ("pos", "attempts")
_FLOAT_FIELDS = ("next_at", "started_at", "created_at", "updated_at", "finished_at")


class _SqliteStore:
    kind = "sqlite"

    DDL = (
        "create table if not exists ib_delivery ("
        " id text primary key, pos integer not null, lane text not null, issue_key text, event text,"
        " status text not null, attempts integer not null default 0, last_error text, received_at text,"
        " dedupe_key text, payload text not null, next_at real, claim text, owner text, started_at real,"
        " created_at real not null, updated_at real not null, finished_at real)",
        "create index if not exists ib_delivery_lane_pos on ib_delivery (lane, status, pos)",
        "create index if not exists ib_delivery_status_pos on ib_delivery (status, pos)",
        "create table if not exists ib_dedupe (key text primary key, delivery_id text, expires_at real not null)",
        "create index if not exists ib_dedupe_expires on ib_dedupe (expires_at)",
        "create table if not exists ib_lock (lane text primary key, owner text not null, expires_at real not null)",
        "create table if not exists ib_worker (token text primary key, ident text, pid integer, last_seen real)",
    )

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        # Threads of one process take turns here rather than in SQLite's busy handler, which sleeps in
        # growing steps and would put those sleeps on the webhook's acknowledgement path.
        self._write = threading.Lock()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        conn = self._conn()
        for statement in self.DDL:
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

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._retry_locked(lambda: conn.execute("pragma journal_mode=wal"))
            conn.execute("pragma synchronous=FULL")
            conn.execute("pragma busy_timeout=30000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _tx(self):
        conn = self._conn()
        with self._write:
            self._retry_locked(lambda: conn.execute("begin immediate"))
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            else:
                conn.execute("commit")

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

    def add(self, rec: dict, key: str, ttl: float, now: float) -> bool:
        with self._tx() as c:
            if c.execute("select 1 from ib_delivery where id=?", (rec["id"],)).fetchone():
                return False
            row = c.execute("select expires_at from ib_dedupe where key=?", (key,)).fetchone()
            if row is not None and row[0] > now:
                return False
            c.execute("insert or replace into ib_dedupe (key, delivery_id, expires_at) values (?,?,?)",
                      (key, rec["id"], now + ttl))
            pos = c.execute("select coalesce(max(pos), 0) + 1 from ib_delivery").fetchone()[0]
            rec = dict(rec, pos=pos)
            cols = [f for f in _FIELDS if f in rec]
            c.execute(f"insert into ib_delivery ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
                      [rec[f] for f in cols])
            return True

    def get(self, delivery_id: str) -> dict | None:
        return self._row(self._conn().execute("select * from ib_delivery where id=?", (delivery_id,)).fetchone())

    def lane_head(self, lane: str) -> dict | None:
        row = self._conn().execute(
            "select * from ib_delivery where lane=? and status in ('queued','retrying','running')"
            " order by pos limit 1", (lane,)).fetchone()
        return self._row(row)

    def heads(self) -> list[dict]:
        rows = self._conn().execute(
            "select d.* from ib_delivery d join (select lane, min(pos) as p from ib_delivery"
            " where status in ('queued','retrying','running') group by lane) h on d.lane=h.lane and d.pos=h.p"
        ).fetchall()
        return [dict(r) for r in rows]

    def running(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("select * from ib_delivery where status='running'")]

    def claim(self, delivery_id: str, claim: str, owner: str, now: float) -> dict | None:
        with self._tx() as c:
            cur = c.execute(
                "update ib_delivery set status='running', claim=?, owner=?, started_at=?, updated_at=?,"
                " attempts=attempts+1 where id=? and status in ('queued','retrying','running')",
                (claim, owner, now, now, delivery_id))
            if cur.rowcount != 1:
                return None
            return self._row(c.execute("select * from ib_delivery where id=?", (delivery_id,)).fetchone())

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
            return self._row(c.execute("select * from ib_delivery where id=?", (delivery_id,)).fetchone())

    def records(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        sql = "select * from ib_delivery"
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
        self._retry_locked(lambda: self._conn().execute(
            "delete from ib_lock where lane=? and owner=?", (lane, value)))

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
        self._retry_locked(lambda: self._conn().execute("delete from ib_worker where token=?", (token,)))

    def purge(self, now: float, done_retention: float) -> None:
        with self._tx() as c:
            c.execute("delete from ib_dedupe where expires_at < ?", (now,))
            c.execute("delete from ib_delivery where status='done' and finished_at < ?", (now - done_retention,))


_LUA_ADD = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
local pos = redis.call('INCR', KEYS[7])
redis.call('HSET', KEYS[2], 'pos', pos, unpack(ARGV, 4))
redis.call('ZADD', KEYS[3], pos, ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[5], ARGV[2])
redis.call('ZADD', KEYS[6], pos, ARGV[2])
return pos
"""

_LUA_CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'queued' and st ~= 'retrying' and st ~= 'running' then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'claim', ARGV[1], 'owner', ARGV[2], 'started_at', ARGV[3],
           'updated_at', ARGV[3])
return 1
"""

# KEYS: rec, lane, lanes, pending, done ; ARGV: claim, lane, id, status, leaves(0/1), now, field/value...
_LUA_FINISH = """
local cur = redis.call('HGET', KEYS[1], 'claim')
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'updated_at', ARGV[6], 'claim', '', 'owner', '', unpack(ARGV, 7))
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
  redis.call('SREM', KEYS[4], ARGV[3])
  if ARGV[4] == 'done' then redis.call('ZADD', KEYS[5], ARGV[6], ARGV[3]) end
end
return 1
"""

# KEYS: rec, lane, lanes, pending, all, seq, done ; ARGV: id, lane, now
_LUA_REQUEUE = """
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'dead' and st ~= 'failed' and st ~= 'done' then return 0 end
local pos = redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', 0, 'last_error', '', 'next_at', '', 'claim', '',
           'owner', '', 'started_at', '', 'finished_at', '', 'pos', pos, 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], pos, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], pos, ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
return 1
"""

_LUA_CAS_SET = """
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

_LUA_CAS_DEL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_LUA_CAS_PEXPIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class _RedisStore:
    kind = "redis"

    def __init__(self, client, prefix: str):
        self.r = client
        self.p = prefix
        self._add = client.register_script(_LUA_ADD)
        self._claim = client.register_script(_LUA_CLAIM)
        self._finish = client.register_script(_LUA_FINISH)
        self._requeue = client.register_script(_LUA_REQUEUE)
        self._cas_set = client.register_script(_LUA_CAS_SET)
        self._cas_del = client.register_script(_LUA_CAS_DEL)
        self._cas_pexpire = client.register_script(_LUA_CAS_PEXPIRE)

    # keys
    def _k(self, *parts: str) -> str:
        return ":".join((self.p,) + parts)

    def _rec_key(self, delivery_id: str) -> str:
        return self._k("d", delivery_id)

    def _lane_key(self, lane: str) -> str:
        return self._k("lane", lane)

    @staticmethod
    def _encode(value: Any) -> str:
        return "" if value is None else str(value)

    @staticmethod
    def _decode(raw: dict) -> dict | None:
        if not raw:
            return None
        out: dict[str, Any] = {}
        for key in _FIELDS:
            value = raw.get(key, "")
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            if value == "":
                out[key] = 0 if key in _INT_FIELDS else None
            elif key in _INT_FIELDS:
                out[key] = int(value)
            elif key in _FLOAT_FIELDS:
                out[key] = float(value)
            else:
                out[key] = value
        return out

    def _hgetall_many(self, ids: Iterable[Any]) -> list[dict]:
        ids = [i.decode() if isinstance(i, bytes) else i for i in ids]
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for delivery_id in ids:
            pipe.hgetall(self._rec_key(delivery_id))
        out = []
        for raw in pipe.execute():
            rec = self._decode({(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()})
            if rec is not None:
                out.append(rec)
        return out

    # operations
    def ping(self) -> bool:
        return bool(self.r.ping())

    def add(self, rec: dict, key: str, ttl: float, now: float) -> bool:
        args: list[Any] = [max(1, int(ttl)), rec["id"], rec["lane"]]
        for field in _FIELDS:
            if field != "pos" and field in rec:
                args += [field, self._encode(rec[field])]
        keys = [self._k("dd", hashlib.sha256(key.encode()).hexdigest()), self._rec_key(rec["id"]),
                self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"), self._k("all"), self._k("seq")]
        return bool(self._add(keys=keys, args=args))

    def get(self, delivery_id: str) -> dict | None:
        recs = self._hgetall_many([delivery_id])
        return recs[0] if recs else None

    def lane_head(self, lane: str) -> dict | None:
        ids = self.r.zrange(self._lane_key(lane), 0, 0)
        recs = self._hgetall_many(ids)
        return recs[0] if recs else None

    def heads(self) -> list[dict]:
        lanes = [m.decode() if isinstance(m, bytes) else m for m in self.r.smembers(self._k("lanes"))]
        if not lanes:
            return []
        pipe = self.r.pipeline(transaction=False)
        for lane in lanes:
            pipe.zrange(self._lane_key(lane), 0, 0)
        ids = [found[0] for found in pipe.execute() if found]
        return self._hgetall_many(ids)

    def running(self) -> list[dict]:
        return [r for r in self._hgetall_many(self.r.smembers(self._k("pending"))) if r["status"] == "running"]

    def claim(self, delivery_id: str, claim: str, owner: str, now: float) -> dict | None:
        if not self._claim(keys=[self._rec_key(delivery_id)], args=[claim, owner, repr(now)]):
            return None
        return self.get(delivery_id)

    def finish(self, rec: dict, claim: str | None, status: str, now: float, last_error: str | None = None,
               next_at: float | None = None, keep_error: bool = False) -> bool:
        leaves = status in ("done", "failed", "dead")
        fields: list[Any] = ["next_at", self._encode(next_at), "finished_at", repr(now) if leaves else ""]
        if not (keep_error and last_error is None):
            fields += ["last_error", self._encode(last_error)]
        keys = [self._rec_key(rec["id"]), self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"),
                self._k("done")]
        args = [self._encode(claim), rec["lane"], rec["id"], status, "1" if leaves else "0", repr(now)] + fields
        return bool(self._finish(keys=keys, args=args))

    def requeue(self, delivery_id: str, now: float) -> dict | None:
        rec = self.get(delivery_id)
        if rec is None:
            return None
        keys = [self._rec_key(delivery_id), self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"),
                self._k("all"), self._k("seq"), self._k("done")]
        if not self._requeue(keys=keys, args=[delivery_id, rec["lane"], repr(now)]):
            return None
        return self.get(delivery_id)

    def records(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        if limit and not dead_only:
            ids = self.r.zrange(self._k("all"), -int(limit), -1)
        else:
            ids = self.r.zrange(self._k("all"), 0, -1)
        recs = self._hgetall_many(ids)
        if dead_only:
            recs = [r for r in recs if r["status"] == "dead"]
            if limit:
                recs = recs[-int(limit):]
        return recs

    def depth(self) -> int:
        return int(self.r.scard(self._k("pending")))

    # locks and workers
    def try_lock(self, lane: str, value: str, now: float, ttl: float, owner_dead: Callable[[str], bool]) -> bool:
        key = self._k("lock", lane)
        ttl_ms = max(1, int(ttl * 1000))
        if self.r.set(key, value, nx=True, px=ttl_ms):
            return True
        current = self.r.get(key)
        if current is None:
            return bool(self.r.set(key, value, nx=True, px=ttl_ms))
        current = current.decode() if isinstance(current, bytes) else current
        if not owner_dead(current):
            return False
        return bool(self._cas_set(keys=[key], args=[current, value, ttl_ms]))

    def lock_owner(self, lane: str) -> str | None:
        value = self.r.get(self._k("lock", lane))
        return value.decode() if isinstance(value, bytes) else value

    def release_lock(self, lane: str, value: str) -> None:
        self._cas_del(keys=[self._k("lock", lane)], args=[value])

    def refresh_locks(self, held: Iterable[tuple[str, str]], now: float, ttl: float) -> None:
        for lane, value in list(held):
            self._cas_pexpire(keys=[self._k("lock", lane)], args=[value, max(1, int(ttl * 1000))])

    def heartbeat(self, token: str, ident: str, pid: int, now: float, ttl: float) -> None:
        key = self._k("w", token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"ident": ident, "pid": pid, "last_seen": repr(now)})
        pipe.expire(key, max(1, int(ttl)))
        pipe.execute()

    def get_worker(self, token: str) -> tuple[str, int, float] | None:
        raw = self.r.hgetall(self._k("w", token))
        if not raw:
            return None
        raw = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in raw.items()}
        try:
            return raw["ident"], int(raw["pid"]), float(raw["last_seen"])
        except (KeyError, ValueError):
            return None

    def remove_worker(self, token: str) -> None:
        self.r.delete(self._k("w", token))

    def purge(self, now: float, done_retention: float) -> None:
        old = self.r.zrangebyscore(self._k("done"), "-inf", now - done_retention, start=0, num=1000)
        if not old:
            return
        pipe = self.r.pipeline(transaction=True)
        for delivery_id in old:
            delivery_id = delivery_id.decode() if isinstance(delivery_id, bytes) else delivery_id
            pipe.delete(self._rec_key(delivery_id))
            pipe.zrem(self._k("all"), delivery_id)
            pipe.zrem(self._k("done"), delivery_id)
        pipe.execute()

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------------
# the queue


class _EmbeddedConsumer(Consumer):
    """A huey consumer that runs inside another program: it must not take over SIGINT/SIGTERM/SIGHUP."""

    def _set_signal_handlers(self):
        pass


class DeliveryQueue:
    """See the module docstring. Thread-safe; one instance per process is the normal use."""

    def __init__(self, cfg: Any, processor: Callable[[dict], None] | None = None, *, url: str | None = None,
                 sqlite_path: str | None = None, name: str = "incident-bot"):
        settings = dict(_QUEUE_DEFAULTS)
        settings.update(getattr(cfg, "queue", None) or {})
        self.settings = settings
        self.processor = processor
        self.name = name
        if url is None:
            url = getattr(cfg, "queue_url", None) or settings.get("url") or None
        self.url = url
        if url and url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=3, socket_timeout=10,
                                                 health_check_interval=30)
            self._redis = redis.Redis(connection_pool=pool)
            self._store: Any = _RedisStore(self._redis, prefix=name)
            self.huey = RedisHuey(name, connection_pool=pool, results=False, store_none=False, utc=True,
                                  blocking=True, read_timeout=1)
        elif url and url.startswith("sqlite:///"):
            sqlite_path = sqlite_path or url[len("sqlite:///") - 1:]
            url = None
        elif url:
            raise ValueError(f"unsupported queue URL {url!r}: expected redis://... (or none for SQLite)")
        if not url:
            self.sqlite_path = sqlite_path or settings.get("sqlite_path") or "incident-bot-queue.db"
            self._store = _SqliteStore(self.sqlite_path)
            # Our own record is the durable truth (synchronous=FULL); a huey wake-up lost to a power cut is
            # re-created by the sweeper, so it need not wait for a second fsync on the acknowledgement path.
            self.huey = SqliteHuey(name, filename=self.sqlite_path, results=False, store_none=False, utc=True,
                                   timeout=30, fsync=False)
            # One in-process lock for both connections to the file, so they never meet in SQLite's busy handler.
            self._store._write = self.huey.storage.lock
        self.backend = self._store.kind
        self._drain_task = self.huey.task(name="incident_bot_drain")(self._drain)

        self._token: str | None = None
        self._ident = _process_ident()
        self._held: set[tuple[str, str]] = set()  # (lane, lock value) held by this process
        self._active_claims: set[str] = set()
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._consumer: Consumer | None = None
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        self._last_purge = 0.0
        self._last_health = 0.0
        metrics.set_queue_depth_source(self._safe_depth)

    # -- settings
    def _f(self, key: str) -> float:
        value = self.settings.get(key)
        return float(_QUEUE_DEFAULTS[key] if value is None else value)

    @property
    def _hb_ttl(self) -> float:
        return max(self._f("heartbeat_ttl_seconds"), 3 * self._f("sweep_seconds"))

    # -- web side
    def submit(self, delivery: dict) -> bool:
        """Store the delivery durably and wake a worker. True = accepted (answer 202), False = duplicate (200).

        Fills in ``id`` (uuid4), ``received_at`` and ``dedupe_key`` on the given dict when they are missing.
        Raises QueueUnavailable when the store cannot be reached, TypeError when the delivery is not JSON."""
        if not isinstance(delivery, dict):
            raise TypeError("a delivery is a dict")
        if not delivery.get("id"):
            delivery["id"] = str(uuid.uuid4())
        delivery.setdefault("received_at", _now_iso())
        if not delivery.get("dedupe_key"):
            delivery["dedupe_key"] = dedupe_key(delivery.get("headers"), delivery.get("body"),
                                                delivery.get("event"), None)
        issue_key = delivery.get("issue_key")
        issue_key = None if issue_key in (None, "") else str(issue_key)
        lane = f"issue:{issue_key}" if issue_key else f"solo:{delivery['id']}"
        payload = json.dumps(delivery)
        now = time.time()
        rec = {
            "id": str(delivery["id"]), "lane": lane, "issue_key": issue_key, "event": delivery.get("event"),
            "status": "queued", "attempts": 0, "last_error": None, "received_at": delivery.get("received_at"),
            "dedupe_key": delivery["dedupe_key"], "payload": payload, "created_at": now, "updated_at": now,
        }
        ttl = float(self.settings.get("dedupe_hours") or 24) * 3600
        try:
            added = self._store.add(rec, delivery["dedupe_key"], ttl, now)
        except Exception as exc:
            LOG.error("queue store unavailable: %s", _error_text(exc), extra={"delivery_id": rec["id"]})
            raise QueueUnavailable(_error_text(exc)) from exc
        if not added:
            metrics.deliveries_duplicate_total.inc()
            LOG.info("duplicate delivery ignored", extra={"delivery_id": rec["id"], "dedupe_key": rec["dedupe_key"]})
            return False
        metrics.deliveries_accepted_total.inc()
        try:
            self._drain_task(lane)
        except Exception as exc:  # stored: the sweeper will wake the lane
            LOG.warning("delivery stored but the wake-up failed: %s", _error_text(exc),
                        extra={"delivery_id": rec["id"]})
        return True

    def healthy(self) -> bool:
        try:
            return bool(self._store.ping())
        except Exception as exc:
            LOG.warning("queue store unreachable: %s", _error_text(exc))
            return False

    def depth(self) -> int:
        return int(self._store.depth())

    def _safe_depth(self) -> int:
        return self.depth()

    def list(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        """Delivery records, oldest first: id, event, issue_key, status, attempts, last_error, received_at,
        updated_at, next_attempt_at."""
        out = []
        for rec in self._store.records(dead_only=dead_only, limit=limit):
            out.append({
                "id": rec["id"], "event": rec["event"], "issue_key": rec["issue_key"], "status": rec["status"],
                "attempts": rec["attempts"], "last_error": rec["last_error"], "received_at": rec["received_at"],
                "updated_at": _iso(rec["updated_at"]),
                "next_attempt_at": _iso(rec["next_at"]) if rec["status"] == "retrying" else None,
            })
        return out

    def get(self, delivery_id: str) -> dict | None:
        """The stored delivery (as submitted) plus its record fields, or None."""
        rec = self._store.get(delivery_id)
        if rec is None:
            return None
        return dict(json.loads(rec["payload"]), _status=rec["status"], _attempts=rec["attempts"],
                    _last_error=rec["last_error"])

    def replay(self, delivery_id: str) -> bool:
        """Queue a dead, failed or done delivery again (attempts reset, placed at the end of its lane).
        False when it is unknown or still pending."""
        rec = self._store.requeue(delivery_id, time.time())
        if rec is None:
            return False
        LOG.info("delivery replayed", extra={"delivery_id": delivery_id})
        self._wake(rec["lane"])
        return True

    def replay_all_dead(self) -> int:
        return sum(1 for rec in self.list(dead_only=True) if self.replay(rec["id"]))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.depth() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # -- workers
    def start_workers(self, n: int | None = None) -> None:
        """Embedded mode: huey consumer threads in this process, plus the sweeper. Returns at once."""
        if self._consumer is not None:
            return
        workers = int(n if n is not None else self.settings.get("workers") or 4)
        self._begin()
        self._consumer = self._make_consumer(_EmbeddedConsumer, workers)
        self._consumer.start()
        self._start_sweeper()
        LOG.info("queue workers started", extra={"workers": workers, "backend": self.backend})

    def run_worker(self, n: int | None = None) -> None:
        """`incident-bot worker`: a blocking consumer; SIGTERM stops gracefully, SIGINT at once.
        Called outside the main thread (tests), it runs until stop()."""
        if threading.current_thread() is not threading.main_thread():
            self.start_workers(n)
            while self._consumer is not None and not self._stopping.wait(0.2):
                pass
            return
        workers = int(n if n is not None else self.settings.get("workers") or 4)
        self._begin()
        self._consumer = self._make_consumer(Consumer, workers)
        self._start_sweeper()
        LOG.info("queue worker running", extra={"workers": workers, "backend": self.backend})
        try:
            self._consumer.run()
        finally:
            self._finish_stop(wait_workers=False)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers: each finishes the delivery it is processing (up to timeout seconds)."""
        consumer = self._consumer
        if consumer is None:
            return
        self._stopping.set()
        consumer.shutdown_timeout = timeout
        consumer.stop(graceful=True)
        self._finish_stop(wait_workers=True)

    def _make_consumer(self, cls: type, workers: int) -> Consumer:
        return cls(self.huey, workers=workers, periodic=False, initial_delay=0.05, backoff=1.5,
                   max_delay=max(0.05, self._f("poll_max_seconds")), scheduler_interval=1,
                   worker_type="thread", check_worker_health=True, health_check_interval=10,
                   graceful_signal="TERM", shutdown_timeout=30)

    def _begin(self) -> None:
        self._stopping = threading.Event()
        self._sweeper_stop = threading.Event()
        self._token = uuid.uuid4().hex
        with _LOCAL_LOCK:
            _LOCAL_TOKENS[self._token] = os.getpid()
        self._heartbeat()
        try:
            self._sweep(startup=True)
        except Exception:
            LOG.exception("startup recovery sweep failed; it will run again")

    def _finish_stop(self, wait_workers: bool) -> None:
        self._stopping.set()
        self._sweeper_stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        consumer, self._consumer, self._sweeper = self._consumer, None, None
        alive = False
        if consumer is not None and wait_workers:
            alive = any(t.is_alive() for _, t in consumer.worker_threads)
        if alive:
            LOG.warning("queue workers still running after stop; their records are recovered when they end")
            return  # keep the token: those threads still own their lanes
        token = self._token
        for lane, value in list(self._held):
            with contextlib.suppress(Exception):
                self._store.release_lock(lane, value)
        self._held.clear()
        if token:
            with contextlib.suppress(Exception):
                self._store.remove_worker(token)
            with _LOCAL_LOCK:
                _LOCAL_TOKENS.pop(token, None)
        LOG.info("queue workers stopped")

    def _should_stop(self) -> bool:
        consumer = self._consumer
        return self._stopping.is_set() or (consumer is not None and consumer.stop_flag.is_set())

    def _start_sweeper(self) -> None:
        self._sweeper = threading.Thread(target=self._sweep_loop, name="incident-bot-queue-sweeper", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        interval = max(0.05, self._f("sweep_seconds"))
        while not self._sweeper_stop.wait(interval):
            try:
                self._heartbeat()
                self._sweep()
                consumer = self._consumer
                if consumer is not None and time.monotonic() - self._last_health > 10:
                    self._last_health = time.monotonic()
                    if isinstance(consumer, _EmbeddedConsumer):
                        consumer.check_worker_health()
            except Exception as exc:
                LOG.warning("queue sweep failed: %s", _error_text(exc))

    def _heartbeat(self) -> None:
        now = time.time()
        if self._token:
            self._store.heartbeat(self._token, self._ident, os.getpid(), now, self._hb_ttl)
        self._store.refresh_locks(list(self._held), now, self._f("lock_ttl_seconds"))

    # -- liveness
    def _owner_alive(self, owner: str | None) -> bool:
        """Is the process that wrote this owner token (or lock value "token/suffix") still running?"""
        if not owner:
            return False
        token = owner.split("/", 1)[0]
        with _LOCAL_LOCK:
            if _LOCAL_TOKENS.get(token) == os.getpid():
                return True
        info = self._store.get_worker(token)
        if info is None:
            return False
        ident, pid, last_seen = info
        if time.time() - last_seen > self._hb_ttl:
            return False
        if ident == self._ident:
            if pid == os.getpid():
                return False  # this process, but not a live queue instance of it
            return _pid_alive(pid)
        return True

    def _record_orphaned(self, rec: dict, now: float) -> str | None:
        """Why a 'running' record is no longer being processed, or None when it is."""
        owner = rec.get("owner")
        stale = self._f("stale_running_minutes") * 60
        if owner and owner == self._token:
            if rec.get("claim") not in self._active_claims:
                return "its worker thread stopped"
        elif not self._owner_alive(owner):
            return "its worker process is gone"
        if (rec.get("started_at") or 0) < now - stale:
            return f"running for more than {stale:.0f}s"
        return None

    # -- sweeper: recovery and wake-ups
    def _sweep(self, startup: bool = False) -> None:
        now = time.time()
        max_retries = int(self.settings.get("max_retries") or 0)
        for rec in self._store.running():
            reason = self._record_orphaned(rec, now)
            if reason is None:
                continue
            if rec["attempts"] > max_retries:
                error = f"worker died while processing (attempt {rec['attempts']}): {reason}"
                if not self._store.finish(rec, rec.get("claim"), "dead", now, error):
                    continue  # finished meanwhile
                metrics.deliveries_dead_total.inc()
                LOG.error("delivery dead: %s", error, extra={"delivery_id": rec["id"]})
            else:
                error = f"interrupted while processing ({reason}); re-queued"
                if not self._store.finish(rec, rec.get("claim"), "queued", now, error):
                    continue
                LOG.warning("delivery re-queued: %s", reason, extra={"delivery_id": rec["id"]})
            lock = self._store.lock_owner(rec["lane"])
            if lock and rec.get("owner") and lock.split("/", 1)[0] == rec["owner"]:
                # the owner's lane lock goes too, unless a live drain of this process holds it
                if (rec["lane"], lock) not in self._held or reason.startswith("running for more"):
                    self._store.release_lock(rec["lane"], lock)
            self._wake(rec["lane"])
        if startup or self.huey.pending_count() == 0:
            interval = self._f("sweep_seconds")
            for head in self._store.heads():
                if not self._ready(head, now):
                    continue
                if not startup and (head.get("updated_at") or 0) > now - interval:
                    continue
                lock = self._store.lock_owner(head["lane"])
                if lock and self._owner_alive(lock):
                    continue
                self._wake(head["lane"])
        if now - self._last_purge > 60:
            self._last_purge = now
            retention = self.settings.get("done_retention_hours") or self.settings.get("dedupe_hours") or 24
            self._store.purge(now, float(retention) * 3600)

    @staticmethod
    def _ready(rec: dict, now: float) -> bool:
        return rec["status"] == "queued" or (rec["status"] == "retrying" and (rec.get("next_at") or 0) <= now)

    def _wake(self, lane: str, delay: float | None = None) -> None:
        try:
            if delay and delay > 0:
                self._drain_task.schedule(args=(lane,), delay=delay)
            else:
                self._drain_task(lane)
        except Exception as exc:
            LOG.warning("could not wake lane %s: %s", lane, _error_text(exc))

    # -- the huey task
    def _drain(self, lane: str) -> None:
        """Process the lane's deliveries in order, under the lane lock."""
        if self._token is None:
            LOG.warning("drain called outside a worker; ignored")
            return
        ttl = self._f("lock_ttl_seconds")
        while True:
            value = f"{self._token}/{uuid.uuid4().hex[:12]}"
            if not self._store.try_lock(lane, value, time.time(), ttl, lambda o: not self._owner_alive(o)):
                return  # another worker drains this lane; it looks again after releasing
            self._held.add((lane, value))
            try:
                self._drain_locked(lane, value)
            finally:
                self._held.discard((lane, value))
                try:
                    self._store.release_lock(lane, value)
                except Exception as exc:  # it expires after lock_ttl_seconds
                    LOG.warning("could not release lane lock %s: %s", lane, _error_text(exc))
            head = self._store.lane_head(lane)
            if head is None or not self._ready(head, time.time()):
                return
            if self._should_stop():
                self._wake(lane)  # keep a durable wake-up for the next worker
                return

    def _drain_locked(self, lane: str, lock_value: str) -> None:
        max_retries = int(self.settings.get("max_retries") or 0)
        first = True
        while not self._should_stop():
            if not first and self._store.lock_owner(lane) != lock_value:
                LOG.warning("lane lock %s was taken over (stale); stopping this drain", lane)
                return
            first = False
            head = self._store.lane_head(lane)
            if head is None:
                return
            now = time.time()
            if head["status"] == "retrying" and (head.get("next_at") or 0) > now:
                return  # the lane waits; a scheduled wake-up resumes it
            if head["status"] == "running" and self._record_orphaned(head, now) is None:
                LOG.warning("lane head still running elsewhere", extra={"delivery_id": head["id"]})
                return
            claim = uuid.uuid4().hex
            self._active_claims.add(claim)
            try:
                rec = self._store.claim(head["id"], claim, self._token, now)
                if rec is None:
                    continue
                if not self._process(rec, claim, max_retries):
                    return
            finally:
                self._active_claims.discard(claim)

    def _process(self, rec: dict, claim: str, max_retries: int) -> bool:
        """Run the processor once. True = the lane may continue, False = it waits for a retry."""
        delivery = json.loads(rec["payload"])
        project = issue = None
        if rec.get("issue_key") and ":" in rec["issue_key"]:
            project, issue = (int(p) if p.isdigit() else p for p in rec["issue_key"].rsplit(":", 1))
        with log_context(delivery_id=rec["id"], project=project, issue=issue):
            if rec["attempts"] > max_retries + 1:  # a re-queued record that keeps killing its worker
                self._finish(rec, claim, "dead", f"gave up after {rec['attempts'] - 1} attempts")
                metrics.deliveries_dead_total.inc()
                return True
            started = time.monotonic()
            try:
                if self.processor is None:
                    raise RuntimeError("this DeliveryQueue has no processor")
                self.processor(delivery)
            except RetryableError as exc:
                error, retry_after = _error_text(exc), exc.retry_after
            except PermanentError as exc:
                metrics.delivery_processing_seconds.observe(time.monotonic() - started)
                self._finish(rec, claim, "failed", _error_text(exc))
                metrics.deliveries_failed_total.inc()
                LOG.warning("delivery failed permanently: %s", _error_text(exc), extra={"attempt": rec["attempts"]})
                return True
            except Exception as exc:  # unknown: retried, so that a bug fix plus replay recovers it
                LOG.exception("processor raised an unexpected error", extra={"attempt": rec["attempts"]})
                error, retry_after = _error_text(exc), None
            except BaseException:
                self._finish(rec, claim, "queued", "interrupted")
                raise
            else:
                metrics.delivery_processing_seconds.observe(time.monotonic() - started)
                self._finish(rec, claim, "done", None)
                metrics.deliveries_processed_total.inc()
                LOG.info("delivery processed", extra={"attempt": rec["attempts"], "event": rec["event"]})
                return True
            metrics.delivery_processing_seconds.observe(time.monotonic() - started)
            retries_done = rec["attempts"] - 1
            if retries_done >= max_retries:
                self._finish(rec, claim, "dead", error)
                metrics.deliveries_dead_total.inc()
                LOG.error("delivery dead after %d attempts: %s", rec["attempts"], error)
                return True
            delay = self.backoff(retries_done, retry_after)
            self._finish(rec, claim, "retrying", error, next_at=time.time() + delay)
            metrics.deliveries_retried_total.inc()
            LOG.warning("delivery will be retried in %.2fs: %s", delay, error, extra={"attempt": rec["attempts"]})
            self._wake(rec["lane"], delay=max(delay, 0.001))
            return False

    def backoff(self, retry_index: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform(0, min(max, base * 2**retry_index)); retry_after wins when larger."""
        base = self._f("retry_base_seconds")
        cap = self._f("retry_max_seconds")
        delay = random.uniform(0, min(cap, base * (2 ** min(int(retry_index), 62))))
        if retry_after is not None and retry_after > delay:
            delay = float(retry_after)
        return delay

    def _finish(self, rec: dict, claim: str, status: str, error: str | None, next_at: float | None = None) -> None:
        """Record the outcome; retried a few times, since a lost outcome means the delivery runs again."""
        for attempt in range(5):
            try:
                if not self._store.finish(rec, claim, status, time.time(), error, next_at):
                    LOG.warning("delivery record was taken over while processing; outcome %s not recorded", status)
                return
            except Exception as exc:
                if attempt == 4:
                    LOG.error("could not record the outcome %s: %s", status, _error_text(exc))
                    return
                time.sleep(0.2 * (attempt + 1))
