"""Prometheus metrics for incident-bot, in a dedicated CollectorRegistry.

Every metric lives in ``REGISTRY`` (not prometheus_client's global default registry), so importing this
module from tests or from several app instances never raises "Duplicated timeseries". With the Redis
scale-out each process exposes its own numbers; that is fine for Prometheus, which sums across targets.

Who counts what:
- the web layer: ``delivery_received()`` for every POST to /webhook, ``delivery_rejected(reason)`` when it
  answers 4xx without queueing (bad token, too large, unparsable...);
- the queue (``bot/queue/workers.py``): accepted / duplicate on submit, processed / retried / dead / failed and the
  processing time in the workers, and the ``queue_depth`` gauge through ``set_queue_depth_source``;
- the GitLab adapter: ``observe_api_call(method, status, seconds)`` once per HTTP call.
"""

from __future__ import annotations

import math
from typing import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

deliveries_received_total = Counter(
    "deliveries_received_total", "Webhook deliveries received by the web layer.", registry=REGISTRY
)
deliveries_accepted_total = Counter(
    "deliveries_accepted_total", "Deliveries durably queued (answered 202).", registry=REGISTRY
)
deliveries_duplicate_total = Counter(
    "deliveries_duplicate_total", "Deliveries dropped as duplicates within the dedupe window (answered 200).",
    registry=REGISTRY,
)
deliveries_rejected_total = Counter(
    "deliveries_rejected_total", "Deliveries rejected before queueing.", ["reason"], registry=REGISTRY
)
deliveries_processed_total = Counter(
    "deliveries_processed_total", "Deliveries processed successfully.", registry=REGISTRY
)
deliveries_retried_total = Counter(
    "deliveries_retried_total", "Delivery attempts that failed and were scheduled for a retry.", registry=REGISTRY
)
deliveries_dead_total = Counter(
    "deliveries_dead_total", "Deliveries that exhausted their retries (dead-lettered).", registry=REGISTRY
)
deliveries_failed_total = Counter(
    "deliveries_failed_total", "Deliveries that failed permanently (not retried).", registry=REGISTRY
)
queue_depth = Gauge("queue_depth", "Deliveries not yet finished (queued, retrying or running).", registry=REGISTRY)
delivery_processing_seconds = Histogram(
    "delivery_processing_seconds", "Time spent in the processor for one delivery attempt.", registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
gitlab_api_calls_total = Counter(
    "gitlab_api_calls_total", "GitLab API calls by HTTP method and status.", ["method", "status"], registry=REGISTRY
)
gitlab_api_seconds = Histogram(
    "gitlab_api_seconds", "GitLab API call latency by HTTP method.", ["method"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
# Set by bot/gitlab_health.py from this process's GitLab calls (1 until a call says otherwise).
gitlab_up = Gauge("gitlab_up", "1 while GitLab answers the bot's calls, 0 after a 5xx or no answer.",
                  registry=REGISTRY)
gitlab_token_accepted = Gauge("gitlab_token_accepted", "0 while GitLab refuses the bot's token (401).",
                              registry=REGISTRY)
gitlab_up.set(1)
gitlab_token_accepted.set(1)

hook_disabled = Gauge(
    "hook_disabled", "1 when the project's hook to the bot is missing or disabled by GitLab (read by sync).",
    ["project"], registry=REGISTRY,
)
seconds_since_last_webhook = Gauge(
    "seconds_since_last_webhook", "Seconds since this process last got a webhook (NaN: none yet).",
    registry=REGISTRY,
)

_depth_source: Callable[[], int] | None = None


def _read_depth() -> float:
    source = _depth_source
    if source is None:
        return 0.0
    try:
        return float(source())
    except Exception:  # the store is unreachable: a scrape must still succeed
        return math.nan


queue_depth.set_function(_read_depth)


def set_queue_depth_source(source: Callable[[], int] | None) -> None:
    """Make the ``queue_depth`` gauge read ``source()`` at scrape time (the last queue to call this wins)."""
    global _depth_source
    _depth_source = source


def delivery_received() -> None:
    deliveries_received_total.inc()


def delivery_rejected(reason: str) -> None:
    deliveries_rejected_total.labels(reason=str(reason)).inc()


def observe_api_call(method: str, status: int | str, seconds: float) -> None:
    """Record one GitLab API call. ``status`` is the HTTP status, or e.g. "error" for a connection failure."""
    method = str(method).upper()
    gitlab_api_calls_total.labels(method=method, status=str(status)).inc()
    gitlab_api_seconds.labels(method=method).observe(max(0.0, float(seconds)))


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
