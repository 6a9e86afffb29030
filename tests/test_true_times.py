"""Issue 15, items 2 and 3 through the sandbox on a clock of the test's own: true times (detected from
GitLab's time, `detected:`, `next:` everywhere) and reminders for a region that is off shift."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.cli import main
from bot.markers import parse_note_marker as parse_marker
from bot.statekey import ensure_state_key
from bot.timeutil import iso

UTC = timezone.utc


def t(hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 11, 27, hh, mm, ss, tzinfo=UTC)


class Clock:
    """GitLab's clock and the bot's, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def timed(tmp_path, monkeypatch):
    """A world whose sandbox and bot read one clock; `timed.cadence(now)` runs one scheduled pass."""
    from world import World

    w = World(str(tmp_path))
    w.clock = Clock(t(10, 0))
    w.sb.store.clock = w.clock
    w.bot.services.clock = w.clock
    monkeypatch.setenv("GITLAB_URL", w.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", w.bot_user["token"])
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(w.cfg))

    def cadence(now: datetime) -> None:
        assert main(["cadence", "--project", w.project["path_with_namespace"], "--now", iso(now)]) == 0
        w.settle()

    w.cadence = cadence
    yield w
    w.close()


def reminders(world, iid: int) -> list[str]:
    return [n["body"] for n in world.bot_notes(iid) if parse_marker(n["body"])["kind"] == "reminder"]


def test_detected_is_the_notes_time_and_a_late_first_update_is_said(timed):
    """A backlog: the declare was written at 10:00, the bot got to it at 10:20. Detected is 10:00; the
    Initial Status Update went out at 10:20, past a SEV1's 15 minutes, and the scheduled check says so."""
    iid = timed.create_issue()
    timed.deliver_by_hand()
    start = len(timed.sb.deliveries)
    timed.comment(iid, "/incident declare sev1\nsummary: SSO down")
    timed.clock.now = t(10, 20)
    assert timed.process(start)[0] == "handled: declare"
    state = timed.state(iid)
    assert (state.detected_at, state.initial_update_at) == (t(10, 0), t(10, 20))
    assert "**Time Detected:** 2026-11-27 10:00 UTC" in timed.reply(iid, "initial")
    timed.cadence(t(10, 21))
    assert len(reminders(timed, iid)) == 1
    assert "went out at 2026-11-27 10:20 UTC: past the response target of 15 minutes" in reminders(timed, iid)[0]
    timed.cadence(t(10, 22))
    assert len(reminders(timed, iid)) == 1  # said once


def test_detected_on_declare_and_corrected_later(timed):
    iid = timed.create_issue()
    timed.comment(iid, "/incident declare sev2\nsummary: slow\ndetected: 45m ago")
    assert timed.state(iid).detected_at == t(9, 15)
    timed.clock.now = t(10, 5)
    timed.comment(iid, "/incident detected 09:30")
    state = timed.state(iid)
    assert state.detected_at == t(9, 30) and state.initial_update_at == t(10, 0)
    assert "Time detected corrected to 2026-11-27 09:30 UTC (was 2026-11-27 09:15 UTC)" in timed.last_reply(iid)
    assert "Time to first communication: 0 hours 30 minutes" in timed.last_reply(iid)
    timed.comment(iid, "/incident detected 2026-11-28T09:00Z")
    assert "is not a time that has passed" in timed.last_reply(iid)
    assert timed.state(iid).detected_at == t(9, 30)
    timed.comment(iid, "/incident detected 2025-11-27T09:30Z")  # a year typed wrong skews every measure
    assert "more than 30 days before this comment" in timed.last_reply(iid)
    assert timed.state(iid).detected_at == t(9, 30)
    # A block lost to an edit is rebuilt from the bot's notes: the corrected time comes back with it.
    timed.edit_issue(iid, description="Pasted over.")
    timed.comment(iid, "/incident status")
    assert "block was missing" in timed.bot_notes(iid)[-2]["body"]
    assert timed.state(iid).detected_at == t(9, 30)


def test_next_on_handoff_is_honoured(timed):
    timed.clock.now = t(14, 45)  # EMEA's shift ends at 15:00, AMER's starts
    iid = timed.declare(sev="sev2")
    assert timed.state(iid).region == "EMEA"
    timed.comment(iid, "/incident handoff amer\nsummary: AMER takes it\nnext: 20m")
    state = timed.state(iid)
    assert (state.region, state.next_update_due) == ("AMER", t(15, 5))
    assert "Warning" not in timed.last_reply(iid)  # AMER starts within the handoff lead, in order


def test_severity_change_keeps_a_sooner_next_and_says_when_the_due_time_moves(timed):
    iid = timed.declare(sev="sev3", fields="summary: errors\nnext: 5m")
    assert timed.state(iid).next_update_due == t(10, 5)
    timed.clock.now = t(10, 1)
    timed.comment(iid, "/incident severity sev1")
    assert timed.state(iid).next_update_due == t(10, 5)
    assert "stays due by 2026-11-27 10:05 UTC, as announced" in timed.last_reply(iid)

    timed.clock.now = t(10, 3)
    timed.comment(iid, "/incident update\nsummary: digging\nnext: 15h")  # far beyond a 10 min cadence
    assert timed.state(iid).next_update_due == t(1, 3) + timedelta(days=1)
    assert "**Warning:** the next update is announced for 2026-11-28 01:03 UTC, far beyond" in timed.last_reply(iid)
    assert "Warning" not in timed.reply(iid, "update")  # a note apart: the UPDATE stays pasteable as it is

    timed.clock.now = t(10, 4)
    timed.comment(iid, "/incident severity sev2")
    assert timed.state(iid).next_update_due == t(10, 18)  # the last update + 15 min: sooner
    assert ("now due by 2026-11-27 10:18 UTC (it was due by 2026-11-28 01:03 UTC)"
            in timed.last_reply(iid))


def test_a_far_next_on_mitigate_is_warned_about(timed):
    iid = timed.declare(sev="sev2", fields="summary: errors")
    timed.comment(iid, "/incident mitigate\nsummary: rolled back\nnext: 2h")  # within 3 x 60 min
    assert "Warning" not in timed.last_reply(iid)
    timed.comment(iid, "/incident update\nsummary: watching\nnext: 15h")
    assert timed.state(iid).next_update_due == t(1, 0) + timedelta(days=1)
    assert "far beyond the SEV2 cadence of 60 minutes" in timed.last_reply(iid)


def test_a_higher_severity_late_in_the_interval_says_the_update_is_due_now(timed):
    iid = timed.declare(sev="sev3", fields="summary: errors")  # due 10:15
    timed.clock.now = t(10, 12)
    timed.comment(iid, "/incident severity sev1")  # the last update + 10 min: 10:10, already past
    assert timed.state(iid).next_update_due == t(10, 10)
    reply = timed.last_reply(iid)
    assert "now due by 2026-11-27 10:10 UTC (it was due by 2026-11-27 10:15 UTC)" in reply
    assert "That time has passed: please post an update now." in reply


def test_a_handoff_to_an_off_shift_region_is_warned_and_reminded_at_once(timed):
    """18:30: AMER holds it; a handoff to EMEA (07:00-15:00, and APAC comes after AMER) is warned about
    in the reply, and the next scheduled check reminds at once, not at EMEA's next shift end."""
    timed.clock.now = t(18, 30)
    iid = timed.declare(sev="sev2")
    timed.comment(iid, "/incident handoff emea\nsummary: over to EMEA")
    reply = timed.last_reply(iid)
    assert "**Warning:** EMEA is off shift now (its shift is 07:00-15:00 UTC)" in reply
    assert "**Warning:** the configured handoff order passes AMER to APAC, not EMEA" in reply
    assert timed.state(iid).region == "EMEA"
    timed.cadence(t(18, 31))
    notes = reminders(timed, iid)
    assert len(notes) == 1
    assert "The EMEA shift is over" in notes[0] and "`/incident handoff amer`" in notes[0]
    timed.cadence(t(18, 40))
    assert len(reminders(timed, iid)) == 1  # once per off-shift stretch
