"""Cadence maths: every check at a fixed `now`, boundaries included."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.cadence import (
    KINDS,
    Reminder,
    Skip,
    check_incident,
    mark_sent,
    next_update_due,
)
from bot.config import load_config
from bot.shifts import current_region, next_region, shift_end
from bot.state import IncidentState, Role

UTC = timezone.utc
SEC = timedelta(seconds=1)


def t(hh: int, mm: int = 0, ss: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


@pytest.fixture
def cfg():
    return load_config(env={})


def make(status="active", severity=2, *, cmoc=None, smoc=None, imoc=None, **kw) -> IncidentState:
    roles = {k: Role(v) for k, v in (("cmoc", cmoc), ("smoc", smoc), ("imoc", imoc)) if v}
    kw.setdefault("detected_at", t(10, 0))
    return IncidentState(status=status, severity=severity, roles=roles, **kw)


def run(state, cfg, now, author="reporter", **kw):
    reminders, skips = check_incident(state, cfg, now, author=author, **kw)
    # Every check accounts for itself exactly once: a reminder or a skip, never both, never neither.
    kinds = [r.kind for r in reminders] + [s.kind for s in skips]
    assert sorted(kinds) == sorted(KINDS)
    json.dumps([r.context for r in reminders])  # the context must be JSON-serialisable
    return {r.kind: r for r in reminders}, {s.kind: s.reason for s in skips}


# -- next_update_due -----------------------------------------------------------------
def test_next_update_due_from_last_update_initial_update_or_detection(cfg):
    assert next_update_due(make(severity=1), cfg) == t(10, 10)  # detected + SEV1 active 10m
    assert next_update_due(make(severity=2, initial_update_at=t(10, 5)), cfg) == t(10, 20)
    assert next_update_due(make(severity=2, initial_update_at=t(10, 5), last_update_at=t(11, 0)), cfg) == t(11, 15)


def test_next_update_due_explicit_value_wins(cfg):
    state = make(severity=1, last_update_at=t(11, 0), next_update_due=t(11, 45))  # `next: 45m`
    assert next_update_due(state, cfg) == t(11, 45)
    reminders, skips = run(state, cfg, t(11, 44, 59))
    assert "overdue" not in reminders and skips["overdue"].startswith("next update due in 1s")
    reminders, _ = run(state, cfg, t(11, 45))
    assert reminders["overdue"].key == "overdue:2026-11-27T11:45:00Z"


def test_next_update_due_mitigated_cadence_and_resolved(cfg):
    assert next_update_due(make("mitigated", 1, last_update_at=t(11, 0)), cfg) == t(11, 30)
    assert next_update_due(make("mitigated", 3, last_update_at=t(11, 0)), cfg) == t(12, 0)
    assert next_update_due(make("resolved", 1, last_update_at=t(11, 0), next_update_due=t(11, 10)), cfg) is None
    assert next_update_due(make(detected_at=None), cfg) is None


# -- overdue -------------------------------------------------------------------------
def test_overdue_exactly_due_reminds_one_second_before_skips(cfg):
    state = make(severity=2, cmoc="alice", smoc="sam", initial_update_at=t(10, 5), last_update_at=t(10, 30))
    due = t(10, 45)
    reminders, skips = run(state, cfg, due - SEC)
    assert "overdue" not in reminders
    assert skips["overdue"] == "next update due in 1s (2026-11-27 10:45 UTC)"
    _, skips = run(state, cfg, due - timedelta(minutes=4))
    assert skips["overdue"].startswith("next update due in 4m")

    reminders, skips = run(state, cfg, due)
    r = reminders["overdue"]
    assert r == Reminder("overdue", "overdue:2026-11-27T10:45:00Z", ("alice",), "reminder_overdue.md.j2",
                         {"due_at": "2026-11-27 10:45 UTC", "interval_minutes": 15, "sev": "SEV2",
                          "status": "active"})
    assert "escalation" not in reminders


def test_overdue_mentions_fall_back_cmoc_smoc_author(cfg):
    now = t(12, 0)
    base = {"initial_update_at": t(10, 5), "last_update_at": t(11, 45)}  # due 12:00
    assert run(make(cmoc="alice", smoc="sam", **base), cfg, now)[0]["overdue"].mentions == ("alice",)
    assert run(make(smoc="sam", **base), cfg, now)[0]["overdue"].mentions == ("sam",)
    assert run(make(imoc="ian", **base), cfg, now)[0]["overdue"].mentions == ("reporter",)
    # The issue author passed in wins; state.author is the fallback.
    assert run(make(author="stored", **base), cfg, now, author=None)[0]["overdue"].mentions == ("stored",)
    assert run(make(author="stored", **base), cfg, now, author="given")[0]["overdue"].mentions == ("given",)


def test_overdue_key_follows_the_due_time(cfg):
    state = make(severity=1, cmoc="alice", initial_update_at=t(10, 2), last_update_at=t(10, 2))
    reminders, _ = run(state, cfg, t(10, 12))
    mark_sent(state, reminders.values(), t(10, 12))
    # A new update moves the due time: a new, distinct reminder once that is missed too.
    state.last_update_at = t(10, 14)
    reminders, skips = run(state, cfg, t(10, 23, 59))
    assert "overdue" not in reminders
    reminders, _ = run(state, cfg, t(10, 24))
    assert reminders["overdue"].key == "overdue:2026-11-27T10:24:00Z"


def test_escalation_after_a_second_interval(cfg):
    state = make(severity=2, cmoc="alice", smoc="sam", initial_update_at=t(10, 5), last_update_at=t(10, 30))
    # due 10:45, escalation 11:00 (the same 15m interval again)
    reminders, skips = run(state, cfg, t(10, 59, 59))
    assert "escalation" not in reminders and skips["escalation"].startswith("escalates in 1s")
    reminders, _ = run(state, cfg, t(11, 0))
    esc = reminders["escalation"]
    assert esc.key == "escalation:2026-11-27T10:45:00Z"
    assert esc.mentions == ("sam", "alice")  # the SMOC, and the CMOC who still owes the update
    assert esc.template == "reminder_escalation.md.j2"
    assert esc.context["escalate_to"] == "sam" and esc.context["smoc_engaged"] is True
    assert "overdue" not in reminders  # one note an interval: the escalation names the CMOC too


def test_escalation_without_smoc_mentions_cmoc_and_author(cfg):
    state = make(severity=2, cmoc="alice", initial_update_at=t(10, 5), last_update_at=t(10, 30))
    esc = run(state, cfg, t(11, 0))[0]["escalation"]
    assert esc.mentions == ("alice",)  # no SMOC to escalate to: the CMOC hears it again
    assert esc.context["escalate_to"] is None and esc.context["smoc_engaged"] is False
    esc = run(make(severity=2, initial_update_at=t(10, 5), last_update_at=t(10, 30)), cfg, t(11, 0))[0]["escalation"]
    assert esc.mentions == ("reporter",)


def test_mitigated_uses_the_mitigated_cadence(cfg):
    state = make("mitigated", 1, cmoc="alice", initial_update_at=t(10, 5), last_update_at=t(11, 0),
                 mitigated_at=t(11, 0))
    reminders, skips = run(state, cfg, t(11, 29, 59))
    assert "overdue" not in reminders
    reminders, _ = run(state, cfg, t(11, 30))
    assert reminders["overdue"].key == "overdue:2026-11-27T11:30:00Z"
    assert "escalation" not in reminders
    assert run(state, cfg, t(12, 0))[0]["escalation"].key == "escalation:2026-11-27T11:30:00Z"


def test_resolved_skips_overdue_response_and_handoff(cfg):
    state = make("resolved", 1, cmoc="alice", region="APAC", resolved_at=t(11, 0))
    reminders, skips = run(state, cfg, t(6, 45, day=28))
    assert reminders == {}
    for kind in ("overdue", "escalation", "response_target", "handoff"):
        assert skips[kind] == "incident is resolved"


def test_closed_issue_only_checks_role_release(cfg):
    state = make("active", 1, cmoc="alice", region="APAC")
    reminders, skips = run(state, cfg, t(12, 0), open_=False)
    assert reminders == {}
    assert skips["overdue"] == "issue is closed"
    state = make("resolved", 1, cmoc="alice", resolved_at=t(11, 0))
    assert "role_release" in run(state, cfg, t(11, 0, day=28), open_=False)[0]


# -- response target -----------------------------------------------------------------
@pytest.mark.parametrize("severity,minutes", [(1, 15), (2, 30), (3, 120)])
def test_response_target_boundary(cfg, severity, minutes):
    state = make(severity=severity, cmoc="alice", smoc="sam")
    deadline = t(10, 0) + timedelta(minutes=minutes)
    reminders, skips = run(state, cfg, deadline - SEC)
    assert "response_target" not in reminders and skips["response_target"].startswith("initial update target in 1s")
    reminders, _ = run(state, cfg, deadline)
    r = reminders["response_target"]
    assert r.key == "response_target" and r.mentions == ("sam",)
    assert r.template == "reminder_response_target.md.j2"
    assert r.context == {"target_minutes": minutes, "detected": "2026-11-27 10:00 UTC", "sev": f"SEV{severity}",
                         "initial_at": None}


def test_response_target_mentions_smoc_then_cmoc_then_author(cfg):
    now = t(10, 15)
    assert run(make(severity=1, cmoc="alice"), cfg, now)[0]["response_target"].mentions == ("alice",)
    assert run(make(severity=1), cfg, now)[0]["response_target"].mentions == ("reporter",)


def test_response_target_met_once_initial_update_posted(cfg):
    state = make(severity=1, initial_update_at=t(10, 14))
    reminders, skips = run(state, cfg, t(10, 20))
    assert "response_target" not in reminders
    assert skips["response_target"] == "initial update posted at 2026-11-27 10:14 UTC, within the target"


def test_an_initial_update_after_the_target_is_said_once(cfg):
    """Detected 10:00 (a SEV1's target is 15 min), declared and the Initial Status Update posted 10:40."""
    state = make(severity=1, smoc="sam", initial_update_at=t(10, 40), last_update_at=t(10, 40))
    reminders, _ = run(state, cfg, t(10, 41))
    r = reminders["response_target"]
    assert r.mentions == ("sam",) and r.context["initial_at"] == "2026-11-27 10:40 UTC"
    mark_sent(state, [r], t(10, 41))
    assert "response_target" not in run(state, cfg, t(10, 45))[0]


# -- regions and handoff -------------------------------------------------------------
def test_current_region_and_shift_end_cross_midnight(cfg):
    assert current_region(cfg, t(23, 30)) == "APAC"
    assert current_region(cfg, t(6, 59, 59)) == "APAC"
    assert current_region(cfg, t(7, 0)) == "EMEA"  # shifts are [start, end)
    assert current_region(cfg, t(15, 0)) == "AMER"
    assert current_region(cfg, t(23, 0)) == "APAC"
    assert shift_end(cfg, "APAC", t(23, 30)) == t(7, 0, day=28)
    assert shift_end(cfg, "APAC", t(6, 45)) == t(7, 0)
    assert shift_end(cfg, "APAC", t(7, 0)) == t(7, 0, day=28)  # at the end: the next occurrence's end
    assert shift_end(cfg, "EMEA", t(3, 0)) == t(15, 0)
    assert shift_end(cfg, "MARS", t(3, 0)) is None
    assert next_region(cfg, "APAC") == "EMEA"
    assert next_region(cfg, "EMEA") == "AMER"
    assert next_region(cfg, "AMER") == "APAC"


def active_in(region, **kw):
    kw.setdefault("detected_at", t(0, 0, day=27))
    kw.setdefault("initial_update_at", t(0, 5, day=27))
    kw.setdefault("next_update_due", t(0, 0, day=30))  # keep overdue out of the way
    return make("active", 2, region=region, **kw)


@pytest.mark.parametrize("now,due", [
    (t(6, 29, 59), False),  # 30m01s before the end: outside the 30m lead
    (t(6, 30), True),       # exactly the lead: reminded
    (t(6, 31), True),
    (t(6, 45), True),
    (t(6, 59, 59), True),
    (t(7, 0), "off"),       # the shift is over and APAC still holds it: the off-shift reminder
    (t(23, 30), False),     # the shift just began; it ends tomorrow 07:00
])
def test_apac_handoff_crossing_midnight(cfg, now, due):
    reminders, skips = run(active_in("APAC", cmoc="alice"), cfg, now)
    if due == "off":
        r = reminders["handoff"]
        assert r.key == "offshift:APAC:2026-11-27T07:00:00Z"
        assert r.context == {"region": "APAC", "next_region": "EMEA", "shift_end": "2026-11-27 07:00 UTC",
                             "off_shift": True}
    elif due:
        r = reminders["handoff"]
        assert r.key == "handoff:APAC:2026-11-27T07:00:00Z"
        assert r.mentions == ("alice",)
        assert r.template == "reminder_handoff.md.j2"
        assert r.context == {"region": "APAC", "next_region": "EMEA", "shift_end": "2026-11-27 07:00 UTC"}
    else:
        assert "handoff" not in reminders
        assert skips["handoff"].startswith("APAC shift ends in")


def test_apac_handoff_at_2330_skip_reason_names_tomorrows_end(cfg):
    _, skips = run(active_in("APAC"), cfg, t(23, 30))
    assert skips["handoff"] == "APAC shift ends in 7h30m (2026-11-28 07:00 UTC)"


def test_handoff_once_per_shift_occurrence(cfg):
    state = active_in("APAC", smoc="sam")
    reminders, _ = run(state, cfg, t(6, 31))
    assert reminders["handoff"].mentions == ("sam",)
    mark_sent(state, list(reminders.values()), t(6, 31))
    reminders, skips = run(state, cfg, t(6, 45))
    assert "handoff" not in reminders
    assert skips["handoff"] == "already reminded at 2026-11-27T06:31:00Z"
    # The next night's shift is a new occurrence: a new key.
    reminders, _ = run(state, cfg, t(6, 45, day=28))
    assert reminders["handoff"].key == "handoff:APAC:2026-11-28T07:00:00Z"


def test_handoff_nothing_when_region_already_changed(cfg):
    reminders, skips = run(active_in("EMEA", cmoc="alice"), cfg, t(6, 45))
    assert "handoff" not in reminders
    assert skips["handoff"].startswith("EMEA shift ends in 8h15m")


def test_handoff_only_for_active_incidents_with_a_region(cfg):
    _, skips = run(active_in(None), cfg, t(6, 45))
    assert skips["handoff"] == "no region holds the incident"
    state = make("mitigated", 2, region="APAC", mitigated_at=t(6, 0), next_update_due=t(0, 0, day=30))
    reminders, skips = run(state, cfg, t(6, 45))
    assert "handoff" not in reminders and skips["handoff"].startswith("incident is mitigated")
    _, skips = run(active_in("MARS"), cfg, t(6, 45))
    assert skips["handoff"] == "region MARS has no shift in config"


def test_handoff_falls_back_to_author(cfg):
    assert run(active_in("AMER"), cfg, t(22, 40))[0]["handoff"].mentions == ("reporter",)
    assert run(active_in("AMER"), cfg, t(22, 40))[0]["handoff"].context["next_region"] == "APAC"


# -- custom config -------------------------------------------------------------------
@pytest.fixture
def custom(tmp_path):
    path = tmp_path / "incident-bot.yml"
    path.write_text(
        "cadence:\n  active: {1: 5, 2: 20, 3: 30}\n"
        "response_target: {1: 10}\n"
        "handoff_lead_minutes: 15\n"
        "regions:\n"
        "  WEST: {start: '20:00', end: '08:00'}\n"
        "  EAST: {start: '08:00', end: '20:00'}\n"
    )
    return load_config(str(path), env={})


def test_custom_two_regions_and_cadence(custom):
    assert list(custom.regions) == ["WEST", "EAST"]
    assert current_region(custom, t(3, 0)) == "WEST"
    assert next_region(custom, "WEST") == "EAST" and next_region(custom, "EAST") == "WEST"
    state = make("active", 1, cmoc="alice", region="WEST", initial_update_at=t(7, 40))
    reminders, skips = run(state, custom, t(7, 44, 59))
    assert "overdue" not in reminders  # due 07:45 (5m cadence)
    assert "handoff" not in reminders  # 15m01s before the end, lead is 15m
    reminders, _ = run(state, custom, t(7, 45))
    assert reminders["overdue"].key == "overdue:2026-11-27T07:45:00Z"
    assert reminders["handoff"].key == "handoff:WEST:2026-11-27T08:00:00Z"
    assert reminders["handoff"].context["next_region"] == "EAST"
    assert "escalation" in run(state, custom, t(7, 50))[0]
    # response target from the file: SEV1 10m
    fresh = make("active", 1, detected_at=t(9, 0))
    assert "response_target" not in run(fresh, custom, t(9, 9, 59))[0]
    assert "response_target" in run(fresh, custom, t(9, 10))[0]


def test_next_region_prefers_the_region_starting_at_the_end(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("regions:\n  A: {start: '00:00', end: '12:00'}\n  B: {start: '18:00', end: '00:00'}\n"
                    "  C: {start: '12:00', end: '18:00'}\n")
    c = load_config(str(path), env={})
    assert next_region(c, "A") == "C"  # C starts at 12:00 although B comes next in config order
    assert next_region(c, "C") == "B"
    assert next_region(c, "B") == "A"
    path.write_text("regions:\n  A: {start: '00:00', end: '10:00'}\n  B: {start: '12:00', end: '20:00'}\n")
    c = load_config(str(path), env={})
    assert next_region(c, "A") == "B"  # no one starts at 10:00: the next in config order
    assert current_region(c, t(11, 0)) is None


def test_single_region_has_no_handoff(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("regions:\n  ONLY: {start: '00:00', end: '00:00'}\n")
    c = load_config(str(path), env={})
    assert current_region(c, t(13, 0)) == "ONLY"
    _, skips = run(active_in("ONLY"), c, t(23, 50))
    assert skips["handoff"] == "ONLY is the only region; no one to hand off to"


# -- role release --------------------------------------------------------------------
def test_role_release_at_24h_boundary(cfg):
    state = make("resolved", 1, cmoc="alice", smoc="sam", resolved_at=t(12, 0))
    reminders, skips = run(state, cfg, t(11, 59, 59, day=28))
    assert "role_release" not in reminders and skips["role_release"].startswith("roles still engaged; reminder in 1s")
    reminders, _ = run(state, cfg, t(12, 0, day=28))
    r = reminders["role_release"]
    assert r == Reminder("role_release", "role_release", ("alice", "sam"), "reminder_role_release.md.j2",
                         {"roles": [{"role": "cmoc", "username": "alice"}, {"role": "smoc", "username": "sam"}],
                          "resolved": "2026-11-27 12:00 UTC"})


def test_role_release_deduplicates_one_person_holding_two_roles(cfg):
    state = make("resolved", 1, cmoc="alice", smoc="alice", resolved_at=t(12, 0))
    assert run(state, cfg, t(12, 0, day=29))[0]["role_release"].mentions == ("alice",)


def test_role_release_nothing_when_no_role_engaged(cfg):
    reminders, skips = run(make("resolved", 1, resolved_at=t(12, 0)), cfg, t(12, 0, day=29))
    assert reminders == {} and skips["role_release"] == "no role is engaged"
    _, skips = run(make("active", 1, cmoc="alice", next_update_due=t(0, 0, day=30)), cfg, t(12, 0))
    assert skips["role_release"] == "incident is not resolved"


# -- stale mitigation ----------------------------------------------------------------
def test_stale_mitigation_boundary_and_mentions(cfg):
    common = {"initial_update_at": t(10, 5), "mitigated_at": t(12, 0), "next_update_due": t(0, 0, day=30)}
    state = make("mitigated", 2, smoc="sam", **common)
    reminders, skips = run(state, cfg, t(11, 59, 59, day=28))
    assert "stale_mitigation" not in reminders
    assert skips["stale_mitigation"].startswith("mitigated for 23h59m; nudge in 1s")
    reminders, _ = run(state, cfg, t(12, 0, day=28))
    r = reminders["stale_mitigation"]
    assert r == Reminder("stale_mitigation", "stale_mitigation", ("sam",), "reminder_stale_mitigation.md.j2",
                         {"mitigated_at": "2026-11-27 12:00 UTC", "hours": 24})
    assert run(make("mitigated", 2, cmoc="alice", smoc="sam", **common), cfg,
               t(12, 0, day=28))[0]["stale_mitigation"].mentions == ("alice",)
    assert run(make("mitigated", 2, **common), cfg, t(12, 0, day=28))[0]["stale_mitigation"].mentions == ("reporter",)


# -- idempotency ---------------------------------------------------------------------
def test_mark_sent_then_check_again_returns_nothing_new(cfg):
    state = make("active", 1, smoc="sam", region="APAC")  # no initial update at all
    now = t(6, 45, day=28)  # long overdue, response target missed, APAC shift ending
    reminders, _ = check_incident(state, cfg, now, author="reporter")
    assert {r.kind for r in reminders} == {"escalation", "response_target", "handoff"}
    mark_sent(state, reminders, now)
    assert state.reminders == {r.key: "2026-11-28T06:45:00Z" for r in reminders}
    again, skips = check_incident(state, cfg, now + timedelta(seconds=5), author="reporter")
    assert again == []
    for kind in ("escalation", "response_target", "handoff"):
        assert Skip(kind, "already reminded at 2026-11-28T06:45:00Z") in skips


def test_every_missed_interval_gets_one_note_however_often_the_check_runs(cfg):
    """SEV1, due 10:10 (10 min cadence): overdue at 10:10, escalations at 10:20, 10:30, ... each once."""
    state = make("active", 1, cmoc="alice", smoc="sam", imoc="ivan", initial_update_at=t(10, 0),
                 last_update_at=t(10, 0))
    sent = []
    for minute in range(10, 61):  # the schedule runs every minute for 50 minutes
        for second in (0, 30):
            now = t(10, 0) + timedelta(minutes=minute, seconds=second)
            reminders, _ = check_incident(state, cfg, now, author="reporter")
            mark_sent(state, reminders, now)
            sent += [(r.kind, now.strftime("%H:%M:%S"), r.mentions) for r in reminders if r.kind != "response_target"]
    assert sent == [("overdue", "10:10:00", ("alice",))] + [
        ("escalation", f"{h}:00", ("sam", "alice")) for h in ("10:20", "10:30", "10:40", "10:50", "11:00")]
    esc, _ = check_incident(state, cfg, t(11, 10), author="reporter")
    assert esc[0].context["imoc"] == "ivan" and esc[0].context["missed"] == 6
    # Only the latest escalation key of a due time is kept: the block does not grow every interval.
    assert sorted(state.reminders) == ["escalation:2026-11-27T10:10:00Z:5", "overdue:2026-11-27T10:10:00Z"]


def test_state_with_reminders_survives_the_block_round_trip(cfg):
    from bot.state import read_block, render_block
    state = make("active", 1, cmoc="alice")
    reminders, _ = check_incident(state, cfg, t(10, 30), author=None)
    mark_sent(state, reminders, t(10, 30))
    restored = read_block(render_block(state, "| table |", "k" * 32), "k" * 32)
    assert check_incident(restored, cfg, t(10, 31), author=None)[0] == []


def test_naive_now_is_treated_as_utc(cfg):
    state = make("active", 1, cmoc="alice")
    reminders, _ = check_incident(state, cfg, datetime(2026, 11, 27, 10, 10), author=None)
    assert [r.kind for r in reminders] == ["overdue"]
