"""Acknowledgements before processing, inside one process.

GitLab waits for a webhook's answer, and disables a hook that keeps timing out; processing a delivery can
wait a little. In `incident-bot serve` the worker threads share the interpreter lock with the web
threads, and a worker busy with GitLab's answers (HTTP and JSON parsing) makes every acknowledgement wait
for that lock: the ack latency then depends on how fast GitLab answers. So a background thread waits
until no webhook has been in progress for `quiet` seconds, but never longer than `max_wait`, at three
points: before each GitLab call, before a drain takes its lane lock (its first write to the store), and
before the queue's housekeeping thread stores the deliveries kept in the acknowledgement log, sends
wake-ups and checkpoints (bounded by DeliveryQueue.HOUSEKEEPING_MAX_WAIT instead). A burst of deliveries is
acknowledged first and processed right after it, and steady traffic slows processing without stopping
it. A process without a web side (`incident-bot worker`, the cadence job) never waits.
"""

from __future__ import annotations

import threading
import time


class AckFirst:
    def __init__(self, quiet: float = 0.01, max_wait: float = 0.25):
        self.quiet = quiet
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._active = 0  # webhooks being answered now
        self._last = float("-inf")  # monotonic time the last one was answered

    def started(self) -> None:
        with self._lock:
            self._active += 1

    def finished(self) -> None:
        with self._lock:
            self._active -= 1
            self._last = time.monotonic()

    def _busy_for(self, now: float) -> float:
        """How long to wait before the web side has been quiet for `quiet` seconds (0: it is)."""
        with self._lock:
            if self._active:
                return self.quiet
            return max(0.0, self._last + self.quiet - now)

    def wait_turn(self, max_wait: float | None = None) -> float:
        """Block a background thread while webhooks are being answered, at most `max_wait` seconds
        (self.max_wait by default). Returns the seconds waited."""
        start = now = time.monotonic()
        deadline = start + (self.max_wait if max_wait is None else max_wait)
        while (pause := self._busy_for(now)) > 0 and now < deadline:
            time.sleep(min(pause, deadline - now))
            now = time.monotonic()
        return now - start


# One per process: the web endpoint marks webhooks, the GitLab adapter waits its turn.
ACK_FIRST = AckFirst()
