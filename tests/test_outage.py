"""GitLab down, or refusing the bot's token (issue 14, item 3): deliveries wait it out for
`queue.outage_retry_minutes`, /healthz and /metrics say so, and a command the bot gives up on gets one
note saying it was not carried out, once GitLab answers again. Through the sandbox over HTTP."""

from __future__ import annotations

import pytest
import requests
from queue_backends import wait_for

from bot import gitlab_health
from bot.markers import parse_note_marker as parse_marker

NO_WAIT = {"obey_rate_limit": False, "max_retries": 0}


@pytest.fixture(autouse=True)
def _fresh_health():
    gitlab_health.reset()
    yield
    gitlab_health.reset()


def post(w, who: str, iid: int, body: str):
    """A comment, without waiting for the bot to settle (it is waiting for GitLab)."""
    return w.gl(who).projects.get(w.pid, lazy=True).issues.get(iid, lazy=True).notes.create({"body": body}, **NO_WAIT)


def gitlab_down(w) -> None:
    """Every call the bot makes is answered 502, as behind a proxy while GitLab restarts."""
    w.sb.inject_fault(None, r".", status=502, times=None, user="incident-bot")


def row(w, event: str = "Note Hook") -> dict | None:
    rows = [r for r in w.bot.queue.list() if r["event"] == event]
    return rows[-1] if rows else None


def health(w) -> dict:
    return requests.get(w.bot.url + "/healthz", timeout=5).json()


def gauge(w, name: str) -> float:
    text = requests.get(w.bot.url + "/metrics", timeout=5).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def not_carried_out(w, iid: int) -> list[dict]:
    return [n for n in w.bot_notes(iid) if parse_marker(n["body"])["kind"] == "not-carried-out"]


def test_an_outage_longer_than_max_retries_is_waited_out(make_world):
    # max_retries 1 with the World's fast backoff: before, the delivery was dead after 2 tries (< 1 s).
    w = make_world()
    w.bot.queue.settings.update(max_retries=1, outage_retry_minutes=1)
    iid = w.declare(sev="sev2")
    gitlab_down(w)
    post(w, "alice", iid, "/incident update\nsummary: waiting on GitLab\n")
    wait_for(lambda: (r := row(w)) and r["status"] == "retrying" and r["attempts"] >= 5, what="5 tries")
    assert health(w)["status"] == "degraded" and "unreachable" in health(w)["checks"]["gitlab"]
    assert gauge(w, "gitlab_up") == 0
    w.sb.clear_faults()
    w.settle()
    assert row(w)["status"] == "done" and w.kinds(iid).count("update") == 1
    assert health(w)["status"] == "ok" and health(w)["checks"]["gitlab"] == "ok" and gauge(w, "gitlab_up") == 1
    assert not_carried_out(w, iid) == []


def test_a_command_given_up_on_gets_one_note_once_gitlab_answers(make_world):
    w = make_world()
    w.bot.queue.settings.update(outage_retry_minutes=0.01)  # gives up after 0.6 s
    iid = w.declare(sev="sev2")
    gitlab_down(w)
    note = post(w, "alice", iid, "/incident update\nsummary: lost\n")
    dead = wait_for(lambda: (r := row(w)) and r["status"] == "dead" and r, what="the delivery to die")
    assert dead["last_error"].startswith("[outage x")
    wait_for(lambda: (r := row(w, "Failure Notice")) and r["attempts"] >= 2, what="the notice to wait")
    assert not_carried_out(w, iid) == []  # GitLab is still down: nothing can be said yet
    w.sb.clear_faults()
    w.settle()
    (notice,) = not_carried_out(w, iid)
    assert "was not carried out" in notice["body"] and f"#note_{note.id}" in notice["body"]
    assert "could not be reached" in notice["body"] and f"deliveries replay {dead['id']}" in notice["body"]
    assert not notice["internal"] and w.kinds(iid).count("update") == 0
    # Replayed (as the note says), it runs: and no second notice.
    w.bot.queue.replay(dead["id"])
    w.settle()
    assert w.kinds(iid).count("update") == 1 and len(not_carried_out(w, iid)) == 1


@pytest.mark.deliveries_may_fail("the refused token makes the command fail; the test checks the note saying so")
def test_a_refused_token_is_degraded_and_said_on_the_issue_once_it_works(make_world):
    w = make_world()
    iid = w.declare(sev="sev2")
    token = w.bot_user["token"]
    with w.sb.lock:
        del w.sb.store.tokens[token]  # revoked (or expired)
    post(w, "alice", iid, "/incident update\nsummary: token\n")
    wait_for(lambda: (r := row(w)) and r["status"] == "failed", what="the delivery to fail")
    wait_for(lambda: (r := row(w, "Failure Notice")) and r["status"] == "retrying", what="the notice to wait")
    assert "token" in health(w)["checks"]["gitlab"] and gauge(w, "gitlab_token_accepted") == 0
    with w.sb.lock:
        w.sb.store.tokens[token] = w.bot_user["id"]  # a working token again
    w.settle()
    (notice,) = not_carried_out(w, iid)
    assert "refused the bot's access token (401)" in notice["body"]
    assert health(w)["status"] == "ok" and health(w)["checks"]["gitlab"] == "ok" and gauge(w, "gitlab_token_accepted") == 1


@pytest.mark.deliveries_may_fail("the command is given up on by design; the test checks the internal notice")
def test_an_internal_command_given_up_on_is_answered_internally(make_world):
    w = make_world()
    w.bot.queue.settings.update(outage_retry_minutes=0.01)
    iid = w.declare(sev="sev2")
    w.sb.inject_fault("POST", r"/notes$", status=503, times=None, user="incident-bot")
    w.gl("alice").projects.get(w.pid, lazy=True).issues.get(iid, lazy=True).notes.create(
        {"body": "/incident status", "internal": True}, **NO_WAIT)
    wait_for(lambda: (r := row(w, "Confidential Note Hook")) and r["status"] == "dead", what="the delivery to die")
    wait_for(lambda: row(w, "Failure Notice"), what="the notice")
    w.sb.clear_faults()
    w.settle()
    (notice,) = not_carried_out(w, iid)
    assert notice["internal"]


def test_a_command_replayed_before_gitlab_answers_gets_no_notice(make_world):
    w = make_world()
    w.bot.queue.settings.update(outage_retry_minutes=0.01)
    iid = w.declare(sev="sev2")
    gitlab_down(w)
    post(w, "alice", iid, "/incident update\nsummary: replayed early\n")
    dead = wait_for(lambda: (r := row(w)) and r["status"] == "dead" and r, what="the delivery to die")
    wait_for(lambda: row(w, "Failure Notice"), what="the notice")
    # No attempt of the notice in flight while the operator replays (one that began before the replay
    # and met GitLab back would still post: see the closing note); then the replayed delivery, older,
    # heads the lane and the notice finds it no longer given up on.
    w.bot.queue.stop()
    assert w.bot.queue.replay(dead["id"])  # an operator replays it while GitLab is still down
    w.bot.queue.settings.update(outage_retry_minutes=1)
    w.sb.clear_faults()
    w.bot.queue.start_workers()
    w.settle()
    assert w.kinds(iid).count("update") == 1 and not_carried_out(w, iid) == []
    assert row(w, "Failure Notice")["status"] == "done"


def test_no_answer_at_all_counts_as_unreachable():
    # A real refused connection (the discard port), not an injected answer.
    from bot.gitlab import GitLab, RetryableGitLabError

    with pytest.raises(RetryableGitLabError, match="could not be reached"):
        GitLab("http://127.0.0.1:9", "glpat-x", timeout=2).current_user()
    assert not gitlab_health.reachable() and "ConnectionError" in gitlab_health.problems()[0]
    gitlab_health.observe_answer(404)  # any answer below 500 means GitLab is serving again
    assert gitlab_health.problems() == []


def test_a_notice_says_why_without_a_bugs_message():
    from bot.failure_notice import reason

    assert "access token (401)" in reason("failed", "PermanentError: GitLab answered 401: 401 Unauthorized")
    assert "could not be reached" in reason("dead", "[outage x9] RetryableError: GitLab answered 502: Bad Gateway")
    assert "403" in reason("failed", "PermanentError: GitLab answered 403: 403 Forbidden")
    assert reason("dead", "KeyError: 'secret person text'") == "the bot kept failing on it (its log says why)"
