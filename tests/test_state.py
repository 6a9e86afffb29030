from datetime import datetime, timezone

import pytest

from bot.state import BEGIN, END, BlockError, IncidentState, Role, read_block, render_block, write_block

T = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def sample() -> IncidentState:
    s = IncidentState(status="active", severity=1, detected_at=T, author="alice")
    s.roles["cmoc"] = Role("alice", 5)
    s.handoffs.append({"from": "AMER", "to": "EMEA", "at": "2026-11-27T10:00:00Z"})
    s.mark_handled("note-1-0")
    return s


def test_round_trip_and_schema():
    block = render_block(sample(), "| a | b |")
    back = read_block("intro\n\n" + block + "\n\ntail")
    assert back == sample()
    assert '"schema":1' in block


def test_text_outside_markers_is_kept_byte_for_byte():
    original = "Customer says:\r\n/close is not a command here\n\n"
    first = write_block(original, render_block(sample(), "table"))
    assert first.endswith(original)
    second = write_block(first, render_block(IncidentState(severity=2), "table 2"))
    assert second.endswith(original) and second.count(BEGIN) == 1 and "table 2" in second


def test_missing_and_damaged_blocks():
    assert read_block("no block here") is None
    assert read_block(None) is None
    with pytest.raises(BlockError, match="end marker"):
        read_block(BEGIN + " stuff")
    with pytest.raises(BlockError, match="state comment"):
        read_block(BEGIN + "table" + END)
    with pytest.raises(BlockError, match="cannot be read"):
        read_block(BEGIN + "<!-- incident-bot:state {not json} -->" + END)
    with pytest.raises(BlockError, match="schema"):
        read_block(BEGIN + '<!-- incident-bot:state {"schema": 99} -->' + END)


def test_person_text_cannot_end_the_comment():
    s = sample()
    s.author = "x-->y"
    assert read_block(render_block(s, "t")).author == "x-->y"


def test_handled_keys_are_bounded():
    s = IncidentState()
    for i in range(500):
        s.mark_handled(f"k{i}")
    assert len(s.handled) == 200 and s.was_handled("k499") and not s.was_handled("k0")


def test_peak_tickets():
    s = IncidentState()
    s.report_tickets(10)
    s.report_tickets(4)
    assert (s.tickets, s.peak_tickets) == (4, 10)
