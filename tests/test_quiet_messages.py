"""Issue 15, item 5: quieter, paste-ready messages, played through the sandbox as people would."""

from __future__ import annotations

from test_postmortem_flow import resolved_incident

from bot.markers import parse_note_marker
from bot.render import Renderer
from bot.timeutil import format_duration

GUIDANCE = ("Engage the", "several customers are affected", "- [ ]", "release criteria")


def pasteable(body: str) -> bool:
    return not any(text in body for text in GUIDANCE)


def test_customer_facing_notes_carry_no_internal_guidance(world):
    iid = world.declare(fields="summary: SSO fails\n")
    world.comment(iid, "/incident update\nsummary: narrowing\n")
    world.comment(iid, "/incident exec\nsummary: SSO down\n")
    world.comment(iid, "/incident resolve\nsummary: rolled back\n")
    for kind in ("initial", "update", "exec", "resolved"):
        assert pasteable(world.reply(iid, kind)), kind
    guidance = [n for n in world.bot_notes(iid) if parse_note_marker(n["body"])["kind"] == "guidance"]
    assert len(guidance) == 1 and guidance[0]["internal"] is True
    assert "Engage the CMOC" in guidance[0]["body"] and "Engage the SMOC" in guidance[0]["body"]


def test_one_comment_assigning_three_roles_gets_one_reply(world):
    iid = world.declare()
    before = len(world.bot_notes(iid))
    world.comment(iid, "/incident cmoc me\n/incident smoc @bob\n/incident imoc @carol")
    notes = world.bot_notes(iid)[before:]
    assert len(notes) == 1
    body = notes[0]["body"]
    for line in ("@alice is now the CMOC", "@bob is now the SMOC", "@carol is now the IMOC"):
        assert line in body
    assert "Engage the" not in body  # the roles are engaged: when to engage them is no news
    marker = parse_note_marker(body)
    assert (marker["kind"], marker["role"], marker["user"]) == ("role", "cmoc,smoc,imoc", "alice,bob,carol")
    state = world.state(iid)
    assert (state.holder("cmoc"), state.holder("smoc"), state.holder("imoc")) == ("alice", "bob", "carol")
    # A rebuild reads the one reply as it read three.
    world.edit_issue(iid, description="Reported by customers.")
    world.comment(iid, "/incident status")
    state = world.state(iid)
    assert (state.holder("cmoc"), state.holder("smoc"), state.holder("imoc")) == ("alice", "bob", "carol")


def test_a_declare_that_assigns_roles_gets_the_update_and_one_internal_reply(world):
    iid = world.create_issue()
    world.comment(iid, "/incident declare sev1\n/incident cmoc me\n/incident imoc @carol")
    assert world.kinds(iid) == ["initial", "role"]
    initial, roles = world.bot_notes(iid)
    assert pasteable(initial["body"]) and initial["internal"] is False
    assert roles["internal"] is True
    assert "@alice is now the CMOC" in roles["body"] and "@carol is now the IMOC" in roles["body"]
    # Criteria only for the support role nobody holds yet.
    assert "Engage the SMOC" in roles["body"] and "Engage the CMOC" not in roles["body"]
    assert world.state(iid).holder("cmoc") == "alice"


def test_a_refused_role_in_the_comment_is_said_in_the_same_reply(world):
    iid = world.declare()
    before = len(world.bot_notes(iid))
    world.comment(iid, "/incident cmoc me\n/incident smoc @outsider")
    (note,) = world.bot_notes(iid)[before:]
    assert "@alice is now the CMOC" in note["body"] and "not a member" in note["body"]
    assert world.state(iid).holder("cmoc") == "alice" and world.state(iid).holder("smoc") is None


def test_releasing_names_who_released_whose_role_after_the_criteria(world):
    iid = world.declare()
    world.comment(iid, "/incident cmoc me\n/incident imoc @carol")
    world.comment(iid, "/incident cmoc release", who="bob")
    body = world.last_reply(iid)
    assert "@bob released @alice's CMOC role." in body and "release checklist" in body
    # The criteria are a checklist in the description, where the role holder can tick them (issue 14).
    assert "- [ ] Customer communication is stable" in world.issue(iid)["description"]
    world.comment(iid, "/incident imoc release", who="carol")
    body = world.last_reply(iid)
    assert "@carol released the IMOC role." in body and "- [ ]" not in body  # not a support role


def test_wording_counts_and_lists(world):
    assert format_duration(__import__("datetime").timedelta(hours=1, minutes=1)) == "1 hour 1 minute"
    iid = world.declare()
    world.comment(iid, "/incident resources\namer: 1\nemea: 3\n", who="bob")
    body = world.reply(iid, "resources")
    assert "- AMER: 1 engineer allocated" in body and "- EMEA: 3 engineers allocated" in body
    assert "- APAC: _not provided_ engineers allocated" in body
    out = Renderer().render("reminder_role_release.md.j2", incident={"iid": 1, "roles": {}}, mentions=[],
                            roles=["cmoc", "smoc", "imoc"], resolved="2026-12-01 10:00 UTC")
    assert "CMOC, SMOC and IMOC are still engaged" in out


def test_help_for_handoff_shows_the_region_in_its_example(world):
    iid = world.declare()
    world.comment(iid, "/incident help handoff")
    assert "/incident handoff amer\n" in world.last_reply(iid)


def test_help_on_a_postmortem_lists_the_postmortem_commands(world):
    _, pm_iid = resolved_incident(world)
    world.comment(pm_iid, "/incident help")
    body = world.last_reply(pm_iid)
    assert "on a postmortem" in body and "`/incident actions`" in body and "`/incident status`" in body
    assert "`/incident declare" not in body and "`/incident update" not in body


def test_the_executive_summary_shows_not_provided_for_empty_fields(world):
    iid = world.declare()
    world.comment(iid, "/incident exec\ncustomer_impact: High\nrevenue_impact: No\n")
    body = world.reply(iid, "exec")
    assert "- Customer impact: High - _not provided_" in body
    assert "- Revenue impact: No\n" in body  # the description is asked for only when it is Yes
    assert "- Reputation risk: _not provided_ - _not provided_" in body
    assert "- Communications: _not provided_ - _not provided_" in body
