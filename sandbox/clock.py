"""Time source and the two timestamp styles GitLab uses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

UTC = timezone.utc
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """REST and Issue Hook style: 2026-11-27T16:37:38.123Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def utc_text(dt: datetime | None) -> str | None:
    """Note Hook style: 2026-11-27 16:37:38 UTC."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse(value: str) -> datetime:
    text = value.strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
