"""The delivery queue: a store of one row per delivery (SQLite, or Redis for several processes), and
worker threads that lease a lane's head, process it, and record the outcome.

Modules: ``store`` (the protocol), ``sqlite`` and ``redis`` (its two implementations), ``workers``
(DeliveryQueue: submit, workers, retries, replay), ``keys`` (the dedupe key), ``errors`` (what a
processor raises).
"""

from .errors import PermanentError, QueueUnavailable, RetryableError
from .keys import dedupe_key
from .store import FINAL, PENDING, STATUSES, Store
from .workers import SETTINGS, DeliveryQueue, open_store

__all__ = [
    "DeliveryQueue", "FINAL", "PENDING", "PermanentError", "QueueUnavailable", "RetryableError", "SETTINGS",
    "STATUSES", "Store", "dedupe_key", "open_store",
]
