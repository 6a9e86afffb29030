"""What GET /healthz reports: named checks, each "ok" or the reason it is not.

A check that fails with ``fatal`` (the queue store: nothing can be accepted) makes the answer 503,
"unavailable"; any other failing check makes it 200, "degraded" (the bot works, but an operator should
look). Other concerns add their checks to ``default_checks``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Callable

from . import gitlab_health
from .config import Config
from .queue import DeliveryQueue, QueueUnavailable


@dataclass(frozen=True)
class Check:
    name: str
    problem: Callable[[], str | None]  # None: ok
    fatal: bool = False


def queue_check(queue: DeliveryQueue) -> Check:
    def problem() -> str | None:
        try:
            queue.check()
        except QueueUnavailable as exc:
            return str(exc)
        return None

    return Check("queue", problem, fatal=True)


def disk_check(path: str, min_free_mb: float) -> Check:
    """Free space where the SQLite queue lives: below the floor, the next delivery may not be stored."""
    folder = os.path.dirname(os.path.abspath(path))

    def problem() -> str | None:
        try:
            free_mb = shutil.disk_usage(folder).free / 2**20
        except OSError as exc:
            return f"cannot read the free space of {folder}: {exc.strerror}"
        if free_mb < min_free_mb:
            return f"{free_mb:.0f} MiB free in {folder}, below queue.min_free_mb ({min_free_mb:g})"
        return None

    return Check("disk", problem)


def gitlab_check() -> Check:
    """GitLab down or refusing the token: deliveries are still stored, but not carried out."""
    return Check("gitlab", lambda: "; ".join(gitlab_health.problems()) or None)


def default_checks(cfg: Config, queue: DeliveryQueue) -> list[Check]:
    checks = [queue_check(queue), gitlab_check()]
    if queue.backend == "sqlite":
        checks.append(disk_check(cfg.queue["sqlite_path"], float(cfg.queue["min_free_mb"])))
    return checks


def report(checks: list[Check]) -> tuple[int, dict]:
    """(HTTP status, body) for /healthz."""
    results = {c.name: c.problem() for c in checks}
    failing = [c for c in checks if results[c.name]]
    status = "unavailable" if any(c.fatal for c in failing) else "degraded" if failing else "ok"
    body = {"status": status, "checks": {name: problem or "ok" for name, problem in results.items()}}
    return (503 if status == "unavailable" else 200), body
