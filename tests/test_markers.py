"""Every hidden marker is built and read in bot/markers.py: what one writes, the other reads back."""

from datetime import date

from bot import markers
from bot.neutralize import neutralize


def test_each_marker_reads_back_what_it_wrote():
    note = markers.note_marker("role", "k1", 3, role="cmoc", user="alice")
    assert markers.parse_note_marker("reply\n\n" + note) == {"kind": "role", "n": "3", "role": "cmoc",
                                                             "user": "alice", "key": "k1"}
    assert markers.postmortem_of("x\n" + markers.postmortem_marker(7, 42)) == (7, 42)
    assert markers.action_of(markers.action_marker(7, 9, "ab-2")) == (7, 9, "ab-2")
    once = markers.mark_reminded("text", date(2026, 12, 1))
    twice = markers.mark_reminded(once, date(2026, 12, 2))
    assert markers.reminded_on(twice) == date(2026, 12, 2) and twice.count("action-reminded") == 1


def test_person_text_cannot_carry_a_marker():
    pasted = neutralize(markers.note_marker("update", "k") + markers.postmortem_marker(1, 2))
    assert markers.parse_note_marker(pasted) is None and markers.postmortem_of(pasted) is None
