"""People edit the incident while the bot is in the middle of a delivery (issue 14, item 2).

GitLab has no conditional update: `description`, `assignee_ids` (and `labels`) replace what is there.
Each test makes one of the bot's calls slow, lets a person edit the issue while it waits, and checks
that the person's edit, assignee and label are still there once the bot is done, beside its current
block.
"""

from __future__ import annotations

import pytest
from queue_backends import wait_for
from world import World

SLOW = 1.0  # seconds the bot's slow call waits; the person's edit starts once it has begun


def comment_without_waiting(w: World, iid: int, body: str, who: str = "alice") -> None:
    w.gl(who).projects.get(w.pid, lazy=True).issues.get(iid, lazy=True).notes.create({"body": body})


def edit_now(w: World, iid: int, who: str = "alice", *, append: str = "", assign: int | None = None,
             label: str | None = None, rewrite=None) -> None:
    """A person's edit through the API, sent at once (no waiting for the bot)."""
    issue = w.gl(who).projects.get(w.pid, lazy=True).issues.get(iid)
    if rewrite:
        issue.description = rewrite(issue.description)
    if append:
        issue.description = issue.description + append
    if assign is not None:
        issue.assignee_ids = [a["id"] for a in issue.assignees] + [assign]
    if label:
        issue.labels = list(issue.labels) + [label]
    issue.save()


def while_bot_waits(w: World, method: str, path: str, start, edit) -> None:
    """Slow the bot's next `method path` call, start its work, edit while that call waits, then settle."""
    w.sb.inject_fault(method, path, status=None, delay=SLOW, user="incident-bot")
    start()
    wait_for(lambda: w.sb.pending_faults() == 0)  # the bot's call has begun and is waiting
    edit()
    w.settle()
    stuck = [d for d in w.bot.queue.list() if d["status"] != "done"]
    assert not stuck, stuck  # nothing dead, failed or still retrying


def assignees(w: World, iid: int) -> list[str]:
    return [a["username"] for a in w.issue(iid)["assignees"]]


@pytest.fixture
def premium(tmp_path):
    w = World(str(tmp_path), assignee_limit=None)
    yield w
    w.close()


def test_edit_during_a_slow_update_survives_beside_the_current_block(world):
    w = world
    iid = w.declare(sev="sev2")
    added = "\n\nTimeline: customer acme confirmed at 14:02."
    carol = w.users["carol"]["id"]
    while_bot_waits(w, "POST", r"/issues/\d+/notes$",
                    lambda: comment_without_waiting(w, iid, "/incident update\nsummary: cache narrowed\n"),
                    lambda: edit_now(w, iid, append=added, assign=carol, label="customer::acme"))
    issue = w.issue(iid)
    assert issue["description"].endswith(added)
    assert w.state(iid).update_count == 1  # the block is the one this update wrote
    assert assignees(w, iid) == ["carol"]
    assert "customer::acme" in issue["labels"]
    # The next command keeps the person's assignee (no role holder to put first) and text.
    w.comment(iid, "/incident update\nsummary: still narrowing\n")
    assert w.state(iid).update_count == 2
    assert assignees(w, iid) == ["carol"] and w.issue(iid)["description"].endswith(added)


def test_hand_assigned_person_is_kept_and_former_role_holders_go(premium):
    w = premium
    iid = w.declare(sev="sev2")
    w.comment(iid, "/incident cmoc @bob")
    alice = w.users["alice"]["id"]
    while_bot_waits(w, "POST", r"/issues/\d+/notes$",
                    lambda: comment_without_waiting(w, iid, "/incident smoc @carol"),
                    lambda: edit_now(w, iid, assign=alice))
    assert w.state(iid).holder("smoc") == "carol"
    assert assignees(w, iid)[:2] == ["bob", "carol"] and set(assignees(w, iid)) == {"bob", "carol", "alice"}
    w.comment(iid, "/incident cmoc release")
    assert set(assignees(w, iid)) == {"carol", "alice"}  # bob held a role and released it: unassigned


def test_free_keeps_the_cmoc_first_without_a_retry(world):
    """GitLab Free keeps the first assignee and says nothing: one PUT, the CMOC assigned."""
    w = world
    iid = w.declare(sev="sev2")
    edit_now(w, iid, assign=w.users["alice"]["id"])
    w.settle()
    w.sb.reset_calls()
    w.comment(iid, "/incident cmoc @bob")
    assert assignees(w, iid) == ["bob"]
    assert w.sb.count_calls(user="incident-bot", kind=r"/issues/\d+$")["writes"] == 1


def test_postmortem_edit_while_the_bot_links_an_action_item_survives(world):
    w = world
    iid = w.declare(sev="sev2")
    w.comment(iid, "/incident resolve\nsummary: fixed\n")
    pm = w.state(iid).postmortem_iid
    assert pm
    section = "### Follow-up Actions\n"
    item = "- [ ] Add a runbook for the cache @bob due:2030-01-15\n"
    added = "\n\nReview notes: owner agreed in the retro."
    assert section in w.issue(pm)["description"]
    while_bot_waits(w, "POST", r"/projects/\d+/issues$",
                    lambda: edit_now(w, pm, rewrite=lambda text: text.replace(section, section + item, 1)),
                    lambda: edit_now(w, pm, append=added))
    text = w.issue(pm)["description"]
    assert text.endswith(added)
    followups = [i for i in w.sb.issues(w.pid) if "postmortem::action" in i["labels"]]
    assert len(followups) == 1
    assert f"#{followups[0]['iid']}" in text


def test_overdue_follow_up_reminder_keeps_an_edit_made_after_the_listing(world):
    """The cadence job marks an overdue follow-up in its description: on the issue as it is now, not as
    the listing (minutes old on a large project) showed it."""
    from datetime import UTC, datetime

    from bot.cadence_check import check_followup
    from bot.cadence_report import Report, Row
    from bot.gitlab import GitLab
    from bot.render import Renderer

    w = world
    project = w.gl("incident-bot").projects.get(w.pid, lazy=True)
    made = project.issues.create({"title": "Add a runbook", "labels": "postmortem::action",
                                  "assignee_ids": [w.users["carol"]["id"]], "due_date": "2026-11-26",
                                  "description": "Follow-up of postmortem #9."})
    w.settle()
    gl = GitLab(w.sb.url, w.bot_user["token"])
    (listed,) = [i for i in gl.iter_issues(w.pid, ["postmortem::action"]) if i.iid == made.iid]
    added = "\n\nBlocked on the vendor, see ticket 4411."
    edit_now(w, made.iid, who="carol", append=added)
    w.settle()
    now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    row = Row("support/incidents", listed.iid, listed.title, True)
    check_followup(gl, Renderer(), listed, row, now, dry_run=False, report=Report(now, False, ["support/incidents"]))
    w.settle()
    assert row.reminded == ["action_overdue"] and row.error is None
    text = w.issue(made.iid)["description"]
    assert text.startswith("Follow-up of postmortem #9.") and added in text
