import json
from datetime import datetime, timezone

import pytest

from bot.markers import BEGIN, END, STATE_PREFIX
from bot.state import (
    BlockError,
    IncidentState,
    Role,
    UnverifiedState,
    read_block,
    render_block,
    write_block,
)

T = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
KEY = "k" * 40


def sample() -> IncidentState:
    s = IncidentState(status="active", severity=1, detected_at=T, author="alice")
    s.roles["cmoc"] = Role("alice", 5)
    s.handoffs.append({"from": "AMER", "to": "EMEA", "at": "2026-11-27T10:00:00Z"})
    s.mark_handled("note-1-0")
    return s


def test_round_trip_and_schema():
    block = render_block(sample(), "| a | b |", KEY, "issue:1")
    back = read_block("intro\n\n" + block + "\n\ntail", KEY, "issue:1")
    assert back == sample()
    assert '"schema":1' in block


def test_text_outside_markers_is_kept_byte_for_byte():
    original = "Customer says:\r\n/close is not a command here\n\n"
    first = write_block(original, render_block(sample(), "table", KEY))
    assert first.endswith(original)
    second = write_block(first, render_block(IncidentState(severity=2), "table 2", KEY))
    assert second.endswith(original) and second.count(BEGIN) == 1 and "table 2" in second


def test_missing_and_damaged_blocks():
    assert read_block("no block here", KEY) is None
    assert read_block(None, KEY) is None
    with pytest.raises(BlockError, match="end marker"):
        read_block(BEGIN + " stuff", KEY)
    with pytest.raises(BlockError, match="state comment"):
        read_block(BEGIN + "table" + END, KEY)
    with pytest.raises(BlockError, match="cannot be read"):
        read_block(BEGIN + "<!-- incident-bot:state {not json} -->" + END, None)
    with pytest.raises(BlockError, match="schema"):
        read_block(BEGIN + '<!-- incident-bot:state {"schema": 99} -->' + END, None)


def test_person_text_cannot_end_the_comment():
    s = sample()
    s.region = "x-->y"
    assert read_block(render_block(s, "t", KEY), KEY).region == "x-->y"


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


# -- signature (issue 12, item 2) -------------------------------------------------------------------
def _forge(block: str, change) -> str:
    """Edit the JSON in a block as a person editing the description would, keeping or dropping the
    signature prefix."""
    start = block.index(STATE_PREFIX) + len(STATE_PREFIX)
    end = block.index(" -->", start)
    comment = block[start:end]
    sig, payload = comment.split(" ", 1) if comment.startswith("hmac-sha256=") else ("", comment)
    data = json.loads(payload)
    change(data)
    forged = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return block[:start] + (sig + " " if sig else "") + forged + block[end:]


def test_a_changed_state_does_not_verify():
    block = render_block(sample(), "t", KEY, "issue:1")
    forged = _forge(block, lambda d: d["handled"].append("note-99-0"))
    with pytest.raises(UnverifiedState, match="does not match"):
        read_block(forged, KEY, "issue:1")


def test_an_unsigned_block_does_not_verify():
    unsigned = _forge(render_block(sample(), "t", KEY), lambda d: None).replace("hmac-sha256=", "x=")
    legacy = BEGIN + "\nt\n\n" + STATE_PREFIX + json.dumps(sample().to_json()) + " -->\n" + END
    for text in (unsigned, legacy):
        with pytest.raises(UnverifiedState):
            read_block(text, KEY)


def test_another_key_or_another_issue_does_not_verify():
    block = render_block(sample(), "t", KEY, "issue:1")
    with pytest.raises(UnverifiedState):
        read_block(block, "o" * 40, "issue:1")
    with pytest.raises(UnverifiedState):  # a valid block copied into another issue
        read_block(block, KEY, "issue:2")


def test_the_bot_never_writes_an_unsigned_block():
    with pytest.raises(ValueError, match="no state key"):
        render_block(sample(), "t", None)


@pytest.mark.parametrize("field,value", [
    ("reminders", 5), ("reminders", {"k": 5}), ("handled", "note-1-0"), ("handled", [1]),
    ("roles", {"cmoc": {"username": "@all", "id": 5}}), ("roles", {"cmoc": {"username": "all"}}),
    ("roles", {"cmoc": {"username": "alice", "id": "5"}}), ("roles", {"boss": {"username": "alice"}}),
    ("roles", []), ("severity", True), ("severity", "1"), ("status", "gone"), ("update_count", -1),
    ("update_count", 1.5), ("tickets", "12"), ("postmortem_iid", 0), ("detected_at", 5),
    ("detected_at", "yesterday"), ("updates", [{"n": "x"}]), ("handoffs", {}), ("author", "a b"),
    ("region", ["EMEA"]),
])
def test_every_field_is_type_checked(field, value):
    data = sample().to_json()
    data[field] = value
    with pytest.raises(ValueError):
        IncidentState.from_json(data)
