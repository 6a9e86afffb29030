"""`incident-bot` as a separate process, as an operator runs it: for tests of start, refusal and stop."""

from __future__ import annotations

import os
import subprocess
import sys

from sandbox import MAINTAINER, Sandbox

SECRET = "s3cret"


def bot_sandbox() -> Sandbox:
    """A started sandbox with the bot user (``bot_token``) as Maintainer of support/incidents (``pid``)."""
    sandbox = Sandbox().start()
    bot = sandbox.add_user("incident-bot", bot=True)
    project = sandbox.add_project("support/incidents")
    sandbox.add_member(project["id"], bot["id"], MAINTAINER)
    sandbox.bot_token, sandbox.pid = bot["token"], project["id"]
    return sandbox


def start_bot(argv: list[str], tmp_path, env: dict, *, config_yaml: str = "",
              sqlite_path: str | None = None, log_file=None) -> subprocess.Popen:
    """`python -m bot.cli <argv> --config ...` (the working tree); stdout and stderr are text pipes, or
    both go to `log_file` (an open file) when given."""
    config = tmp_path / "config.yml"
    config.write_text(f"queue:\n  sqlite_path: {sqlite_path or tmp_path / 'queue.db'}\n{config_yaml}")
    full_env = {k: v for k, v in os.environ.items() if k != "GITLAB_URL"}
    full_env.update(INCIDENT_BOT_WEBHOOK_SECRET=SECRET, PYTHONPATH=os.pathsep.join(sys.path), **env)
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *argv, "--config", str(config)],
                            env=full_env, stdout=log_file or subprocess.PIPE,
                            stderr=subprocess.STDOUT if log_file else subprocess.PIPE, text=True)


def run_bot(argv: list[str], tmp_path, env: dict, *, wait: float = 15.0, **kw) -> \
        subprocess.CompletedProcess | None:
    """Run it; None when it is still running after `wait` seconds (it started; it is stopped)."""
    proc = start_bot(argv, tmp_path, env, **kw)
    try:
        out, err = proc.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate(timeout=60)
        return None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def refusal(result: subprocess.CompletedProcess | None, code: int = 2) -> str:
    """The one line it refused with (exit `code`, no traceback)."""
    assert result is not None, "it started instead of refusing"
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]
