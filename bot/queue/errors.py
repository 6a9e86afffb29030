"""The exceptions of the delivery queue, and how an error is recorded on a delivery."""

from __future__ import annotations

_MAX_ERROR = 2000


class RetryableError(Exception):
    """A transient failure (429, 5xx, connection error, timeout): the delivery is retried with backoff."""

    def __init__(self, message: str = "", retry_after: float | None = None, rate_limited: bool = False,
                 outage: bool = False):
        super().__init__(message)
        self.retry_after = None if retry_after is None else max(0.0, float(retry_after))
        self.rate_limited = rate_limited  # GitLab's 429: retried for rate_limit_retry_minutes, apart
        self.outage = outage  # GitLab down (5xx, no answer): retried for outage_retry_minutes, apart


class PermanentError(Exception):
    """A failure that will not go away by retrying (4xx other than 429): the delivery is marked failed."""


class QueueUnavailable(Exception):
    """The queue's store cannot be reached; submit() raises it so the web layer can answer 503."""


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."
