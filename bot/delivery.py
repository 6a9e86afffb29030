"""The bridge from a stored delivery to processing: rebuild the event the door parsed, process it,
translate errors into what the queue understands (retry, or give up)."""

from __future__ import annotations

import logging
from typing import Callable

from .events import event_from_dict, parse_delivery
from .failure_notice import post_notice
from .gitlab import GitLabRefused, RetryableGitLabError
from .logs import log_context
from .process import Services, process_event
from .queue import PermanentError, RetryableError

log = logging.getLogger("incident_bot.worker")


def make_processor(services: Services) -> Callable[[dict], None]:
    def process_delivery(delivery: dict) -> None:
        headers = delivery.get("headers") or {}
        project, _, issue = (delivery.get("issue_key") or "").partition(":")
        with log_context(delivery_id=delivery.get("id"), project=project or None, issue=issue or None):
            try:
                if delivery.get("notice"):
                    outcome = post_notice(services, delivery["notice"])
                else:
                    # Deliveries stored before the queue kept the parsed event carry the body instead.
                    parsed = delivery.get("parsed")
                    event = event_from_dict(parsed) if parsed else parse_delivery(headers, delivery["body"])
                    # A retry (or a replay) may follow a try that posted before it failed: look for its markers.
                    outcome = process_event(event, services, event_uuid=headers.get("X-Gitlab-Event-UUID"),
                                            retry=delivery.get("attempts", 2) > 1 or bool(delivery.get("replayed"))
                                            # A sync may meet a webhook for the same change: always look.
                                            or delivery.get("source") == "sync")
            except RetryableGitLabError as exc:
                log.warning("GitLab error, will retry: %s", exc)
                raise RetryableError(str(exc), retry_after=exc.retry_after, rate_limited=exc.rate_limited,
                                     outage=not exc.rate_limited) from exc
            except GitLabRefused as exc:
                if exc.status == 401 and delivery.get("notice"):  # wait for a working token to say so
                    raise RetryableError(str(exc), outage=True) from exc
                log.error("GitLab refused a call, not retrying: %s", exc)
                raise PermanentError(str(exc)) from exc
            log.info(outcome)

    return process_delivery
