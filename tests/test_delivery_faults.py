"""Exactly-once effect under real faults: GitLab errors, slow answers, replays, and a worker killed
with SIGKILL in the middle of a delivery. The bot runs for real; the sandbox injects the faults."""

import os
import signal
import time

import pytest
from world import World


@pytest.fixture
def fast_world(tmp_path):
    w = World(str(tmp_path), config_yaml="gitlab_timeout_seconds: 1\n")
    yield w
    w.close()


def note_count(world, iid, kind):
    return world.kinds(iid).count(kind)


def test_500_on_note_post_is_retried_and_posted_once(fast_world):
    w = fast_world
    iid = w.declare()
    w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=500, times=2, user="incident-bot")
    w.comment(iid, "/incident update\nsummary: retried\n")
    assert note_count(w, iid, "update") == 1 and w.state(iid).update_count == 1


def test_429_with_retry_after_is_honoured(fast_world):
    w = fast_world
    iid = w.declare()
    w.sb.inject_fault("PUT", r"/issues/\d+$", status=429, times=1, retry_after=1, user="incident-bot")
    started = time.monotonic()
    w.comment(iid, "/incident update\nsummary: rate limited\n")
    assert time.monotonic() - started >= 1.0
    assert note_count(w, iid, "update") == 1 and w.state(iid).update_count == 1
    puts = [c for c in w.sb.calls if c["method"] == "PUT" and c["user"] == "incident-bot"]
    assert [c["status"] for c in puts[-2:]] == [429, 200]


def test_timeout_after_gitlab_already_posted_does_not_post_twice(fast_world):
    """The slow answer still creates the note; the retry must find its marker and not post again."""
    w = fast_world
    iid = w.declare()
    w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=None, delay=1.5, times=1, user="incident-bot")
    w.comment(iid, "/incident update\nsummary: slow gitlab\n")  # settles once the slow POST is answered
    assert note_count(w, iid, "update") == 1 and w.state(iid).update_count == 1


def test_slow_answers_are_fine(fast_world):
    w = fast_world
    w.sb.latency = 0.3
    iid = w.declare()
    w.comment(iid, "/incident cmoc me")
    assert w.state(iid).holder("cmoc") == "alice"


def test_a_delivery_processed_twice_posts_each_note_once(world):
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: once\n/incident cmoc me")
    done = [d for d in world.bot.queue.list() if d["event"] == "Note Hook"]
    for d in done:
        assert world.bot.queue.replay(d["id"])
    world.settle()
    assert world.kinds(iid) == ["initial", "guidance", "update", "role"]
    assert world.state(iid).update_count == 1


@pytest.mark.deliveries_may_fail("a 403 fails the delivery on purpose, to be kept for replay")
def test_4xx_is_not_retried_and_the_delivery_is_kept_as_failed(fast_world):
    w = fast_world
    iid = w.declare()
    w.sb.inject_fault("PUT", r"/issues/\d+$", status=403, times=1, user="incident-bot")
    w.comment(iid, "/incident update\nsummary: forbidden\n")
    failed = [d for d in w.bot.queue.list() if d["status"] == "failed"]
    assert failed and "403" in failed[0]["last_error"]


def test_worker_killed_mid_delivery_then_restarted_posts_once(tmp_path):
    w = World(str(tmp_path))
    w.bot.queue.stop()  # the in-process workers step aside: a separate worker process does the work

    def start_worker():
        return w.worker_process(str(tmp_path))

    try:
        worker = start_worker()
        iid = w.create_issue()
        w.sb.wait_idle(10)
        # The note POST takes 3 s: the worker is killed while it waits for GitLab's answer.
        w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=None, delay=3.0, times=1,
                         user="incident-bot")
        w.gl("alice").projects.get(w.pid, lazy=True).issues.get(iid, lazy=True).notes.create(
            {"body": "/incident declare sev1"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                c["method"] == "POST" and c["user"] == "incident-bot" for c in w.sb.calls):
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(5)
        deadline = time.monotonic() + 10  # the slow POST completes on GitLab's side after the worker died
        while w.sb.in_flight:
            assert time.monotonic() < deadline, "the slow POST was never answered"
            time.sleep(0.02)
        worker = start_worker()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (w.state(iid) and w.state(iid).status == "active"):
            time.sleep(0.1)
        w.settle()
        assert w.state(iid).status == "active"
        assert w.kinds(iid) == ["initial", "guidance"]  # each posted once
    finally:
        worker.kill()
        w.sb.stop()


def test_a_note_create_answered_202_without_an_id_does_not_fail_the_delivery(fast_world):
    # lib/api/notes.rb: a note made only of quick actions is not kept; GitLab answers 202 with
    # {commands_changes, summary} and no id.
    w = fast_world
    iid = w.declare()
    w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=202, times=1, user="incident-bot")
    w.comment(iid, "/incident update\nsummary: swallowed\n")
    assert [r["status"] for r in w.bot.queue.list()][-1] == "done"
    assert w.state(iid).update_count == 1 and note_count(w, iid, "update") == 0
