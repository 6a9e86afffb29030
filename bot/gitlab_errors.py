"""What a GitLab call can fail with, in the two kinds the delivery queue understands (bot/gitlab.py
translates python-gitlab's exceptions into these)."""

from __future__ import annotations

import json


class RetryableGitLabError(Exception):
    """429, 5xx (`answered`: GitLab said so, so a refused write did not happen), or no answer at all."""

    def __init__(self, message: str, retry_after: float | None = None, *, answered: bool = False,
                 rate_limited: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.answered = answered
        self.rate_limited = rate_limited  # a 429: retried on its own budget (minutes), not max_retries


class GitLabRefused(Exception):
    """A 4xx other than 429: retrying will not help."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class MalformedResponse(GitLabRefused):
    """GitLab sent data of a shape the bot cannot use (a field of the wrong type): retrying will not
    help, and acting on it could go wrong, so the bot stops for this issue and says why."""


def refusal_text(exc) -> str:
    """python-gitlab's error message, plus the OAuth2 ``error_description`` GitLab gives a refused token
    ("invalid_token" alone does not say that the token expired)."""
    try:
        description = json.loads(getattr(exc, "response_body", None) or b"{}").get("error_description")
    except (ValueError, AttributeError):
        description = None
    return f"{exc.error_message} ({description})" if description else str(exc.error_message)
