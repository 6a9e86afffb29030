"""Acknowledgements before processing: workers wait, boundedly, while webhooks are being answered."""

import threading
import time

from conftest import FIXTURES

from bot import ackfirst
from bot.ackfirst import AckFirst


def test_no_webhook_no_wait():
    gate = AckFirst(quiet=0.5, max_wait=5)
    assert gate.wait_turn() < 0.1


def test_waits_while_a_webhook_is_answered_then_for_the_quiet_period():
    gate, waited = AckFirst(quiet=0.1, max_wait=5), []
    gate.started()
    waiter = threading.Thread(target=lambda: waited.append(gate.wait_turn()))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # still a webhook in progress
    gate.finished()
    waiter.join(3)
    assert not waiter.is_alive()
    assert 0.3 + 0.1 - 0.02 <= waited[0] < 2.5  # the quiet period after the last one counts too


def test_never_waits_longer_than_max_wait():
    gate = AckFirst(quiet=0.05, max_wait=0.2)
    gate.started()  # a webhook that never ends
    waited = gate.wait_turn()
    assert 0.19 <= waited < 1.5


def test_the_endpoint_marks_every_webhook_even_refused_ones(tmp_path, monkeypatch):
    from bot.app import create_app
    from bot.config import load_config
    from bot.queue import DeliveryQueue

    gate = AckFirst()
    monkeypatch.setattr("bot.ack.ACK_FIRST", gate)
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": "s"})
    queue = DeliveryQueue(cfg, lambda d: None, sqlite_path=str(tmp_path / "q.db"))
    seen = []
    real_submit = queue.submit

    def submit(delivery):
        seen.append(gate._active)  # the webhook counts as in progress while it is being stored
        return real_submit(delivery)

    queue.submit = submit
    try:
        client = create_app(cfg, queue).test_client()
        assert client.post("/webhook", data="{}", headers={"X-Gitlab-Token": "wrong"}).status_code == 401
        assert gate._active == 0 and gate._last > float("-inf")
        note = (FIXTURES / "note_hook_issue.json").read_text().replace('"note": "', '"note": "/incident status ', 1)
        resp = client.post("/webhook", data=note, headers={"X-Gitlab-Token": "s", "X-Gitlab-Event": "Note Hook"})
        assert resp.status_code == 202
        assert seen == [1] and gate._active == 0
    finally:
        queue.close()


def test_a_worker_holds_its_gitlab_calls_while_a_webhook_is_in_progress(world, monkeypatch):
    """End to end: a delivery waits in the queue while a webhook is answered, and runs right after."""
    iid = world.declare()
    before = len(world.bot_notes(iid))
    monkeypatch.setattr(ackfirst.ACK_FIRST, "max_wait", 30.0)
    ackfirst.ACK_FIRST.started()  # a webhook being answered, for as long as this test says
    try:
        world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid, lazy=True).notes.create(
            {"body": "/incident status"})
        time.sleep(1.0)
        assert len(world.bot_notes(iid)) == before  # acknowledged and stored, not processed yet
        assert world.bot.queue.depth() >= 1
        # Not even claimed: a drain waits before its first write (the lane lock), not only before GitLab.
        assert {r["status"] for r in world.bot.queue.list() if r["status"] != "done"} == {"queued"}
    finally:
        ackfirst.ACK_FIRST.finished()
    world.settle()
    assert len(world.bot_notes(iid)) == before + 1
    assert "status" in world.kinds(iid)[-1]


def test_wake_ups_wait_while_a_webhook_is_in_progress(tmp_path, monkeypatch):
    """The housekeeping thread sends no wake-up (and runs no checkpoint) during a burst of webhooks."""
    from bot.config import load_config
    from bot.queue import DeliveryQueue

    gate = AckFirst(quiet=0.05, max_wait=30)
    monkeypatch.setattr("bot.queue.core.ACK_FIRST", gate)
    monkeypatch.setattr(DeliveryQueue, "HOUSEKEEPING_MAX_WAIT", 30.0)  # the housekeeper's own bound (1 s)
    cfg = load_config(env={"INCIDENT_BOT_WEBHOOK_SECRET": "s"})
    queue = DeliveryQueue(cfg, lambda d: None, sqlite_path=str(tmp_path / "q.db"))  # no workers: every submit wakes
    try:
        gate.started()
        try:
            assert queue.submit({"id": "d1", "issue_key": "1:2", "headers": {}, "body": "{}", "event": "Note Hook"})
            time.sleep(0.6)  # the housekeeper looks at least once in this time
            assert queue.huey.pending_count() == 0
        finally:
            gate.finished()
        deadline = time.monotonic() + 5
        while queue.huey.pending_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue.huey.pending_count() == 1  # sent once the webhooks are answered
    finally:
        queue.close()
