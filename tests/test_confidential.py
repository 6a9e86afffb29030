"""Nothing confidential leaks (issue 12, item 6), through the sandbox over HTTP.

- Facts given in an internal note (ticket counts, handoffs) reach only internal notes and confidential
  issues: never a public issue's description (its table or its JSON state), a public reply, or the
  public postmortem.
- `incident-bot cadence` prints a confidential incident as `#iid (confidential)` only, in text and JSON.
- Logs and /metrics carry no person text.
"""

from __future__ import annotations

import json
from datetime import timedelta

import requests

from bot.cli import main
from bot.markers import parse_note_marker as parse_marker
from bot.timeutil import iso, utcnow

INTERNAL_ONLY = "_given in internal notes_"
# Figures nobody would write by accident: any occurrence is a leak.
SECRET_TICKETS, SECRET_HANDOFF_TICKETS = "4711", "4712"


def postmortem(world, iid: int) -> dict:
    return world.issue(world.state(iid).postmortem_iid)


def replies(world, iid: int, kind: str) -> list[dict]:
    return [n for n in world.bot_notes(iid) if parse_marker(n["body"])["kind"] == kind]


def other_region(world, iid: int) -> str:
    current = world.state(iid).region
    return next(r for r in ("amer", "emea", "apac") if r.upper() != current)


def internal_figures(world, iid: int) -> str:
    """An internal update and an internal handoff, each with a figure; returns the handoff's region."""
    world.comment(iid, f"/incident update\nsummary: narrowing\ntickets: {SECRET_TICKETS}\n", internal=True)
    region = other_region(world, iid)
    world.comment(iid, f"/incident handoff {region}\nactive_tickets: {SECRET_HANDOFF_TICKETS}\n", internal=True)
    return region


# -- internal notes on a public incident -----------------------------------------------------------------
def test_internal_figures_stay_out_of_a_public_incident(world):
    iid = world.declare(sev="sev2")
    internal_figures(world, iid)

    # The internal replies carry the figures: that is where they belong.
    (update,) = replies(world, iid, "update")
    (handoff,) = replies(world, iid, "handoff")
    assert update["internal"] and SECRET_TICKETS in update["body"]
    assert handoff["internal"] and SECRET_HANDOFF_TICKETS in handoff["body"]

    # The description (table and JSON state) holds no figure from them, and no handoff record.
    description = world.issue(iid)["description"]
    assert SECRET_TICKETS not in description and SECRET_HANDOFF_TICKETS not in description
    state = world.state(iid)
    assert state.tickets is None and state.peak_tickets is None
    assert all(set(h) == {"internal"} for h in state.handoffs) and len(state.handoffs) == 1
    assert state.update_count == 1  # the update itself counts (its time is no secret; its figures are)

    # A public status and a public update say the figures are internal, without them.
    world.comment(iid, "/incident status")
    status = replies(world, iid, "status")[-1]
    assert not status["internal"]
    assert SECRET_TICKETS not in status["body"] and SECRET_HANDOFF_TICKETS not in status["body"]
    assert f"Tickets last reported: {INTERNAL_ONLY}" in status["body"]
    world.comment(iid, "/incident update\nsummary: fix rolling out\n")
    public_update = replies(world, iid, "update")[-1]
    assert not public_update["internal"] and SECRET_TICKETS not in public_update["body"]
    assert f"Current ticket volume: {INTERNAL_ONLY}" in public_update["body"]

    # The public postmortem gets public figures only.
    world.comment(iid, "/incident resolve\nsummary: rolled back\n")
    pm = postmortem(world, iid)
    assert not pm["confidential"]
    body = pm["description"]
    assert SECRET_TICKETS not in body and SECRET_HANDOFF_TICKETS not in body
    assert f"highest ticket count reported during the incident: {INTERNAL_ONLY}" in body
    assert f"Regional handoffs: {INTERNAL_ONLY}" in body
    assert SECRET_TICKETS not in world.issue(iid)["description"]


def test_public_figures_still_show_beside_internal_ones(world):
    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident update\nsummary: first\ntickets: 12\n")
    region = internal_figures(world, iid)
    back = other_region(world, iid)
    world.comment(iid, f"/incident handoff {back}\n")  # a public handoff after the internal one
    state = world.state(iid)
    assert (state.tickets, state.peak_tickets) == (12, 12)  # the internal 4711 and 4712 are not the peak
    world.comment(iid, "/incident status")
    status = replies(world, iid, "status")[-1]["body"]
    assert "Tickets last reported: 12 (peak 12)" in status
    world.comment(iid, "/incident resolve\n")
    body = postmortem(world, iid)["description"]
    assert "(highest ticket count reported during the incident: 12)" in body
    assert SECRET_TICKETS not in body and SECRET_HANDOFF_TICKETS not in body
    handoffs = next(line for line in body.splitlines() if line.startswith("- Regional handoffs:"))
    assert f"{region.upper()} -> {back.upper()}" in handoffs and "1 more given in internal notes" in handoffs
    assert f"-> {region.upper()} at" not in handoffs  # the internal handoff's record stays out


def test_internal_figures_reach_a_confidential_incident_and_its_postmortem(world):
    iid = world.create_issue(confidential=True)
    world.comment(iid, "/incident declare sev2")
    region = internal_figures(world, iid)
    state = world.state(iid)
    assert (state.tickets, state.peak_tickets) == (int(SECRET_HANDOFF_TICKETS), int(SECRET_HANDOFF_TICKETS))
    assert state.handoffs[-1]["to"] == region.upper()
    world.comment(iid, "/incident resolve\n")
    pm = postmortem(world, iid)
    assert pm["confidential"]
    assert f"highest ticket count reported during the incident: {SECRET_HANDOFF_TICKETS}" in pm["description"]
    assert f"-> {region.upper()} at" in pm["description"]


# -- the scheduled job's output -----------------------------------------------------------------------------
def _cadence(world, monkeypatch, capsys, *args) -> str:
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    capsys.readouterr()
    code = main(["cadence", "--project", world.project["path_with_namespace"], "--now",
                 iso(utcnow().replace(microsecond=0) + _HOURS_LATER), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    world.settle()
    return out


_HOURS_LATER = timedelta(hours=3)  # every update overdue: the confidential incident has a reminder due


def test_cadence_prints_a_confidential_incident_as_its_number_only(world, monkeypatch, capsys):
    title = "Breach at Zyxwvut Corp"
    secret = world.create_issue(title=title, confidential=True)
    world.comment(secret, "/incident declare sev1\n/incident cmoc @bob")
    public = world.declare(world.create_issue(title="Slow dashboards"), sev="sev2")

    for args in (("--dry-run",), ("--dry-run", "--format", "json"), ("--format", "json"), ()):
        out = _cadence(world, monkeypatch, capsys, *args)
        assert "Zyxwvut" not in out and "Breach" not in out, args
        assert "@bob" not in out and '"bob"' not in out, args  # who holds a role is no one else's business
        if "json" in args:
            rows = {r["iid"]: r for r in json.loads(out)["incidents"]}
            assert rows[secret] == {"project": world.project["path_with_namespace"], "iid": secret,
                                    "confidential": True}
            assert rows[public]["title"] == "Slow dashboards" and rows[public]["confidential"] is False
        else:
            row = next(line for line in out.splitlines() if f"#{secret}" in line)
            assert row.split() == [world.project["path_with_namespace"], f"#{secret}", "(confidential)"]
    # The reminder itself was posted on the confidential incident (only the output is reduced).
    assert any(parse_marker(n["body"])["kind"] == "reminder" for n in world.bot_notes(secret))


# -- logs and /metrics ----------------------------------------------------------------------------------------
def test_logs_and_metrics_carry_no_person_text(world, captured_logs):
    marks = {"title": "Qwertzuiop outage", "summary": "Plughvoid summary", "progress": "Snorkelwrap step",
             "internal": "Grimblefax internal", "handoff": "Vexillium handoff", "mitigate": "Trundlequack",
             "resolve": "Blorptastic fix", "comment": "Zanzibarquux chatter", "bad": "Fnordwhistle"}
    iid = world.create_issue(title=marks["title"], description=f"Customers say {marks['comment']}.")
    world.comment(iid, f"/incident declare sev1\nsummary: {marks['summary']}\n")
    world.comment(iid, "/incident cmoc me")
    world.comment(iid, f"/incident update\nsummary: {marks['summary']}\nprogress:\n  - {marks['progress']}\n"
                       "tickets: 31\n")
    world.comment(iid, f"/incident update\nsummary: {marks['internal']}\n", internal=True)
    world.comment(iid, f"/incident handoff {other_region(world, iid)}\nsummary: {marks['handoff']}\n")
    world.comment(iid, f"/incident update\n{marks['bad']}: 1\n")  # an unknown field: an error reply
    world.comment(iid, f"Just talking: {marks['comment']}")
    world.comment(iid, f"/incident {marks['bad']}")  # an unknown command
    world.comment(iid, f"/incident mitigate\nsummary: {marks['mitigate']}\n")
    world.comment(iid, f"/incident resolve\nsummary: {marks['resolve']}\n")
    world.comment(iid, "/incident status", who="gus")  # a refusal
    assert world.state(iid).status == "resolved"
    assert any(marks["bad"] in n["body"] for n in world.bot_notes(iid))  # the person text did travel
    metrics = requests.get(world.bot.url + "/metrics", timeout=5).text
    assert "deliveries_received_total" in metrics
    logged = "\n".join(captured_logs).lower()
    assert "command update handled" in logged  # the records were captured
    for what, text in marks.items():
        word = text.split()[0]
        assert word.lower() not in logged, f"{what} text in the logs"
        assert word not in metrics, f"{what} text in /metrics"


# -- the pure parts ---------------------------------------------------------------------------------------------
def test_state_keeps_internal_facts_as_names_only():
    from bot.postmortem import support_summary
    from bot.state import IncidentState, read_block, render_block

    state = IncidentState()
    state.report_tickets(4711, internal_only=True)
    state.record_handoff("AMER", "EMEA", "2026-11-27T10:00:00Z", internal_only=True)
    state.report_tickets(None, internal_only=True)  # nothing given: nothing recorded
    assert (state.tickets, state.peak_tickets, state.internal_only) == (None, None, ["tickets"])
    block = render_block(state, "table", "k" * 32, "gid://1")
    assert "4711" not in block and "EMEA" not in block and "AMER" not in block
    again = read_block(block, "k" * 32, "gid://1")
    assert again.internal_only == ["tickets"] and again.handoffs == [{"internal": True}]
    summary = support_summary(again)
    assert summary["tickets_internal_only"] and summary["handoffs"] == [] and summary["handoffs_internal"] == 1
    again.report_tickets(7)  # a public figure shows beside the internal ones, and is the public peak
    assert (again.tickets, again.peak_tickets) == (7, 7) and not support_summary(again)["tickets_internal_only"]


def test_a_wrong_internal_only_is_refused():
    import json

    import pytest

    from bot.state import IncidentState

    for forged in (5, ["tickets", "title"], "tickets"):
        data = json.loads(json.dumps(IncidentState().to_json()))
        data["internal_only"] = forged
        with pytest.raises(ValueError, match="internal_only"):
            IncidentState.from_json(data)


# -- a confidential incident: every note comes as Confidential Note Hook (issue 14, item 6) ---------------
def test_on_a_confidential_incident_only_an_internal_note_gets_an_internal_reply(world):
    world.sb.store.note_hook_internal = False  # as hooks from 2023-2025 come: no `internal` at all
    iid = world.declare(world.create_issue(confidential=True), sev="sev2")
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident status")
    world.comment(iid, "/incident status", internal=True)
    sent = [d for d in world.sb.deliveries[start:] if d["payload"].get("object_kind") == "note"
            and d["payload"]["user"]["username"] == "alice"]
    assert [d["event"] for d in sent] == ["Confidential Note Hook"] * 2
    assert all("internal" not in d["payload"]["object_attributes"] for d in sent)
    assert [n["internal"] for n in replies(world, iid, "status")] == [False, True]
