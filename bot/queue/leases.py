"""The leases this process holds: a thread renews them while their deliveries run; a process that dies
stops renewing, and its deliveries are claimed again when their leases run out."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .errors import _error_text

LOG = logging.getLogger("incident_bot.queue")


class LeaseKeeper:
    def __init__(self) -> None:
        self._running: dict[str, str] = {}  # delivery id -> claim, held by this process
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, delivery_id: str, claim: str) -> Iterator[None]:
        with self._lock:
            self._running[delivery_id] = claim
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(delivery_id, None)

    def held(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._running.items())

    def run(self, stop: threading.Event, extend: Callable[[str, str, float], object], lease: float) -> None:
        """Renew every held lease each third of a lease, until ``stop`` is set."""
        while not stop.wait(lease / 3):
            for delivery_id, claim in self.held():
                try:
                    extend(delivery_id, claim, time.time() + lease)
                except Exception as exc:
                    LOG.warning("could not keep a lease: %s", _error_text(exc))

    def hand_back(self, finish: Callable[..., object]) -> int:
        """Queue again every delivery still held (its worker did not finish in time). How many."""
        count = 0
        for delivery_id, claim in self.held():
            try:
                if finish(delivery_id, claim, "queued", time.time(), "handed back at shutdown"):
                    count += 1
            except Exception as exc:  # its lease runs out instead
                LOG.warning("could not hand back a delivery: %s", _error_text(exc))
        return count
