"""`incident-bot cadence` end to end: the sandbox over HTTP, the command run in-process via bot.cli.main.

Incidents are declared through the bot, or their description blocks are written directly (as the bot
user, which the bot ignores), then the command runs at a fixed `--now`.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import cadence_check
from bot.cli import main
from bot.gitlab import GitLab
from bot.markers import parse_note_marker as parse_marker
from bot.state import IncidentState, Role, render_block, state_scope, write_block
from bot.statekey import ensure_state_key
from bot.timeutil import iso, utcnow
from sandbox import MAINTAINER

UTC = timezone.utc
SEC = timedelta(seconds=1)


def t(hh: int, mm: int = 0, ss: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


# -- helpers ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    """One sandbox and one bot for the module (each World costs threads and file descriptors)."""
    from world import World

    w = World(str(tmp_path_factory.mktemp("cadence")))
    yield w
    w.close()


@pytest.fixture
def world(shared_world):
    """The shared sandbox and bot, with a project of its own for this test (members and webhook alike)."""
    from world import PEOPLE, SECRET

    w = copy.copy(shared_world)
    sb = w.sb
    w.project = sb.add_project(f"support/cadence-{next(_PROJECTS)}")
    w.pid, w.path = w.project["id"], w.project["path_with_namespace"]
    sb.add_member(w.pid, w.bot_user["id"], MAINTAINER)
    for name, level in PEOPLE.items():
        sb.add_member(w.pid, w.users[name]["id"], level)
    sb.add_hook(w.pid, w.bot.webhook_url, token=SECRET)
    sb.reset_calls()
    yield w
    sb.clear_faults()  # a test's faults not taken (10 injected, 4 tried) must not fail the next test


_PROJECTS = itertools.count(1)


@pytest.fixture
def run(world, monkeypatch, capsys):
    """run(*args, now=...) -> (exit code, stdout, stderr); the bot user's token, the sandbox's URL."""
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))

    def _run(*args, now: datetime | str | None = None, project: str | None = None):
        argv = ["cadence", "--project", project or world.path, *args]
        if now is not None:
            argv += ["--now", now if isinstance(now, str) else iso(now)]
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        world.settle()  # let the bot's own webhook deliveries (which it ignores) pass
        return code, out, err

    return _run


def run_json(run, *args, now=None) -> dict:
    code, out, err = run("--format", "json", *args, now=now)
    assert code == 0, err
    return json.loads(out)


def roles(**holders) -> dict[str, Role]:
    return {role: Role(name) for role, name in holders.items() if name}


def put_incident(world, state: IncidentState, *, title: str = "Checkout errors", author: str = "alice",
                 closed: bool = False) -> int:
    """An issue by `author`, then the bot writes the block and labels (the bot ignores its own edits)."""
    issue = world.gl(author).projects.get(world.pid, lazy=True).issues.create(
        {"title": title, "description": "Customers report errors."})
    bot = world.gl("incident-bot").projects.get(world.pid, lazy=True).issues.get(issue.iid)
    bot.description = write_block(bot.description, render_block(state, "table", ensure_state_key(world.cfg),
                                                                 state_scope(bot.id)))
    bot.labels = ["incident", f"severity::{state.severity}", f"incident::{state.status}"]
    if closed:
        bot.state_event = "close"
    bot.save()
    world.settle()
    return issue.iid


def by_iid(report: dict, iid: int) -> dict:
    return next(r for r in report["incidents"] if r["iid"] == iid)


def bot_writes(world) -> int:
    return world.sb.count_calls(user="incident-bot")["writes"]


def reminder_notes(world, iid: int) -> list[dict]:
    return [n for n in world.bot_notes(iid) if (parse_marker(n["body"]) or {}).get("kind") == "reminder"]


def sev2_active(**kw) -> IncidentState:
    """Active SEV2, last update 10:00, next due 10:15 (15 min cadence, so escalation at 10:30)."""
    kw.setdefault("roles", roles(cmoc="alice"))
    kw.setdefault("next_update_due", t(10, 15))
    return IncidentState(status="active", severity=2, detected_at=t(9, 50), initial_update_at=t(10, 0),
                         last_update_at=t(10, 0), **kw)


# -- update overdue and escalation ----------------------------------------------------------------------
def test_overdue_boundary_one_second_before_and_exactly_due(world, run):
    iid = put_incident(world, sev2_active())
    world.sb.reset_calls()
    report = run_json(run, now=t(10, 14, 59))
    row = by_iid(report, iid)
    assert row["due"] == [] and row["reminded"] == []
    assert {"kind": "overdue", "reason": "next update due in 1s (2026-11-27 10:15 UTC)"} in row["skipped"]
    assert bot_writes(world) == 0 and reminder_notes(world, iid) == []

    report = run_json(run, now=t(10, 15))
    row = by_iid(report, iid)
    assert [d["kind"] for d in row["due"]] == ["overdue"] and row["reminded"] == ["overdue"]
    assert row["due"][0] == {"kind": "overdue", "key": "overdue:2026-11-27T10:15:00Z", "mentions": ["alice"]}
    notes = reminder_notes(world, iid)
    assert len(notes) == 1
    body = notes[0]["body"]
    assert body.startswith("@alice The status update for Incident #%d (SEV2) was due at 2026-11-27 10:15 UTC" % iid)
    assert "`/incident update`" in body
    assert parse_marker(body)["key"] == "overdue:2026-11-27T10:15:00Z"
    assert world.state(iid).reminders == {"overdue:2026-11-27T10:15:00Z": "2026-11-27T10:15:00Z"}
    assert world.issue(iid)["description"].endswith("Customers report errors.")  # text outside kept


def test_escalation_after_a_second_interval_goes_to_smoc(world, run):
    iid = put_incident(world, sev2_active(roles=roles(cmoc="alice", smoc="bob")))
    assert by_iid(run_json(run, now=t(10, 15)), iid)["reminded"] == ["overdue"]

    row = by_iid(run_json(run, now=t(10, 29, 59)), iid)
    assert row["due"] == []
    assert {"kind": "overdue", "reason": "already reminded at 2026-11-27T10:15:00Z"} in row["skipped"]
    assert any(s["kind"] == "escalation" and s["reason"].startswith("escalates in 1s") for s in row["skipped"])

    row = by_iid(run_json(run, now=t(10, 30)), iid)
    assert row["due"] == [{"kind": "escalation", "key": "escalation:2026-11-27T10:15:00Z",
                           "mentions": ["bob", "alice"]}]
    body = reminder_notes(world, iid)[-1]["body"]
    assert body.startswith("@bob @alice The status update for Incident")
    assert "Escalating to @bob." in body
    assert len(reminder_notes(world, iid)) == 2  # once when due, once escalated

    # Nobody posts: each further interval escalates again, once, however often the schedule runs.
    for now in (t(10, 44), t(10, 45), t(10, 45, 30), t(10, 59), t(11, 0)):
        run_json(run, now=now)
    keys = [parse_marker(n["body"])["key"] for n in reminder_notes(world, iid)]
    assert keys == ["overdue:2026-11-27T10:15:00Z", "escalation:2026-11-27T10:15:00Z",
                    "escalation:2026-11-27T10:15:00Z:2", "escalation:2026-11-27T10:15:00Z:3"]


def test_escalation_without_smoc_goes_to_the_cmoc_once_an_interval(world, run):
    iid = put_incident(world, sev2_active(roles=roles(cmoc="carol")), author="alice")
    row = by_iid(run_json(run, now=t(10, 30)), iid)
    # A late run sends only the current interval's note: the escalation, to the CMOC (no SMOC).
    assert [d["kind"] for d in row["due"]] == ["escalation"]
    assert row["due"][0]["mentions"] == ["carol"]
    notes = reminder_notes(world, iid)
    assert len(notes) == 1
    assert notes[0]["body"].startswith("@carol The status update")
    assert "Escalating" not in notes[0]["body"]
    assert parse_marker(notes[0]["body"])["key"] == "escalation:2026-11-27T10:15:00Z"
    assert set(world.state(iid).reminders) == {"escalation:2026-11-27T10:15:00Z"}


def test_mentions_cmoc_then_smoc_then_author(world, run):
    with_cmoc = put_incident(world, sev2_active(roles=roles(cmoc="carol", smoc="bob")))
    smoc_only = put_incident(world, sev2_active(roles=roles(smoc="bob")))
    nobody = put_incident(world, sev2_active(roles={}), author="rita")
    run_json(run, now=t(10, 15))
    assert reminder_notes(world, with_cmoc)[0]["body"].startswith("@carol ")
    assert reminder_notes(world, smoc_only)[0]["body"].startswith("@bob ")
    assert reminder_notes(world, nobody)[0]["body"].startswith("@rita ")


def no_handoff_reminders(monkeypatch, tmp_path) -> None:
    """For tests of other reminders on an incident declared now: its region's shift may end within the
    handoff lead at any time of day, or be over by the time of the check (handoffs have tests of their
    own, on a fixed clock). With no shift configured for it, its region is never reminded about."""
    config = tmp_path / "no-handoff.yml"
    config.write_text("handoff_lead_minutes: 0\nregions:\n  ALL: {start: '00:00', end: '00:00'}\n")
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(config))


def test_declared_through_the_bot_then_left_alone_is_reminded(world, run, monkeypatch, tmp_path):
    iid = world.declare(sev="sev1")  # 10 min cadence from now
    no_handoff_reminders(monkeypatch, tmp_path)
    state = world.state(iid)
    assert state.next_update_due is not None
    row = by_iid(run_json(run, now=state.next_update_due - SEC), iid)
    assert row["due"] == [] and row["severity"] == "SEV1" and row["status"] == "active"
    row = by_iid(run_json(run, now=state.next_update_due), iid)
    assert row["reminded"] == ["overdue"]
    assert reminder_notes(world, iid)[0]["body"].startswith("@alice ")  # the declarer (author), no CMOC
    assert world.state(iid).update_count == state.update_count  # the rest of the state is untouched
    assert world.kinds(iid) == ["initial", "guidance", "reminder"]


# -- response target --------------------------------------------------------------------------------
def test_response_target_boundaries_and_mentions(world, run):
    state = IncidentState(status="active", severity=1, detected_at=t(10, 0), next_update_due=t(12, 0),
                          roles=roles(cmoc="alice", smoc="bob"))
    iid = put_incident(world, state)
    row = by_iid(run_json(run, now=t(10, 14, 59)), iid)
    assert row["due"] == []
    assert any(s["kind"] == "response_target" and s["reason"].startswith("initial update target in 1s")
               for s in row["skipped"])
    row = by_iid(run_json(run, now=t(10, 15)), iid)
    assert row["due"] == [{"kind": "response_target", "key": "response_target", "mentions": ["bob"]}]
    body = reminder_notes(world, iid)[0]["body"]
    assert "was detected at 2026-11-27 10:00 UTC and has no status update yet" in body
    assert "the response target is 15 minutes" in body


# -- regional handoff -----------------------------------------------------------------------------------
def test_handoff_for_a_shift_crossing_midnight(world, run):
    # APAC is 23:00-07:00 UTC by default; the reminder comes 30 min before the shift ends.
    state = sev2_active(region="APAC", next_update_due=t(12, 0, day=28))
    iid = put_incident(world, state)
    row = by_iid(run_json(run, now=t(23, 10)), iid)  # the shift started 10 min ago: ends tomorrow 07:00
    assert {"kind": "handoff", "reason": "APAC shift ends in 7h50m (2026-11-28 07:00 UTC)"} in row["skipped"]
    row = by_iid(run_json(run, now=t(6, 29, 59, day=28)), iid)
    assert row["due"] == []
    row = by_iid(run_json(run, now=t(6, 30, day=28)), iid)
    assert row["due"] == [{"kind": "handoff", "key": "handoff:APAC:2026-11-28T07:00:00Z", "mentions": ["alice"]}]
    body = reminder_notes(world, iid)[0]["body"]
    assert "The APAC shift ends at 2026-11-28 07:00 UTC" in body and "`/incident handoff emea`" in body
    # Once per shift: later in the same shift, nothing new.
    row = by_iid(run_json(run, now=t(6, 59, 59, day=28)), iid)
    assert row["due"] == [] and any("already reminded" in s["reason"] for s in row["skipped"])
    assert len(reminder_notes(world, iid)) == 1


def test_handoff_lead_window_crossing_midnight_with_custom_shifts(world, run, tmp_path):
    config = tmp_path / "cadence.yml"
    config.write_text('regions:\n  NIGHT: {start: "16:00", end: "00:10"}\n  DAY: {start: "00:10", end: "16:00"}\n')
    iid = put_incident(world, sev2_active(region="NIGHT", next_update_due=t(12, 0, day=29)))
    row = by_iid(run_json(run, "--config", str(config), now=t(23, 39, 59)), iid)
    assert row["due"] == []
    row = by_iid(run_json(run, "--config", str(config), now=t(23, 40)), iid)
    assert row["due"][0]["key"] == "handoff:NIGHT:2026-11-28T00:10:00Z"
    assert "`/incident handoff day`" in reminder_notes(world, iid)[0]["body"]
    row = by_iid(run_json(run, "--config", str(config), now=t(0, 5, day=28)), iid)  # past midnight, same shift
    assert row["due"] == [] and len(reminder_notes(world, iid)) == 1


# -- role release (closed issues) and stale mitigation ---------------------------------------------------
def test_role_release_a_day_after_resolution_on_the_closed_issue(world, run):
    resolved = utcnow().replace(microsecond=0) - timedelta(hours=1)
    state = IncidentState(status="resolved", severity=2, detected_at=resolved - timedelta(hours=2),
                          resolved_at=resolved, roles=roles(cmoc="alice", smoc="bob"))
    iid = put_incident(world, state, closed=True)
    assert world.issue(iid)["state"] == "closed"
    row = by_iid(run_json(run, now=resolved + timedelta(hours=24) - SEC), iid)
    assert row["open"] is False and row["due"] == []
    row = by_iid(run_json(run, now=resolved + timedelta(hours=24)), iid)
    assert row["due"] == [{"kind": "role_release", "key": "role_release", "mentions": ["alice", "bob"]}]
    body = reminder_notes(world, iid)[0]["body"]
    assert body.startswith("@alice @bob Incident #%d was resolved at" % iid) and "CMOC and SMOC are still" in body
    assert world.issue(iid)["state"] == "closed"  # the reminder does not reopen it


def test_stale_mitigation_after_24_hours(world, run):
    state = IncidentState(status="mitigated", severity=2, detected_at=t(8, 0), initial_update_at=t(8, 10),
                          last_update_at=t(10, 0), mitigated_at=t(10, 0), next_update_due=t(12, 0, day=28),
                          roles=roles(cmoc="alice"))
    iid = put_incident(world, state)
    row = by_iid(run_json(run, now=t(9, 59, 59, day=28)), iid)
    assert row["due"] == []
    assert any(s["kind"] == "stale_mitigation" and "nudge in 1s" in s["reason"] for s in row["skipped"])
    row = by_iid(run_json(run, now=t(10, 0, day=28)), iid)
    assert row["due"] == [{"kind": "stale_mitigation", "key": "stale_mitigation", "mentions": ["alice"]}]
    assert "has been mitigated since 2026-11-27 10:00 UTC" in reminder_notes(world, iid)[0]["body"]


# -- idempotency, dry run, call budget ------------------------------------------------------------------
def test_second_run_at_the_same_now_writes_nothing(world, run):
    due = [put_incident(world, sev2_active()) for _ in range(3)]
    quiet = put_incident(world, sev2_active(next_update_due=t(11, 0)))
    world.sb.reset_calls()
    code, out, err = run(now=t(10, 15))
    assert code == 0, err
    # Reads: GET /user and the token's scopes (the start check), the open and the closed incident
    # listings and the follow-up listing, and one fresh read per incident with something due. Writes: block + note per reminded incident. (The bot ignores the
    # webhooks these cause without a call.)
    assert world.sb.count_calls(user="incident-bot") == {"reads": 2 + 3 + 3, "writes": 2 * 3}
    assert world.sb.count_calls(user="incident-bot", kind=r"/issues/\d+$") == {"reads": 3, "writes": 3}
    assert world.sb.count_calls(user="incident-bot", kind=r"/notes$") == {"reads": 0, "writes": 3}
    assert "Posted: 3 notes holding 3 reminders" in out
    world.sb.reset_calls()
    code, out, err = run(now=t(10, 15))
    assert code == 0, err
    assert world.sb.count_calls(user="incident-bot") == {"reads": 2 + 3, "writes": 0}
    assert "Posted: 0 notes" in out and out.count("already reminded at 2026-11-27T10:15:00Z") == 3
    assert all(len(reminder_notes(world, iid)) == 1 for iid in due) and reminder_notes(world, quiet) == []


def test_dry_run_changes_nothing_and_prints_the_text(world, run):
    iid = put_incident(world, sev2_active(roles=roles(cmoc="carol")))
    before = world.issue(iid)
    world.sb.reset_calls()
    code, out, err = run("--dry-run", now=t(10, 15))
    assert code == 0, err
    assert world.sb.count_calls(user="incident-bot") == {"reads": 2 + 3, "writes": 0}
    assert world.issue(iid) == before and reminder_notes(world, iid) == []
    assert "dry run: nothing was changed" in out
    assert "    due      overdue: to @carol" in out
    assert f"      | @carol The status update for Incident #{iid} (SEV2) was due at 2026-11-27 10:15 UTC" in out
    assert "Dry run: 1 notes would be posted; nothing was written." in out

    report = run_json(run, "--dry-run", now=t(10, 15))
    row = by_iid(report, iid)
    assert report["dry_run"] is True and row["reminded"] == [] and row["note"].startswith("@carol ")
    assert world.issue(iid) == before
    # And a real run afterwards still posts it.
    assert by_iid(run_json(run, now=t(10, 15)), iid)["reminded"] == ["overdue"]


def test_text_table_lists_due_reminded_and_skipped(world, run):
    iid = put_incident(world, sev2_active())
    code, out, err = run(now=t(10, 15))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "incident-bot cadence at 2026-11-27 10:15 UTC"
    assert lines[2].split() == ["PROJECT", "ISSUE", "SEV", "STATUS", "DUE", "REMINDED"]
    row = next(line for line in lines if line.startswith(world.path))
    assert row.split() == [world.path, f"#{iid}", "SEV2", "active", "overdue", "overdue"]
    assert "    skipped  response_target: initial update posted at 2026-11-27 10:00 UTC" in out
    assert "    skipped  stale_mitigation, role_release: " not in out  # different reasons stay apart
    assert "Checked 1 incidents in 1 project(s): 1 open, 0 recently closed" in out


def test_json_output_shape(world, run):
    due = put_incident(world, sev2_active())
    issue = world.gl("incident-bot").projects.get(world.pid, lazy=True).issues.create(
        {"title": "labelled by hand", "labels": "incident"})  # no block
    world.settle()
    report = run_json(run, now=t(10, 15))
    assert set(report) == {"now", "dry_run", "projects", "summary", "api_calls", "incidents", "errors"}
    assert report["now"] == "2026-11-27T10:15:00Z" and report["projects"] == [world.path] and report["errors"] == []
    assert report["summary"] == {"incidents_checked": 2, "open": 2, "closed": 0, "reminders_due": 1,
                                 "incidents_due": 1, "reminders_posted": 1, "notes_posted": 1,
                                 "skipped_checks": report["summary"]["skipped_checks"], "rebuilt": 0, "errors": 0}
    assert report["api_calls"] == {"listing": 3, "reads": 1, "writes": 2}
    row = by_iid(report, due)
    assert set(row) == {"project", "iid", "title", "open", "web_url", "severity", "status", "due", "reminded",
                        "skipped", "note", "rebuilt", "error", "confidential"}
    assert row["title"] == "Checkout errors" and row["web_url"].endswith(f"/issues/{due}")
    assert {s["kind"] for s in row["skipped"]} == {"escalation", "response_target", "handoff", "stale_mitigation",
                                                   "role_release"}
    plain = by_iid(report, issue.iid)
    assert plain["severity"] is None and plain["due"] == []
    assert plain["skipped"] == [{"kind": "all", "reason": "no incident-bot block (not declared through the bot)"}]


# -- races and failures -----------------------------------------------------------------------------------
def test_incident_updated_after_the_listing_is_not_overwritten(world, monkeypatch):
    """The block is read again right before writing: a command handled meanwhile is kept."""
    from bot.cadence_check import check_issue
    from bot.cadence_report import Report
    from bot.config import load_config
    from bot.render import Renderer

    iid = world.declare(sev="sev2")
    due = world.state(iid).next_update_due
    gl = GitLab(world.sb.url, world.bot_user["token"])
    listed = next(i for i in gl.iter_issues(world.pid, ["incident"]) if i.iid == iid)
    world.comment(iid, "/incident update\nsummary: rolled back\nnext: 60m\n")  # handled after our listing
    assert world.state(iid).update_count == 1
    cfg = load_config(env={"GITLAB_URL": world.sb.url, "GITLAB_TOKEN": world.bot_user["token"],
                           "INCIDENT_BOT_STATE_KEY": ensure_state_key(world.cfg)})
    cfg.data["handoff_lead_minutes"] = 0  # declared now: a shift may end within the lead (see above)
    row = check_issue(gl, cfg, Renderer(), listed, world.path, due, dry_run=False, open_=True,
                      report=Report(due, False, [world.path]))
    world.settle()
    assert row.reminded == [] and row.error is None
    assert {"kind": "overdue", "reason": "no longer due: the incident changed since the listing"} in row.skipped
    assert world.state(iid).update_count == 1 and reminder_notes(world, iid) == []


def test_refused_note_is_taken_back_out_of_the_block_and_retried(world, run):
    iid = put_incident(world, sev2_active())
    world.sb.inject_fault(method="POST", path_regex=r"/issues/\d+/notes$", status=403, times=1)
    code, out, err = run("--format", "json", now=t(10, 15))
    assert code == 0, err
    row = by_iid(json.loads(out), iid)
    assert row["reminded"] == [] and "note refused" in row["error"] and "next run will try again" in row["error"]
    assert world.state(iid).reminders == {} and reminder_notes(world, iid) == []
    assert by_iid(run_json(run, now=t(10, 15)), iid)["reminded"] == ["overdue"]
    assert len(reminder_notes(world, iid)) == 1


def test_listing_retried_after_a_server_error(world, run, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(cadence_check, "sleep", waits.append)  # the wait is asked for, not spent
    iid = put_incident(world, sev2_active())
    world.sb.inject_fault(method="GET", path_regex=r"/projects/[^/]+/issues$", status=502, times=1)
    assert by_iid(run_json(run, now=t(10, 15)), iid)["reminded"] == ["overdue"]
    assert waits == [1]  # 2 ** 0 seconds before the second try


def test_listing_waits_as_long_as_gitlab_says_then_gives_up(world, run, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(cadence_check, "sleep", waits.append)
    put_incident(world, sev2_active())
    world.sb.inject_fault(method="GET", path_regex=r"/projects/[^/]+/issues$", status=429,
                          times=cadence_check.MAX_TRIES, retry_after=7)  # all used up: none left for the next test
    code, out, err = run(now=t(10, 15))
    assert code == 1 and "429" in err
    assert waits == [7, 7, 7]  # GitLab's Retry-After each time, MAX_TRIES - 1 waits, then the run stops


def test_unknown_project_is_reported_and_exits_non_zero(world, run):
    code, out, err = run(now=t(10, 15), project="support/nope")
    assert code == 1
    assert "support/nope: cannot list incidents: GitLab answered 404" in err


# -- exit codes without a sandbox --------------------------------------------------------------------
def test_unreachable_gitlab_exits_non_zero_with_a_clear_message(monkeypatch, capsys):
    monkeypatch.setenv("GITLAB_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("GITLAB_TOKEN", "x")
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    code = main(["cadence", "--project", "g/p", "--now", "2026-11-27T10:00:00Z"])
    err = capsys.readouterr().err
    assert code == 1
    assert "GitLab at http://127.0.0.1:1 could not be used: GitLab could not be reached" in err
    assert "nothing was checked" in err


def test_invalid_yaml_config_exits_non_zero(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("projects: [unclosed\n")
    monkeypatch.setenv("GITLAB_TOKEN", "x")
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(bad))
    assert main(["cadence", "--project", "g/p"]) == 2
    assert "invalid configuration: config file" in capsys.readouterr().err
    bad.write_text("cadense: {}\n")
    assert main(["cadence", "--config", str(bad)]) == 2
    assert "unknown setting 'cadense'" in capsys.readouterr().err


def test_missing_token_projects_and_bad_now_exit_2(monkeypatch, capsys):
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    assert main(["cadence", "--project", "g/p"]) == 2
    assert "GITLAB_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("GITLAB_TOKEN", "x")
    assert main(["cadence"]) == 2
    assert "no projects" in capsys.readouterr().err
    assert main(["cadence", "--project", "g/p", "--now", "yesterday"]) == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err


def test_rejected_token_exits_non_zero(world, run, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", "not-a-token")
    code, out, err = run(now=t(10, 15))
    # Refused at the start check, in one line, before any listing.
    assert code == 2 and "refused the token at GET /user (GitLab answered 401" in err and len(err.splitlines()) == 1


def test_overdue_follow_up_gets_one_reminder_a_day_to_its_owner(world, run):
    project = world.gl("incident-bot").projects.get(world.pid, lazy=True)
    overdue = project.issues.create({"title": "Add a runbook", "labels": "postmortem::action",
                                     "assignee_ids": [world.users["carol"]["id"]], "due_date": "2026-11-26",
                                     "description": "Follow-up of postmortem #9."})
    due_today = project.issues.create({"title": "Not yet", "labels": "postmortem::action",
                                       "assignee_ids": [world.users["carol"]["id"]], "due_date": "2026-11-27"})
    unowned = project.issues.create({"title": "Nobody", "labels": "postmortem::action", "due_date": "2026-11-01"})
    world.settle()
    world.sb.reset_calls()
    code, out, err = run(now=t(10, 0))
    assert code == 0, err
    notes = [n for n in world.sb.notes(world.pid, overdue.iid) if not n["system"]]
    assert len(notes) == 1 and notes[0]["body"].startswith("@carol ")
    assert "was due on 2026-11-26" in notes[0]["body"]
    assert world.issue(overdue.iid)["description"].startswith("Follow-up of postmortem #9.")
    assert [n for n in world.sb.notes(world.pid, due_today.iid) if not n["system"]] == []
    assert "no owner to remind" in out and [n for n in world.sb.notes(world.pid, unowned.iid)
                                             if not n["system"]] == []
    world.sb.reset_calls()
    run(now=t(18, 0))  # the same day: nothing
    assert world.sb.count_calls(user="incident-bot")["writes"] == 0
    run(now=t(9, 0, day=28))  # the next day: one more
    assert len([n for n in world.sb.notes(world.pid, overdue.iid) if not n["system"]]) == 2
