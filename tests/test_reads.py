"""What one attempt of a command reads from GitLab, and when (issue 13, "replies as fast as GitLab allows").

Deliveries are processed by hand (`World.process`) so each test sees one attempt, first or retry.
"""

from __future__ import annotations

import pytest

from bot.access import AccessCache
from bot.gitlab import RetryableGitLabError
from sandbox import DEVELOPER


def bot_calls(world):
    with world.sb.lock:
        return [c for c in world.sb.calls if c["user"] == "incident-bot"]


def test_a_command_reads_issue_note_and_level_at_once_then_replies_then_writes(world):
    iid = world.create_issue()
    world.comment(iid, "/incident help", who="bob")  # the bot reads its own user once per process
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident declare sev2")
    world.sb.latency = 0.2  # long enough that reads made one after another cannot overlap
    world.sb.reset_calls()
    assert world.process(start)[0] == "handled: declare"
    calls = bot_calls(world)
    writes = [c for c in calls if c["method"] != "GET"]
    # The issue is read again right before the write (a person may have edited it meanwhile).
    reads = [c for c in calls if c["method"] == "GET" and c["started"] < writes[0]["started"]]
    reread = [c for c in calls if c["method"] == "GET" and c["started"] >= writes[0]["started"]]
    assert [c["path"].rsplit("/", 1)[-1] for c in reread] == [str(iid)]
    assert writes[-2]["ts"] <= reread[0]["started"] and reread[0]["ts"] <= writes[-1]["started"]
    assert sorted(c["path"].rsplit("/", 2)[-2] for c in reads) == ["all", "issues", "notes"]
    assert not any(c["path"].endswith("/notes") for c in reads)  # no marker read on a first attempt
    # One round trip: every read started before any other read had been answered.
    assert max(c["started"] for c in reads) < min(c["ts"] for c in reads)
    # Then the replies (the Initial Status Update, the team's guidance), then the description write.
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in writes] == [("POST", "notes"), ("POST", "notes"),
                                                                          ("PUT", str(iid))]
    assert min(c["started"] for c in writes) >= max(c["ts"] for c in reads)


def test_a_retry_finds_the_reply_a_failed_attempt_posted(world):
    iid = world.declare()
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident update\nsummary: narrowing\n")
    world.sb.inject_fault("PUT", r"/issues/\d+$", status=500, times=1, user="incident-bot")
    with pytest.raises(RetryableGitLabError):
        world.process(start)  # the reply is posted, the description write fails
    assert world.kinds(iid).count("update") == 1 and world.state(iid).update_count == 0
    world.process(start, retry=True)
    assert world.kinds(iid).count("update") == 1 and world.state(iid).update_count == 1


def test_a_refusal_is_not_cached_a_promotion_counts_at_once(world):
    iid = world.declare()
    world.comment(iid, "/incident update", who="rita")
    assert world.kinds(iid)[-1] == "refusal"
    world.sb.add_member(world.pid, world.users["rita"]["id"], DEVELOPER)
    world.comment(iid, "/incident update\nsummary: rita now\n", who="rita")
    assert world.kinds(iid)[-1] == "update" and world.state(iid).update_count == 1


def test_access_cache_keeps_allowed_levels_for_a_while_and_never_a_refusal():
    now = [1000.0]
    cache = AccessCache(ttl=60, clock=lambda: now[0])
    cache.remember(7, 1, 30, min_level=30)
    cache.remember(7, 2, 20, min_level=30)
    cache.remember(7, 3, None, min_level=30)
    assert (cache.get(7, 1), cache.get(7, 2), cache.get(7, 3), cache.get(8, 1)) == (30, None, None, None)
    now[0] += 59
    assert cache.get(7, 1) == 30
    now[0] += 1
    assert cache.get(7, 1) is None
    cache.remember(7, 1, 40, min_level=30)
    cache.remember(7, 1, 10, min_level=30)  # demoted: read again next time
    assert cache.get(7, 1) is None


def test_a_role_command_looks_up_the_named_member_with_the_first_reads(world):
    iid = world.declare()
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    world.comment(iid, "/incident smoc @bob")
    world.sb.latency = 0.2
    world.sb.reset_calls()
    world.process(start)
    assert world.state(iid).roles["smoc"].username == "bob"
    reads = [c for c in bot_calls(world) if c["method"] == "GET"]
    issue, _reread = [c for c in reads if c["path"].endswith(f"/issues/{iid}")]  # the second before the PUT
    (user,) = [c for c in reads if c["path"].endswith("/users")]
    assert user["started"] < issue["ts"]  # asked at the same time as the issue
