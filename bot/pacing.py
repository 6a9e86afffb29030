"""Client-side pacing of the writes GitLab rate-limits per user (GitLab.com: 60 new notes and 200 new
issues a minute), per process.

A sliding window rather than a token bucket: a bucket of 60 refilled at one a second lets 119 creations
through in one minute, which GitLab's per-minute limit refuses. A slot counts from when its call
finished (GitLab saw it before then), so the window here is never shorter than GitLab's. Idle, it costs
one lock and one short deque.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator

_INFLIGHT = float("inf")


class Window:
    """At most `limit` calls in any `seconds`; `slot()` waits until one may start."""

    def __init__(self, limit: int, seconds: float = 60.0, *, clock=time.monotonic):
        self.limit, self.seconds, self.clock = int(limit), float(seconds), clock
        self._ends: deque[list[float]] = deque()  # oldest first: [finish time], inf while in flight
        self._cond = threading.Condition()

    def _wait_needed(self, now: float) -> float | None:
        """None: a slot is free now; else how long to wait (inf: until a call in flight finishes)."""
        while self._ends and self._ends[0][0] <= now - self.seconds:
            self._ends.popleft()
        if len(self._ends) < self.limit:
            return None
        return min(end[0] for end in self._ends) + self.seconds - now

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while (wait := self._wait_needed(self.clock())) is not None:
                self._cond.wait(None if wait == _INFLIGHT else max(wait, 0.001))
            entry = [_INFLIGHT]
            self._ends.append(entry)
        try:
            yield
        finally:
            with self._cond:
                entry[0] = self.clock()
                # Keep the deque ordered by finish time, so the oldest leaves first.
                self._ends = deque(sorted(self._ends, key=lambda e: e[0]))
                self._cond.notify_all()


# GitLab.com's limits per user; `gitlab_rate_limits` in the settings overrides them.
DEFAULT_LIMITS = {"notes": 60, "issues": 200, "per_seconds": 60}

_windows: dict[tuple, Window] = {}
_lock = threading.Lock()


def window(url: str, token: str | None, kind: str, limit: int | None, seconds: float) -> Window | None:
    """The process's window for this GitLab user and kind of write; None when pacing is off."""
    if not limit:
        return None
    key = (url, token, kind, int(limit), float(seconds))
    with _lock:
        found = _windows.get(key)
        if found is None:
            found = _windows[key] = Window(limit, seconds)
        return found


@contextmanager
def paced(w: Window | None) -> Iterator[None]:
    if w is None:
        yield
        return
    with w.slot():
        yield
