"""`serve` and `worker` stop cleanly on SIGTERM (issue 15, item 6): a delivery in flight is finished
(or handed back), and the shutdown is logged. Real processes, a real signal, a slow GitLab."""

from __future__ import annotations

import signal
import socket

from botprocess import SECRET, bot_sandbox, start_bot
from queue_backends import wait_for

from sandbox import DEVELOPER


def bot_notes(sb, iid: int) -> list[str]:
    return [n["body"] for n in sb.notes(sb.pid, iid) if n["author"]["username"] == "incident-bot" and not n["system"]]


def stop_in_flight(sb, proc, log_path, iid: int) -> str:
    """With the bot's reply to a declare held up by GitLab, SIGTERM the process; its log once it exited."""
    wait_for(lambda: sb.pending_faults() == 0, what="the bot's slow POST")  # the reply is in flight
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    text = log_path.read_text()
    assert "SIGTERM received: shutting down" in text, text
    assert "queue workers stopping in_flight=1" in text and "queue workers stopped finished=1 handed_back=0" in text
    assert text.rstrip().endswith("stopped") and "Traceback" not in text, text
    assert len([b for b in bot_notes(sb, iid) if "kind=initial" in b]) == 1  # finished, once
    return text


def declare(sb, alice_token: str) -> int:
    import gitlab

    project = gitlab.Gitlab(sb.url, private_token=alice_token).projects.get(sb.pid, lazy=True)
    issue = project.issues.create({"title": "SSO down"})
    sb.inject_fault("POST", r"/issues/\d+/notes$", status=None, delay=2.0, user="incident-bot")
    issue.notes.create({"body": "/incident declare sev2"})
    return issue.iid


def serve(sb, tmp_path, env: dict | None = None):
    """`incident-bot serve` on a free port, text logs: (process, port, log path) once it listens."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log_file:
        proc = start_bot(["serve", "--port", str(port), "--log-format", "text"], tmp_path,
                         {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token, **(env or {})}, log_file=log_file)
    try:
        wait_for(lambda: "serving on" in log_path.read_text(), what="serve to listen", timeout=30)
    except BaseException:
        proc.kill()
        raise
    return proc, port, log_path


def test_serve_finishes_the_delivery_in_flight_on_sigterm(tmp_path):
    sb = bot_sandbox()
    alice = sb.add_user("alice")
    sb.add_member(sb.pid, alice["id"], DEVELOPER)
    proc, port, log_path = serve(sb, tmp_path)
    try:
        sb.add_hook(sb.pid, f"http://127.0.0.1:{port}/webhook", token=SECRET)
        iid = declare(sb, alice["token"])
        stop_in_flight(sb, proc, log_path, iid)
    finally:
        proc.kill()
        sb.stop()


def test_worker_finishes_the_delivery_in_flight_on_sigterm(world, tmp_path):
    world.bot.queue.stop()  # the webhook side stays in this process; the worker is a process of its own
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log_file:
        proc = start_bot(["worker", "--log-format", "text"], tmp_path,
                         {"GITLAB_URL": world.sb.url, "GITLAB_TOKEN": world.bot_user["token"]},
                         sqlite_path=world.cfg.queue["sqlite_path"], log_file=log_file)
    try:
        wait_for(lambda: "queue workers started" in log_path.read_text(), what="the worker to start", timeout=30)
        world.sb.bot_token, world.sb.pid = world.bot_user["token"], world.pid
        iid = declare(world.sb, world.users["alice"]["token"])
        stop_in_flight(world.sb, proc, log_path, iid)
        assert [d["status"] for d in world.bot.queue.list() if d["event"] == "Note Hook"] == ["done"]
    finally:
        proc.kill()


def test_a_delivery_that_outlasts_the_stop_is_handed_back_not_left_leased(tmp_path, captured_logs):
    import threading

    from bot.queue import DeliveryQueue, open_store

    release = threading.Event()
    queue = DeliveryQueue(open_store(None, str(tmp_path / "q.db")), lambda delivery: release.wait(30),
                          {"poll_seconds": 0.05, "lease_seconds": 600})
    queue.submit({"event": "Note Hook", "issue_key": "1:1", "headers": {}, "body": "{}"})
    queue.start_workers(1)
    wait_for(lambda: queue.list()[0]["status"] == "running", what="the delivery to start")
    queue.stop(timeout=0.2)
    row = queue.list()[0]
    # Queued again at once (another worker takes it now), not held until its 10-minute lease runs out.
    assert row["status"] == "queued" and row["last_error"] == "handed back at shutdown"
    assert any("queue workers stopped" in line and '"handed_back":1' in line for line in captured_logs)
    release.set()
    queue.close()


def test_serve_with_redis_down_at_start_answers_503_and_says_why(tmp_path):
    import requests

    sb = bot_sandbox()
    proc, port, log_path = serve(sb, tmp_path, {"INCIDENT_BOT_QUEUE": "redis://127.0.0.1:1/0"})
    try:
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert "the redis queue store cannot be reached" in health.json()["checks"]["queue"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        text = log_path.read_text()
        assert "Traceback" not in text and "queue worker: ConnectionError" in text, text
    finally:
        proc.kill()
        sb.stop()
