"""The end-to-end harness reports what went wrong: a handler that raises cannot pass a "nothing happens"
test, and a bot that never settles fails the test instead of letting it assert on a half-done world."""

from __future__ import annotations

import pytest
from queue_backends import wait_for

import bot.delivery


def crash(*args, **kwargs):
    raise RuntimeError("a handler bug")


@pytest.mark.deliveries_may_fail("the delivery crashes on purpose, to see the harness report it")
def test_a_crashing_handler_is_reported_not_passed(world, monkeypatch):
    iid = world.declare()
    notes = len(world.bot_notes(iid))
    monkeypatch.setattr(bot.delivery, "process_event", crash)
    world.comment(iid, "/incident status")  # waits until the crashing delivery is dead
    # A "nothing happens" test would count notes, and pass: the only note is the bot saying it failed.
    # The notice is queued once the delivery is recorded dead: wait for it, bounded.
    wait_for(lambda: world.kinds(iid)[notes:] == ["not-carried-out"], 10, "the notice")
    (dead,) = world.troubled_deliveries()  # ... and the harness sees why
    assert dead["status"] == "dead" and "a handler bug" in dead["last_error"]


def test_settling_fails_when_the_queue_does_not_drain(world, monkeypatch):
    iid = world.declare()
    world.bot.queue.settings["max_retries"] = 1000  # it keeps retrying for as long as the test lets it
    monkeypatch.setattr(bot.delivery, "process_event", crash)
    issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid, lazy=True)
    issue.notes.create({"body": "/incident status"})  # as world.comment, without its settle
    with pytest.raises(AssertionError, match="did not settle in 0.5s.*a handler bug"):
        world.settle(timeout=0.5)
    monkeypatch.undo()  # the bug fixed: the retry succeeds, and the test ends with nothing troubled
    world.settle()
    assert world.kinds(iid)[-1] == "status" and not world.troubled_deliveries()
