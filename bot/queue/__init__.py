"""The delivery queue: a store of one row per delivery (SQLite, or Redis for several processes), and
worker threads that lease a lane's head, process it, and record the outcome.

Modules: ``store`` (the protocol), ``sqlite`` and ``redis`` (its two implementations), ``workers``
(DeliveryQueue: submit, worker threads), ``operators`` (list, replay, purge), ``retry`` (the backoff
maths), ``leases`` (the lease keeper), ``outcome`` (record an outcome), ``keys`` (the dedupe key),
``errors`` (what a processor raises), ``settings`` (the
queue's settings and defaults); ``open_store`` below picks the store.
"""

from .errors import PermanentError, QueueUnavailable, RetryableError
from .keys import dedupe_key
from .settings import SETTINGS
from .store import FINAL, PENDING, STATUSES, Store
from .workers import DeliveryQueue

__all__ = [
    "DeliveryQueue", "FINAL", "PENDING", "PermanentError", "QueueUnavailable", "RetryableError", "SETTINGS",
    "STATUSES", "Store", "dedupe_key", "open_store",
]


def open_store(url: str | None, sqlite_path: str, synchronous: str = "FULL", name: str = "incident-bot") -> Store:
    """``redis://`` (``rediss://``, ``unix://``) for Redis; ``sqlite:///path`` or nothing for SQLite."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url, name)
    if url and url.startswith("sqlite:///"):
        sqlite_path = url[len("sqlite:///") - 1:]
    elif url:
        raise ValueError(f"unsupported queue URL {url!r}: expected redis://... (or none for SQLite)")
    import sqlite3

    from .sqlite import SqliteStore

    try:
        return SqliteStore(sqlite_path, synchronous)
    except sqlite3.Error as exc:  # a folder that is missing or read-only, a file that is not a database
        raise QueueUnavailable(f"the SQLite queue store {sqlite_path} cannot be opened: {exc}") from exc
