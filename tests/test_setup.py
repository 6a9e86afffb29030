"""`incident-bot check` and `incident-bot setup` against the sandbox: labels, the hook, its events and
its health, with GitLab's permissions (hooks need Maintainer)."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import load_config
from bot.label_spec import bot_labels
from sandbox import DEVELOPER
from sandbox.hooks import alert_status


@pytest.fixture
def run(world, monkeypatch, capsys):
    """run("check"|"setup", *args) -> (exit code, stdout) on the world's project."""
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.setenv("INCIDENT_BOT_WEBHOOK_SECRET", "s3cret-token")

    def go(command: str, *args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([command, "--project", "support/incidents", "--webhook-url", world.bot.webhook_url, *args])
        return code, capsys.readouterr().out
    return go


def writes(world) -> int:
    return world.sb.count_calls(user="incident-bot")["writes"]


def test_check_names_each_problem_setup_fixes_them_and_a_second_setup_writes_nothing(world, run):
    world.sb.store.hooks[world.pid].clear()
    code, out = run("check")
    names = [spec.name for spec in bot_labels(load_config(env={}))]
    assert code == 1 and all(f"label `{name}` is missing" in out for name in names)
    assert f"no project hook points at {world.bot.webhook_url}" in out and "incident-bot setup" in out
    code, out = run("setup")
    assert code == 0 and "created the hook" in out and "created label `severity::1` (#dc143c)" in out
    hook = world.sb.store.hooks[world.pid][0]
    assert hook["token"] == "s3cret-token" and hook["note_events"] and hook["confidential_issues_events"]
    assert run("check") == (0, "support/incidents: ok\n")
    before = writes(world)
    code, out = run("setup")
    assert code == 0 and "nothing to do" in out and writes(world) == before
    iid = world.declare(sev="sev1")  # the hook setup made reaches the bot
    assert world.kinds(iid) and world.state(iid) is not None


def test_setup_never_changes_an_existing_label(world, run):
    world.sb.client("carol").projects.get(world.pid, lazy=True).labels.create(
        {"name": "severity::1", "color": "#000000", "description": "ours"})
    run("setup")
    label = world.sb.store.find_label(world.pid, "severity::1")
    assert (label["color"], label["description"]) == ("#000000", "ours")


def test_setup_without_maintainer_creates_the_labels_and_prints_the_steps(world, run):
    world.sb.store.hooks[world.pid].clear()
    world.sb.add_member(world.pid, world.bot_user["id"], DEVELOPER)
    code, out = run("setup")
    assert code == 1 and "created label `incident`" in out
    assert "A Maintainer of support/incidents must" in out and world.bot.webhook_url in out
    assert "Confidential comments" in out and "INCIDENT_BOT_WEBHOOK_SECRET" in out
    code, out = run("check")
    assert code == 0 and "hooks not checked" in out  # Developer: labels are there, hooks cannot be read


def test_check_reports_a_disabled_hook_and_setup_re_enables_it(world, run):
    run("setup")
    hook = world.sb.store.hooks[world.pid][0]
    hook["url"] = "http://127.0.0.1:9/webhook"
    iid = world.create_issue()
    for n in range(3):
        world.comment(iid, f"note {n}")
    hook["url"] = world.bot.webhook_url
    code, out = run("check")
    assert code == 1 and "GitLab disabled the hook" in out and "temporarily_disabled" in out
    code, out = run("setup", "--dry-run")
    assert "would re-enable" in out and alert_status(hook, world.sb.now()) == "temporarily_disabled"
    code, out = run("setup")
    assert code == 0 and "re-enabled the hook" in out and alert_status(hook, world.sb.now()) == "executable"
    assert run("check")[0] == 0


def test_check_names_a_gitlab_url_that_redirects(world, run, monkeypatch):
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    @Request.application
    def moved(request: Request) -> Response:  # an old address, or http:// in front of https://
        query = ("?" + request.query_string.decode()) if request.query_string else ""
        return Response("", status=301, headers={"Location": world.sb.url + request.path + query})

    server = make_server("127.0.0.1", 0, moved, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        run("setup")
        monkeypatch.setenv("GITLAB_URL", f"http://127.0.0.1:{server.port}")
        code, out = run("check")
        assert code == 1 and f"redirects to {world.sb.url}/api/v4/version" in out
        assert "set GITLAB_URL to the address it redirects to" in out
    finally:
        server.shutdown()
