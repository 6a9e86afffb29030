"""`incident-bot sync`: what webhooks did not bring is handled once, in order, as if they had come.
Driven through the CLI against the sandbox, whose hooks fail, get disabled and drop events as GitLab's do."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest
import requests

from bot.cli import main
from sandbox.hooks import alert_status

DISCARD = "http://127.0.0.1:9/webhook"  # refused at once: the bot is down


def write_config(w, tmp_path, extra: str = "") -> str:
    path = os.path.join(str(tmp_path), "sync.yml")
    with open(path, "w") as fh:
        fh.write(f"projects: [support/incidents]\nqueue:\n  sqlite_path: {w.cfg.queue['sqlite_path']}\n"
                 f"  retry_base_seconds: 0.05\n  poll_seconds: 0.1\n{extra}")
    return path


@pytest.fixture
def sync(world, tmp_path, monkeypatch, capsys):
    """sync(*args) -> (exit code, stdout): `incident-bot sync` on the world's project and queue store."""
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.setenv("INCIDENT_BOT_WEBHOOK_SECRET", "s3cret-token")
    config = write_config(world, tmp_path)

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["sync", "--config", config, "--wait", "30", *args])
        world.sb.wait_idle(20)
        return code, capsys.readouterr().out
    return run


def bot_down(w):
    for hook in w.sb.store.hooks[w.pid]:
        hook["url"] = DISCARD


def updates(w, iid) -> list[str]:
    """The summaries of the bot's update replies, in the order they were posted."""
    return [m.group(1) for n in w.bot_notes(iid) if (m := re.search(r"(step \d+)", n["body"]))]


def test_a_comment_made_while_the_bot_was_down_is_answered_once_by_one_sync(world, sync):
    iid = world.declare(sev="sev2")
    bot_down(world)
    world.comment(iid, "/incident update\nsummary: step 1\n")
    assert world.kinds(iid).count("update") == 0 and world.sb.deliveries[-1]["status"] is None
    code, out = sync()
    assert code == 0 and "queued 1" in out
    assert updates(world, iid) == ["step 1"] and world.state(iid).update_count == 1
    writes = world.sb.count_calls(user="incident-bot")["writes"]
    code, out = sync()
    assert code == 0 and world.sb.count_calls(user="incident-bot")["writes"] == writes  # a second sync writes nothing
    assert updates(world, iid) == ["step 1"]


def test_six_commands_while_the_hook_is_disabled_are_answered_once_in_order(world, sync):
    iid = world.declare(sev="sev2")
    bot_down(world)
    for n in range(1, 7):
        world.comment(iid, f"/incident update\nsummary: step {n}\n")
    hook = world.sb.store.hooks[world.pid][0]
    assert alert_status(hook, world.sb.now()) == "temporarily_disabled" and len(world.sb.dropped) == 2
    hook["url"] = world.bot.webhook_url  # the bot is back; GitLab keeps the hook disabled
    code, out = sync()
    assert code == 0 and "hook temporarily_disabled" in out
    assert updates(world, iid) == [f"step {n}" for n in range(1, 7)]
    assert world.state(iid).update_count == 6
    health = requests.get(world.bot.url + "/healthz", timeout=5).json()  # the pass told this process
    assert health["hooks"]["support/incidents"]["alert_status"] == "temporarily_disabled"
    assert health["seconds_since_last_webhook"] is not None  # the declare's webhook came
    metrics = requests.get(world.bot.url + "/metrics", timeout=5).text
    assert 'hook_disabled{project="support/incidents"} 1.0' in metrics
    sync()
    assert updates(world, iid) == [f"step {n}" for n in range(1, 7)]


def test_without_any_hook_a_label_and_an_update_are_handled_by_sync_alone(world, sync):
    world.sb.store.hooks[world.pid].clear()
    iid = world.create_issue(labels=["incident"])
    world.comment(iid, "/incident update\nsummary: step 1\n")
    assert world.bot_notes(iid) == [] and world.sb.deliveries == []
    code, out = sync()
    assert code == 0 and "no hook" in out
    assert world.state(iid) is not None and updates(world, iid) == ["step 1"]
    kinds = world.kinds(iid)
    assert kinds.index("update") > 0 and kinds.count("update") == 1  # declared first, then the update


def test_sync_and_webhooks_for_the_same_comments_reply_once(world, sync):
    iid = world.declare(sev="sev2")
    world.bot.queue.stop()  # the webhooks are stored (202) but wait: sync's events join them in the queue
    issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid, lazy=True)
    for n in range(1, 4):
        issue.notes.create({"body": f"/incident update\nsummary: step {n}\n"})
    world.sb.wait_idle(20)
    assert world.bot.queue.depth() == 3
    both = []
    code = [None]

    def run_sync():
        code[0], out = sync()
        both.append(out)
    t = threading.Thread(target=run_sync)
    t.start()
    deadline = time.monotonic() + 20
    while world.bot.queue.depth() < 6 and time.monotonic() < deadline:  # sync's three joined the webhooks'
        time.sleep(0.01)
    world.bot.queue.start_workers()  # the bot's workers and the sync's race for the same lane
    t.join(60)
    world.settle()
    assert code[0] == 0 and "queued 3" in both[0]
    assert updates(world, iid) == ["step 1", "step 2", "step 3"] and world.state(iid).update_count == 3


def test_dry_run_lists_what_it_would_handle_and_writes_nothing(world, sync):
    iid = world.declare(sev="sev2")
    bot_down(world)
    world.comment(iid, "/incident update\nsummary: step 1\n")
    writes = world.sb.count_calls(user="incident-bot")["writes"]
    code, out = sync("--dry-run")
    assert code == 0 and f"would handle #{iid} note" in out
    assert world.sb.count_calls(user="incident-bot")["writes"] == writes and updates(world, iid) == []


def test_bad_arguments_exit_2_and_an_unreachable_gitlab_exits_1(world, sync, monkeypatch):
    assert sync("--since", "yesterday")[0] == 2
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong")
    assert sync()[0] == 1
    monkeypatch.setenv("GITLAB_URL", "http://127.0.0.1:9")
    assert sync()[0] == 1


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_restarted_after_an_outage_answers_the_missed_command_in_its_first_pass(world, tmp_path):
    import subprocess
    import sys

    iid = world.declare(sev="sev2")
    world.bot.queue.stop()  # the bot goes down (its web side keeps the port; GitLab cannot reach it)
    bot_down(world)
    issue = world.gl("alice").projects.get(world.pid, lazy=True).issues.get(iid, lazy=True)
    issue.notes.create({"body": "/incident update\nsummary: step 1\n"})
    world.sb.wait_idle(20)
    port = free_port()
    config = write_config(world, tmp_path, "sync:\n  interval_seconds: 60\n")
    env = dict(os.environ, GITLAB_URL=world.sb.url, GITLAB_TOKEN=world.bot_user["token"],
               INCIDENT_BOT_WEBHOOK_SECRET="s3cret-token", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--config", config],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while updates(world, iid) != ["step 1"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert updates(world, iid) == ["step 1"]  # no manual step: the first pass found it
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["hooks"]["support/incidents"]["found"] is True  # the pass read the hook (Maintainer)
        assert health["seconds_since_last_webhook"] is None  # no webhook reached this process
        world.sb.wait_quiet(quiet=0.3)
        assert updates(world, iid) == ["step 1"] and world.state(iid).update_count == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_since_bounds_the_pass_and_a_comment_makes_its_issue_count_as_updated(world, sync):
    from datetime import datetime, timedelta, timezone

    iid = world.declare(sev="sev2")
    old = world.create_issue(title="quiet")
    bot_down(world)
    long_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    with world.sb.lock:
        for issue in world.sb.store.issues.values():
            issue["updated_at"] = long_ago
    world.comment(iid, "/incident update\nsummary: step 1\n")  # GitLab touches the issue a note is on
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out = sync("--since", since)
    assert code == 0 and "1 issues changed" in out and f"#{old}" not in out
    assert updates(world, iid) == ["step 1"]


def test_a_sync_on_a_fresh_machine_finds_what_was_handled_in_gitlab(world, sync, tmp_path, monkeypatch, capsys):
    from bot.statekey import ensure_state_key

    iid = world.declare(sev="sev2")
    world.comment(iid, "/incident update\nsummary: step 1\n")  # answered through the webhook
    bot_down(world)
    world.comment(iid, "/incident update\nsummary: step 2\n")
    assert sync()[0] == 0 and updates(world, iid) == ["step 1", "step 2"]
    # Another machine: an empty queue store and no mark, only the state key (INCIDENT_BOT_STATE_KEY).
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "sync.yml").write_text(f"queue:\n  sqlite_path: {fresh / 'queue.db'}\n")
    writes = world.sb.count_calls(user="incident-bot")["writes"]
    capsys.readouterr()
    assert main(["sync", "--config", str(fresh / "sync.yml"), "--project", "support/incidents"]) == 0
    assert "queued 0" in capsys.readouterr().out  # the bot's markers say both were answered
    assert world.sb.count_calls(user="incident-bot")["writes"] == writes


def test_healthz_says_when_the_bot_cannot_read_hooks(world, sync):
    from sandbox import DEVELOPER

    world.declare(sev="sev2")
    world.sb.add_member(world.pid, world.bot_user["id"], DEVELOPER)
    code, out = sync()
    assert code == 0 and "cannot read hooks (needs Maintainer)" in out
    health = requests.get(world.bot.url + "/healthz", timeout=5).json()
    assert health["hooks"]["support/incidents"] == {"readable": False}
    assert 0 <= health["seconds_since_last_webhook"] < 60  # what a monitor has instead: silence


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_last_pass_is_remembered_beside_the_queue_store(kind, tmp_path):
    import uuid
    from datetime import datetime, timezone

    from queue_backends import REDIS_URL, redis_or_skip

    from bot import sync_mark
    from bot.config import load_config

    cfg = load_config(env={})
    cfg.data["queue"]["sqlite_path"] = str(tmp_path / "queue.db")
    if kind == "redis":
        redis_or_skip()
        cfg.queue_url, cfg.data["queue"]["name"] = REDIS_URL, f"ib-test-{uuid.uuid4().hex[:8]}"
    assert sync_mark.load(cfg, "support/incidents") is None  # a first pass: 24 hours back
    when = datetime(2026, 12, 1, 12, 0, 5, tzinfo=timezone.utc)
    sync_mark.save(cfg, "support/incidents", when)
    sync_mark.save(cfg, "support/other", datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert sync_mark.load(cfg, "support/incidents") == when
