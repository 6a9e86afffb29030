"""DeliveryQueue: submit, workers, drain, sweeper, list/replay (the design notes are in the package docstring)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import random
import threading
import time
import uuid
from typing import Any, Callable

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.storage import SqliteStorage

from bot import metrics
from bot.ackfirst import ACK_FIRST
from bot.logs import log_context

from ..config import DEFAULTS
from .acklog import AckLog, AckLogBusy
from .errors import PermanentError, QueueUnavailable, RetryableError, _error_text
from .keys import dedupe_key
from .liveness import _LOCAL_LOCK, _LOCAL_TOKENS, _pid_alive, _process_ident
from .redis_store import _RedisStore
from .sqlite_store import _SqliteStore

LOG = logging.getLogger("incident_bot.queue")

_QUEUE_DEFAULTS: dict[str, Any] = DEFAULTS["queue"]  # one place for the defaults: bot/config.py


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _EmbeddedConsumer(Consumer):
    """A huey consumer that runs inside another program: it must not take over SIGINT/SIGTERM/SIGHUP."""

    def _set_signal_handlers(self):
        pass


class _HueySqliteStorage(SqliteStorage):
    """huey's SQLite storage, writing under the queue store's lock and leaving write-ahead-log checkpoints to
    the queue's housekeeping thread."""

    def __init__(self, *args, write_lock=None, **kwargs):
        super().__init__(*args, **kwargs)
        if write_lock is not None:
            self.lock = write_lock

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma wal_autocheckpoint=0")
        return conn


class DeliveryQueue:
    """See the package docstring. Thread-safe; one instance per process is the normal use."""

    # How long the housekeeping thread waits, at most, for webhooks to stop arriving: under steady traffic
    # a delivery is stored and its processing starts within about this long. Longer than ACK_FIRST's bound
    # for GitLab calls: the storing is cheaper in larger batches, and it is not an incident waiting on GitLab.
    HOUSEKEEPING_MAX_WAIT = 1.0

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
            self._store = _SqliteStore(self.sqlite_path, str(settings.get("sqlite_synchronous") or "NORMAL"))
            # Our own record is the durable truth; a huey wake-up lost to a power cut is
            # re-created by the sweeper, so it need not wait for a second fsync on the acknowledgement path.
            self.huey = SqliteHuey(name, filename=self.sqlite_path, results=False, store_none=False, utc=True,
                                   timeout=30, fsync=False, storage_class=_HueySqliteStorage,
                                   write_lock=self._store.write_lock)
        self.backend = self._store.kind
        # The acknowledgement log (acklog.py): SQLite with synchronous=NORMAL only. `serve` opens it at start
        # (open_ack_log), otherwise the first submit does; a process that never submits, such as
        # `incident-bot worker`, leaves it to `serve`.
        self._acklog: AckLog | None = None
        self._acklog_lock = threading.Lock()
        self._acklog_retry_at = 0.0
        self._acklog_bytes = 0
        if self.backend == "sqlite":
            self._acklog_path = self.sqlite_path + "-acklog"
            if self._store.synchronous == "NORMAL":
                self._acklog_bytes = int(float(settings.get("ack_log_mib") or 0) * (1 << 20))
            self._recover_acklog()  # even with the log turned off: it may hold deliveries from before
        self._drain_task = self.huey.task(name="incident_bot_drain")(self._drain)

        self._token: str | None = None
        self._ident = _process_ident()
        self._held: set[tuple[str, str]] = set()  # (lane, lock value) held by this process
        # Lanes with a wake-up queued by this process and not yet picked up (SQLite, embedded workers):
        # a second wake-up for the same lane would only cost a write on the acknowledgement path.
        self._waking: dict[str, float] = {}
        self._waking_lock = threading.Lock()
        self._active_claims: set[str] = set()
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._consumer: Consumer | None = None
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        self._last_purge = 0.0
        self._last_health = 0.0
        # Lanes to wake, handed to the housekeeping thread: the acknowledgement waits only for the record.
        self._wakes: dict[str, None] = {}
        self._wakes_lock = threading.Lock()
        self._wakes_ready = threading.Event()
        self._housekeeper: tuple[threading.Thread, threading.Event] | None = None  # the thread, its stop
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
        if not delivery.get("received_at"):
            delivery["received_at"] = _now_iso()
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
            acklog = self._ack_log()
            if acklog is not None:
                added = acklog.add(rec, delivery["dedupe_key"], ttl, now)
            else:
                added = self._store.add(rec, delivery["dedupe_key"], ttl, now)
        except Exception as exc:
            LOG.error("queue store unavailable: %s", _error_text(exc), extra={"delivery_id": rec["id"]})
            raise QueueUnavailable(_error_text(exc)) from exc
        if not added:
            metrics.deliveries_duplicate_total.inc()
            LOG.info("duplicate delivery ignored", extra={"delivery_id": rec["id"], "dedupe_key": rec["dedupe_key"]})
            return False
        metrics.deliveries_accepted_total.inc()
        if acklog is not None:
            self._nudge()  # the housekeeping thread stores it, then wakes its lane
        else:
            self._wake_soon(lane)
        return True

    # -- the acknowledgement log
    def _recover_acklog(self) -> None:
        """Store what a stopped process left in the log, if no running process has it."""
        if not os.path.exists(self._acklog_path):
            return
        try:
            AckLog(self._store, self._acklog_path, None).close()
        except AckLogBusy:
            pass  # the process that has it stores it

    def open_ack_log(self) -> bool:
        """Open the acknowledgement log now rather than at the first submit (whose webhook, and every one
        arriving meanwhile, would wait for the file to be mapped and the dedupe keys read). True when this
        queue uses a log."""
        return self._ack_log() is not None

    def _ack_log(self) -> AckLog | None:
        if self._acklog is not None or not self._acklog_bytes:
            return self._acklog
        with self._acklog_lock:
            if self._acklog is None and time.monotonic() >= self._acklog_retry_at:
                try:
                    self._acklog = AckLog(self._store, self._acklog_path, self._acklog_bytes)
                except AckLogBusy:
                    self._acklog_retry_at = time.monotonic() + 10
                    LOG.warning("another process has the acknowledgement log %s; storing deliveries in SQLite "
                                "directly (slower acknowledgements)", self._acklog_path)
                except OSError as exc:  # no room on the disk for it, for one
                    self._acklog_retry_at = time.monotonic() + 10
                    LOG.error("cannot open the acknowledgement log %s (%s); storing deliveries in SQLite "
                              "directly (slower acknowledgements)", self._acklog_path, _error_text(exc))
            return self._acklog

    def _flush_acklog(self) -> None:
        """Store the logged deliveries and queue their lanes' wake-ups (sent by _send_wakes)."""
        acklog = self._acklog
        if acklog is None:
            return
        try:
            lanes = acklog.flush()
        except Exception as exc:
            LOG.error("could not store logged deliveries (they stay in the acknowledgement log): %s",
                      _error_text(exc))
            return
        if [lane for lane in lanes if self._queue_wake(lane)]:
            self._wakes_ready.set()  # no new thread: this may run while the housekeeper stops

    def healthy(self) -> bool:
        try:
            return bool(self._store.ping())
        except Exception as exc:
            LOG.warning("queue store unreachable: %s", _error_text(exc))
            return False

    def depth(self) -> int:
        acklog = self._acklog
        # The log first: a delivery stored between the two reads is then counted twice for a moment,
        # never missed (read the other way round, a flush in between made a pending delivery count 0).
        logged = acklog.pending() if acklog is not None else 0
        return logged + int(self._store.depth())

    def _safe_depth(self) -> int:
        return self.depth()

    def list(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        """Delivery records, oldest first: id, event, issue_key, status, attempts, last_error, received_at,
        updated_at, next_attempt_at."""
        self._flush_acklog()
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
        self._flush_acklog()
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
        self._stop_housekeeper()
        consumer = self._consumer
        if consumer is None:
            return
        self._stopping.set()
        consumer.shutdown_timeout = timeout
        consumer.stop(graceful=True)
        self._finish_stop(wait_workers=True)

    def close(self) -> None:
        """Stop the workers, store what the acknowledgement log holds and let it go, and release this
        thread's store connections and huey's (for embedding several queues in one process, as the tests
        and the demo do)."""
        self.stop()
        with self._acklog_lock:
            acklog, self._acklog = self._acklog, None
        if acklog is not None:
            try:
                acklog.close()
            except Exception as exc:
                LOG.error("could not store logged deliveries (the next start stores them): %s", _error_text(exc))
                acklog.close(flush=False)
        with contextlib.suppress(Exception):
            self._store.close()
        with contextlib.suppress(Exception):
            self.huey.storage.close()

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
        self._start_housekeeper()
        try:
            self._sweep(startup=True)
        except Exception:
            LOG.exception("startup recovery sweep failed; it will run again")

    def _finish_stop(self, wait_workers: bool) -> None:
        self._stopping.set()
        self._stop_housekeeper()
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

    # -- housekeeping: wake-ups and checkpoints, off the acknowledgement path
    def _wake_soon(self, lane: str) -> None:
        """Ask the housekeeping thread to wake `lane`. A wake-up lost with the process is re-created by the
        sweeper (at the latest when the workers start), because the record is already stored."""
        if self._queue_wake(lane):
            self._nudge()

    def _queue_wake(self, lane: str) -> bool:
        """Hand `lane` to the next _send_wakes; False when a wake-up for it is already queued (a queued
        drain of the lane reads the lane after it starts, so it will see the new delivery)."""
        if self._wake_pending(lane):
            return False
        with self._wakes_lock:
            self._wakes[lane] = None
        return True

    def _nudge(self) -> None:
        """Have the housekeeping thread look now (store logged deliveries, send wake-ups)."""
        if self._housekeeper is None:
            self._start_housekeeper()
        self._wakes_ready.set()

    def _start_housekeeper(self) -> None:
        with self._wakes_lock:
            if self._housekeeper is not None:
                return
            stop = threading.Event()  # its own, so a thread started while another stops is not stopped too
            thread = threading.Thread(target=self._housekeep_loop, args=(stop,),
                                      name="incident-bot-queue-housekeeper", daemon=True)
            self._housekeeper = (thread, stop)
            thread.start()

    def _stop_housekeeper(self) -> None:
        with self._wakes_lock:
            running, self._housekeeper = self._housekeeper, None
        if running is None:
            return
        thread, stop = running
        stop.set()
        self._wakes_ready.set()
        thread.join(timeout=10)
        self._flush_acklog()  # anything submitted while it stopped
        self._send_wakes()

    def _housekeep_loop(self, stop: threading.Event) -> None:
        last_checkpoint = time.monotonic()
        try:
            while not stop.is_set():
                self._wakes_ready.wait(0.5)
                self._wakes_ready.clear()
                # Storing the logged deliveries, wake-ups and checkpoints wait for a burst of webhooks to
                # end; the deliveries are safe in the log meanwhile.
                ACK_FIRST.wait_turn(self.HOUSEKEEPING_MAX_WAIT)
                self._flush_acklog()
                self._send_wakes()
                if time.monotonic() - last_checkpoint >= 0.5:
                    last_checkpoint = time.monotonic()
                    try:
                        self._store.checkpoint()
                    except Exception as exc:
                        LOG.warning("queue store checkpoint failed: %s", _error_text(exc))
            self._flush_acklog()
            self._send_wakes()
        finally:
            with contextlib.suppress(Exception):
                self._store.close()  # this thread's connection

    def _send_wakes(self) -> None:
        with self._wakes_lock:
            lanes, self._wakes = list(self._wakes), {}
        for lane in lanes:
            self._wake(lane)  # a failure is logged; the sweeper wakes the lane later

    def _wake_pending(self, lane: str) -> bool:
        """True when a wake-up for `lane` is already queued here; otherwise note the one about to be sent.
        Only for SQLite with workers in this process; a wake-up older than a second is not trusted (another
        process may have taken it), and the sweeper covers anything left over."""
        if self.backend != "sqlite" or self._consumer is None:
            return False
        now = time.monotonic()
        with self._waking_lock:
            queued = self._waking.get(lane)
            if queued is not None and now - queued < 1.0:
                return True
            self._waking[lane] = now
            return False

    # -- the huey task
    def _drain(self, lane: str) -> None:
        """Process the lane's deliveries in order, under the lane lock."""
        with self._waking_lock:  # from here on, a new delivery in this lane needs a wake-up of its own
            self._waking.pop(lane, None)
        if self._token is None:
            LOG.warning("drain called outside a worker; ignored")
            return
        ttl = self._f("lock_ttl_seconds")
        # Webhooks being answered in this process go first: a drain's first write (the lane lock) would
        # take the store's lock and the interpreter's from them (bot/ackfirst.py; bounded wait).
        ACK_FIRST.wait_turn()
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
