"""Record a delivery's outcome in the store, and count it."""

from __future__ import annotations

import logging
import time

from bot import metrics

from .errors import _error_text
from .store import FINAL, Store

LOG = logging.getLogger("incident_bot.queue")


def record(store: Store, rec: dict, claim: str, status: str, error: str | None, started: float | None = None,
           next_at: float | None = None) -> None:
    if started is not None:
        metrics.delivery_processing_seconds.observe(time.monotonic() - started)
    for attempt in range(5):  # a lost outcome means the delivery runs again: try a little harder
        try:
            if not store.finish(rec["id"], claim, status, time.time(), error, next_at):
                LOG.warning("the lease was lost while processing; outcome %s not recorded", status)
                return
            break
        except Exception as exc:
            if attempt == 4:
                LOG.error("could not record the outcome %s: %s", status, _error_text(exc))
                return
            time.sleep(0.2 * (attempt + 1))
    counter = {"done": metrics.deliveries_processed_total, "failed": metrics.deliveries_failed_total,
               "dead": metrics.deliveries_dead_total, "retrying": metrics.deliveries_retried_total}[status]
    counter.inc()
    if status in FINAL:
        LOG.info("delivery %s", status, extra={"attempt": rec["attempts"], "event": rec["event"]})
