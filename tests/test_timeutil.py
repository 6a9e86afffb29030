"""Time parsing on text a person wrote (`next:` fields): linear time, and None rather than an exception."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.timeutil import parse_duration, parse_next

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text,minutes", [("45m", 45), ("1h", 60), ("1h30m", 90), ("1h 30m", 90), ("90 min", 90),
                                          (" 2 H ", 120), ("0m", 0)])
def test_durations(text, minutes):
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "h", "m", "1", "1x", "m1", "1h1h", "1m30h", "- 1h"])
def test_not_durations(text):
    assert parse_duration(text) is None


def test_long_runs_of_spaces():
    # "1h" + spaces + "x" was quadratic (8,000 spaces: 0.15 s; 300,000: minutes).
    n = 300_000
    assert parse_duration("1h" + " " * n + "x") is None
    assert parse_duration("1h" + " " * n + "30m") == timedelta(minutes=90)
    assert parse_next("1h" + " " * n + "x", NOW) is None


@pytest.mark.parametrize("text", ["9" * 20 + "h", "9" * 5000 + "m", "999999999999h", "1" * 5000,
                                  "99:99", "9" * 5000 + ":00", "9999-12-31T23:59:59+00:00x"])
def test_huge_or_odd_values_are_not_times(text):
    assert parse_next(text, NOW) is None


def test_next_shapes():
    assert parse_next("45m", NOW) == NOW + timedelta(minutes=45)
    assert parse_next("09:30", NOW) == NOW.replace(hour=9, minute=30) + timedelta(days=1)
    assert parse_next("14:30 UTC", NOW) == NOW.replace(hour=14, minute=30)
    assert parse_next("2026-12-01T12:00:00Z", NOW) == NOW.replace(hour=12)
    assert parse_next("999999h", NOW) == NOW + timedelta(hours=999999)  # odd, but a time


def test_one_clock_parser_for_next_and_shift_times():
    from bot.timeutil import format_clock, parse_clock
    assert parse_clock("14:30") == 870 and parse_clock(" 7:05 UTC ") == 425
    assert parse_clock("24:00") is None and parse_clock("24:00", midnight_24=True) == 0
    assert parse_clock("23:60") is None and parse_clock("25:00", midnight_24=True) is None
    assert parse_clock("1430") is None and parse_clock(870) is None
    assert format_clock(870) == "14:30" and format_clock(0) == "00:00"


def test_days_and_short_durations():
    from datetime import date, timedelta

    from bot.timeutil import parse_day, short_duration
    assert parse_day("2026-12-01") == date(2026, 12, 1)
    assert parse_day("2026-99-99") is None and parse_day(None) is None and parse_day("2026-12-01x") is None
    assert [short_duration(timedelta(seconds=s)) for s in (-5, 45, 240, 3900, 93600)] == ["0s", "45s", "4m", "1h5m",
                                                                                         "1d2h"]


def test_parse_past_reads_what_has_happened():
    from datetime import datetime, timedelta, timezone

    from bot.timeutil import parse_past

    now = datetime(2026, 11, 27, 10, 0, 30, tzinfo=timezone.utc)
    assert parse_past("45m ago", now) == now - timedelta(minutes=45)
    assert parse_past("1h30m", now) == now - timedelta(hours=1, minutes=30)
    assert parse_past("09:30", now) == datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)
    assert parse_past("10:00", now) == datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # at or before now
    assert parse_past("23:50", now) == datetime(2026, 11, 26, 23, 50, tzinfo=timezone.utc)  # yesterday's
    assert parse_past("2026-11-27T08:15Z", now) == datetime(2026, 11, 27, 8, 15, tzinfo=timezone.utc)
    for bad in ("soon", "", "25:00", "99999999h", "1" * 60):
        assert parse_past(bad, now) is None, bad
