"""How the GitLab adapter (bot/gitlab.py) calls python-gitlab: errors translated into the two kinds the
delivery queue understands, and every answer observed (health, metrics, a 429's Retry-After).

python-gitlab's own retrying is off (NO_WAIT), so the queue's backoff is the one place that waits.
"""

from __future__ import annotations

import threading

import gitlab
import requests

from . import gitlab_health
from .gitlab_errors import GitLabRefused, RetryableGitLabError, refusal_text

# Per thread: python-gitlab clients (bot/gitlab.py) and the Retry-After of the last 429 seen.
local = threading.local()


def _retry_after() -> float | None:
    """Retry-After of the last 429 this thread saw (python-gitlab's exceptions do not carry headers)."""
    value = getattr(local, "retry_after", None)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Translate:
    """Context manager turning python-gitlab / requests errors into ours."""

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, gitlab.GitlabHttpError) or isinstance(exc, gitlab.GitlabError):
            code = getattr(exc, "response_code", None)
            if code == 429 or (code is not None and code >= 500):
                raise RetryableGitLabError(f"GitLab answered {code}: {exc.error_message}",
                                           _retry_after() if code == 429 else None, answered=True,
                                           rate_limited=code == 429) from exc
            if code is None:
                gitlab_health.observe_no_answer(exc.__class__.__name__)
                raise RetryableGitLabError(f"GitLab call failed: {exc}") from exc
            raise GitLabRefused(f"GitLab answered {code}: {refusal_text(exc)}", code) from exc
        if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
            gitlab_health.observe_no_answer(exc.__class__.__name__)
        if isinstance(exc, requests.Timeout):
            # GitLab may still finish the call we gave up on (a note may yet appear): wait at least as long
            # again before retrying, so the retry's marker check can see it.
            raise RetryableGitLabError(f"GitLab did not answer in time: {exc.__class__.__name__}",
                                       self.timeout) from exc
        if isinstance(exc, requests.ConnectionError):
            raise RetryableGitLabError(f"GitLab could not be reached: {exc.__class__.__name__}") from exc
        return False


# python-gitlab would sleep on a 429 by itself; the queue's backoff does the waiting instead.
NO_WAIT = {"obey_rate_limit": False, "max_retries": 0}


def observe(response: requests.Response, *args, **kwargs) -> None:
    gitlab_health.observe_answer(response.status_code)
    if response.status_code == 429:
        local.retry_after = response.headers.get("Retry-After")
    try:
        from . import metrics

        metrics.observe_api_call(response.request.method, response.status_code,
                                 response.elapsed.total_seconds())
    except Exception:  # metrics must never break a GitLab call
        pass
