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
    SQLite, as `incident-bot serve` runs it (synchronous=NORMAL): submit() copies the delivery into the
    acknowledgement log (``acklog.py``), a memory-mapped file beside the database, and returns; the copy
    survives the process being killed, as a NORMAL commit does. Whether it is a duplicate is answered from
    the dedupe keys the log keeps in memory (read from SQLite when it opens). The housekeeping thread then
    stores the logged deliveries in SQLite (one statement per 500; a trigger writes the dedupe keys) and
    only then wakes their lanes. A log left by a killed process is stored when the queue next opens.
    Without the log (``ack_log_mib: 0``; synchronous FULL, which also survives a power cut; or another
    process holding the log), submit() writes the record and the dedupe key in one transaction, and
    concurrent submits are written by one leader in one statement (group commit). Redis: one Lua script,
    durable as far as the Redis server's persistence is configured. The housekeeping thread enqueues the
    huey wake-ups (at most one queued per lane when the workers are in this process) and, for SQLite,
    checkpoints the write-ahead log every half second, so neither is on the acknowledgement path. Every
    write of the process, huey's included, takes turns on one in-process lock that serves submits first.
    In the same process, workers (before a drain and before each GitLab call) and the housekeeping thread
    wait while webhooks are being answered (``bot/ackfirst.py``). Each consumer process writes a
    heartbeat (token, host+pid-namespace identity, pid, last_seen).
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

Modules
    ``core`` (DeliveryQueue: submit, workers, drain, sweeper, list/replay), ``sqlite_store`` and ``redis_store``
    (the same record operations on each store), ``acklog`` (the acknowledgement log), ``records`` (record
    statuses and fields), ``liveness`` (process identity and liveness), ``keys`` (the dedupe key), ``errors``
    (the exceptions a processor raises).
"""

from .core import DeliveryQueue
from .errors import PermanentError, QueueUnavailable, RetryableError
from .keys import dedupe_key
from .records import PENDING, STATUSES
from .redis_store import _RedisStore as _RedisStore
from .sqlite_store import _SqliteStore as _SqliteStore

__all__ = [
    "DeliveryQueue", "PENDING", "PermanentError", "QueueUnavailable", "RetryableError", "STATUSES", "dedupe_key",
]
