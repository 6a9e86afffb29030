"""Configuration and operations that cannot be wrong in silence (issue 15, item 6): log levels and
formats, rejected webhooks in the log, no traceback for what an operator can fix, `deliveries list`."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import subprocess
import sys
import time

import botprocess
import pytest
import requests
from botprocess import bot_sandbox, refusal

from bot.cli import main
from bot.logs import log_context, setup_logging
from bot.queue import DeliveryQueue, open_store


def test_log_level_accepts_only_real_levels(tmp_path, capsys):
    config = tmp_path / "c.yml"
    config.write_text(f"queue:\n  sqlite_path: {tmp_path / 'q.db'}\n")
    with pytest.raises(SystemExit) as stopped:
        main(["deliveries", "list", "--config", str(config), "--log-level", "LOUD"])
    assert stopped.value.code == 2 and "invalid choice: 'LOUD'" in capsys.readouterr().err
    assert main(["deliveries", "list", "--config", str(config), "--log-level", "debug"]) == 0
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        setup_logging("LOUD", io.StringIO())


def test_text_log_format_puts_a_traceback_on_its_own_lines():
    stream = io.StringIO()
    handler = setup_logging("INFO", stream, fmt="text")
    try:
        with log_context(delivery_id="d-1", issue=7):
            try:
                {}["missing"]
            except KeyError:
                logging.getLogger("incident_bot.test").exception("it broke", extra={"attempt": 2})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\S+Z ERROR   incident_bot\.test: it broke delivery_id=d-1 issue=7 attempt=2", lines[0])
    assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "KeyError: 'missing'"


def test_rejected_webhooks_are_logged_with_the_reason(world, captured_logs):
    url = world.bot.webhook_url
    assert requests.post(url, data=b"{}", headers={"X-Gitlab-Token": "wrong"}, timeout=5).status_code == 401
    hook = {"X-Gitlab-Token": world_secret(), "X-Gitlab-Event": "Note Hook"}
    assert requests.post(url, data=b"not json", headers=hook, timeout=5).status_code == 400
    big = b"x" * (world.cfg.max_body_bytes + 1)  # refused by waitress before the app sees it
    assert requests.post(url, data=big, headers={"X-Gitlab-Token": world_secret()}, timeout=5).status_code == 413
    rejected = [json.loads(line) for line in captured_logs
                if line.startswith("{") and "webhook rejected" in line]
    assert [r["reason"] for r in rejected] == ["token", "malformed", "too_large"]
    assert "missing or wrong X-Gitlab-Token" in rejected[0]["msg"] and rejected[0]["status"] == 401
    assert "JSON" in rejected[1]["msg"], rejected[1]
    assert "exceeds max_body" in rejected[2]["msg"] and rejected[2]["status"] == 413


def world_secret() -> str:
    from world import SECRET

    return SECRET


def test_a_port_already_in_use_is_one_line(tmp_path):
    sb = bot_sandbox()
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = botprocess.run_bot(["serve", "--port", str(port)], tmp_path,
                                    {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token})
        assert refusal(result, code=1) == f"incident-bot: cannot listen on 127.0.0.1:{port}: Address already in use"
    finally:
        taken.close()
        sb.stop()


def _stored(tmp_path, count: int) -> str:
    """A SQLite queue holding `count` deliveries; the config file naming it."""
    path = tmp_path / "q.db"
    queue = DeliveryQueue(open_store(None, str(path), "NORMAL"))
    for n in range(count):
        queue.submit({"event": "Note Hook", "issue_key": f"1:{n}", "headers": {}, "body": f"{n}"})
    queue.close()
    config = tmp_path / "c.yml"
    config.write_text(f"queue:\n  sqlite_path: {path}\n")
    return str(config)


def test_deliveries_list_shows_when_each_arrived(tmp_path, capsys):
    config = _stored(tmp_path, 2)
    assert main(["deliveries", "list", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "STATUS"]
    assert all(re.match(r"\S{36}\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+queued ", line) for line in lines[1:]), lines


def test_deliveries_list_into_head_is_quiet(tmp_path):
    config = _stored(tmp_path, 1500)  # well over a pipe's 64 KiB: the list is still being written when head exits
    shell = (f"set -o pipefail; {sys.executable} -m bot.cli deliveries list --config {config} | head -n 2")
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_workers_outlive_a_store_that_is_down_at_start(tmp_path, captured_logs):
    """A store that cannot be reached when the workers start (Redis restarting) gives one error line a
    poll, no traceback, and the workers carry on once it is back (their first purge used to kill them)."""
    import threading

    from bot.queue.sqlite import SqliteStore

    class Flaky(SqliteStore):
        down = True

        def _check(self):
            if self.down:
                raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        def claim(self, *args):
            self._check()
            return super().claim(*args)

        def purge(self, *args):
            self._check()
            return super().purge(*args)

    store = Flaky(str(tmp_path / "q.db"))
    done = threading.Event()
    queue = DeliveryQueue(store, lambda delivery: done.set(), {"poll_seconds": 0.05})
    try:
        queue.start_workers(1)
        deadline = time.monotonic() + 5
        while sum("queue worker: ConnectionError" in line for line in captured_logs) < 4:
            assert time.monotonic() < deadline, "the worker did not keep trying"
            time.sleep(0.02)
        store.down = False
        queue.submit({"event": "Note Hook", "issue_key": "1:1", "headers": {}, "body": "{}"})
        assert done.wait(5), "no worker is left to process it"
    finally:
        queue.close()
