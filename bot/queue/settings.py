"""The delivery queue's settings and their defaults (the `queue:` section of the config may override them)."""

from __future__ import annotations

from typing import Any

SETTINGS: dict[str, Any] = {
    "workers": 4,
    "dedupe_hours": 24,
    "max_retries": 5,
    "retry_base_seconds": 2.0,
    "retry_max_seconds": 300.0,
    "retry_after_max_seconds": 300.0,
    "lease_seconds": 60.0,
    "poll_seconds": 1.0,
    "done_retention_hours": None,
    "rate_limit_retry_minutes": 30.0,
    "outage_retry_minutes": 20.0,
}
