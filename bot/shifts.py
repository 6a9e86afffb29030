"""Regions' shifts: which region is on shift at a time, when its shift ends, who takes over.

Pure. Shifts are half-open [start, end) in minutes after midnight UTC; start > end crosses midnight,
start == end means all day. Naive times are read as UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .config import Config
from .timeutil import UTC


# -- time helpers -------------------------------------------------------------------
def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _at(now: datetime, minute_of_day: int) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=minute_of_day)


# -- regions ------------------------------------------------------------------------
def in_shift(start: int, end: int, minute: int) -> bool:
    if start == end:
        return True
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def current_region(cfg: Config, now: datetime) -> str | None:
    """The first region (config order) whose shift [start, end) holds now; None when no shift does."""
    now = aware(now).astimezone(UTC)
    minute = now.hour * 60 + now.minute
    for name, (start, end) in cfg.regions.items():
        if in_shift(start, end, minute):
            return name
    return None


def shift_end(cfg: Config, region: str, now: datetime) -> datetime | None:
    """The region's next shift end strictly after now (the current shift's end when on shift);
    None for a region not in config. Exactly at the end time, this is the next day's end."""
    shift = cfg.regions.get(region)
    if shift is None:
        return None
    now = aware(now)
    end = _at(now, shift[1])
    return end if end > now else end + timedelta(days=1)


def next_region(cfg: Config, region: str) -> str:
    """The region whose shift starts when this one's ends (first such in config order after it),
    else the next region in config order (cyclic). The region itself when it is the only one."""
    regions = cfg.regions
    names = list(regions)
    if region not in regions:
        return names[0]
    i = names.index(region)
    after = names[i + 1:] + names[:i]
    end = regions[region][1]
    for name in after:
        if regions[name][0] == end:
            return name
    return after[0] if after else region


def on_shift_soon(cfg: Config, region: str, now: datetime) -> bool:
    """The region is on shift now, or starts within the handoff lead (a handoff made ahead of a shift)."""
    shift = cfg.regions.get(region)
    if shift is None:
        return True  # no shift to judge by
    lead = int(cfg.data["handoff_lead_minutes"])
    now = aware(now).astimezone(UTC)
    return any(in_shift(*shift, (t.hour * 60 + t.minute)) for t in (now, now + timedelta(minutes=lead)))
