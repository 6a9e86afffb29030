"""Time parsing and formatting. Every time the bot handles is an aware UTC datetime.

`parse_next` reads what a person wrote (`next:` fields): linear time (no two quantifiers of a regex can
match the same run; the text is stripped first) and None, never an exception, for any text.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc

_GITLAB_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?) ?UTC$")
# Matched against stripped text; possessive spaces, so "1h" + spaces + "x" fails in one pass.
_DURATION = re.compile(r"(?:(\d{1,6})\s*+h)?\s*+(?:(\d{1,6})\s*+m(?:in)?)?", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?:\s*+UTC)?", re.IGNORECASE)
_MAX_TIMESTAMP_CHARS = 40  # "2026-12-01T12:00:00.000000+00:00" is 32


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None) -> datetime | None:
    """Parse any timestamp shape GitLab has sent: ISO 8601 with Z or offset, or 'YYYY-MM-DD HH:MM:SS UTC'."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    m = _GITLAB_UTC.match(text)
    if m:
        text = f"{m.group(1)}T{m.group(2)}+00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59:59-14:00 is past the calendar's end in UTC
        raise ValueError(f"not a timestamp in range: {value!r}") from exc


def iso(dt: datetime | None) -> str | None:
    """Serialise for the state block: second precision, always with Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def human(dt: datetime | None) -> str | None:
    """The framework's format: YYYY-MM-DD HH:MM UTC."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def parse_duration(text: str) -> timedelta | None:
    """'45m', '1h', '1h30m', '90 min' -> timedelta; None when it is not a duration."""
    m = _DURATION.fullmatch(str(text).strip())
    if not m or not (m.group(1) or m.group(2)):
        return None
    return timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))


def parse_next(text: str, now: datetime) -> datetime | None:
    """A `next:` value: a duration from now ('45m'), a clock time today or tomorrow ('14:30'), or a timestamp."""
    text = str(text).strip()
    delta = parse_duration(text)
    if delta is not None:
        try:
            return now + delta
        except OverflowError:  # 999999h from a time near the end of the calendar
            return None
    minutes = parse_clock(text)
    if minutes is not None:
        at = now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)
    if len(text) > _MAX_TIMESTAMP_CHARS:  # fromisoformat reads "1111...1" (any length) as a time
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def parse_past(text: str, now: datetime) -> datetime | None:
    """A time that has passed: a duration before now ('45m', '45m ago'), the last such clock time at or
    before now ('14:30', UTC), or a timestamp. None when it is none of these (or overflows)."""
    text = str(text).strip()
    if text.lower().endswith(" ago"):
        text = text[:-4].strip()
    try:
        delta = parse_duration(text)
        if delta is not None:
            return now - delta
        minutes = parse_clock(text)
        if minutes is not None:
            at = now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
            return at if at <= now else at - timedelta(days=1)
        return parse_time(text) if len(text) <= _MAX_TIMESTAMP_CHARS else None
    except (ValueError, OverflowError):
        return None


def parse_clock(text: str, *, midnight_24: bool = False) -> int | None:
    """'HH:MM' (optionally ' UTC') -> minutes after midnight; None when it is not a clock time.
    With midnight_24, '24:00' is accepted as midnight (a shift's end)."""
    m = _CLOCK.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if midnight_24 and (h, mi) == (24, 0):
        return 0
    return h * 60 + mi if h <= 23 and mi <= 59 else None


def format_clock(minutes: int) -> str:
    """Minutes after midnight -> 'HH:MM'."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_day(text: str | None) -> date | None:
    """'YYYY-MM-DD' -> date; None for anything else (a person can write 2026-99-99)."""
    try:
        return date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        return None


def iso_ms(dt: datetime) -> str:
    """Millisecond precision with Z, for log lines."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def short_duration(delta: timedelta) -> str:
    """'45s', '4m', '1h5m', '1d2h': compact, for the scheduled check's skip reasons."""
    secs = max(0, int(delta.total_seconds()))
    if secs < 60:
        return f"{secs}s"
    days, rest = divmod(secs // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return "".join(parts) or "0m"


def format_duration(delta: timedelta) -> str:
    """'X hours Y minutes', as the framework writes it ('1 hour 1 minute')."""
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} hour{'' if hours == 1 else 's'} {minutes} minute{'' if minutes == 1 else 's'}"
