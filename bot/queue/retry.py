"""The retry maths (pure): backoff with full jitter, the 429 budget carried on a delivery's last error."""

from __future__ import annotations

import random
import re
from datetime import datetime

# A delivery's tries that waited on GitLab (429s; 5xx, timeouts and no answer: an outage) ride on its last
# error ("[429 x3] ...", "[outage x3] ..."): they have their own budget (time since it arrived,
# rate_limit_retry_minutes or outage_retry_minutes) and do not count against max_retries.
_WAITED = re.compile(r"^\[(429|outage) x(\d+)\] ")
BUDGET = {"429": "rate_limit_retry_minutes", "outage": "outage_retry_minutes"}


def waited_tries(last_error: str | None) -> int:
    m = _WAITED.match(last_error or "")
    return int(m.group(2)) if m else 0


def waited_kind(last_error: str | None) -> str | None:
    m = _WAITED.match(last_error or "")
    return m.group(1) if m else None


def age_seconds(received_at: str | None, now: float) -> float:
    try:
        return now - datetime.fromisoformat(str(received_at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def backoff(retry_index: int, base: float, cap: float, retry_after: float | None = None,
            retry_after_max: float = 300.0) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**n)); GitLab's Retry-After wins when larger, capped
    at retry_after_max (a day-long Retry-After must not hold an incident for a day)."""
    delay = random.uniform(0, min(cap, base * (2 ** min(int(retry_index), 62))))
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), retry_after_max))
    return delay
