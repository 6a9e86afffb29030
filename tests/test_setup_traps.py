"""Setup traps caught at start (issue 14, item 4): `serve`, `worker` and `cadence` refuse, in one line,
a setup that could not work, instead of failing every delivery later. The sandbox refuses a token and
answers behind an http:// front as GitLab does (sandbox/front.py)."""

from __future__ import annotations

import subprocess

import botprocess
import pytest
from botprocess import bot_sandbox, refusal

from bot.gitlab import GitLab

COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "worker": ["worker"],
    "cadence": ["cadence", "--project", "support/incidents", "--dry-run"],
}
QUEUE_COMMANDS = {"serve": COMMANDS["serve"], "worker": ["worker"], "deliveries": ["deliveries", "list"]}


@pytest.fixture
def sb():
    sandbox = bot_sandbox()
    yield sandbox
    sandbox.stop()


def run_bot(command: str, tmp_path, env: dict, **kw) -> subprocess.CompletedProcess | None:
    return botprocess.run_bot(COMMANDS.get(command) or QUEUE_COMMANDS[command], tmp_path, env, **kw)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_token_gitlab_refuses_stops_the_start(sb, tmp_path, command):
    sb.refuse_token("incident-bot", "expired")
    line = refusal(run_bot(command, tmp_path, {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token}))
    assert "refused the token" in line and "Token is expired" in line and "GET /user" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_gitlab_url_that_redirects_stops_the_start(sb, tmp_path, command):
    front = sb.http_front()
    line = refusal(run_bot(command, tmp_path, {"GITLAB_URL": front, "GITLAB_TOKEN": sb.bot_token}))
    assert f"GITLAB_URL {front} redirects to {sb.url}" in line and "every write would fail" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("url, says", [(None, "GITLAB_URL is not set"), ("/api/v4", "ends in /api/v4")])
def test_a_missing_or_api_gitlab_url_stops_the_start(sb, tmp_path, command, url, says):
    env = {"GITLAB_TOKEN": sb.bot_token}
    if url:
        env["GITLAB_URL"] = sb.url + url
    assert says in refusal(run_bot(command, tmp_path, env))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("text, says", [
    ("## Update {{ incident.sevv }}\n", "periodic_status_update.md.j2 line 1: UndefinedError: 'dict object' has no "
                                         "attribute 'sevv'"),
    ("{% if f.summary %}\n{{ f.summary }}\n", "periodic_status_update.md.j2 line 2: TemplateSyntaxError: "
                                              "Unexpected end of template"),
])
def test_a_custom_template_that_cannot_render_stops_the_start(sb, tmp_path, command, text, says):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "periodic_status_update.md.j2").write_text(text)
    (folder / "_footer.md.j2").write_text("{{ not_rendered_alone }}")  # a part others include: not checked
    line = refusal(run_bot(command, tmp_path, {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token},
                           config_yaml=f"templates_dir: {folder}\n"))
    assert line.startswith(f"incident-bot{' cadence' if command == 'cadence' else ''}: template {says}"), line


def test_every_bundled_template_renders_with_the_sample_the_check_uses():
    from bot.render import Renderer
    from bot.template_check import REPORT_TEMPLATES, SAMPLES, render_problem

    renderer = Renderer()
    assert set(renderer.list_templates()) - REPORT_TEMPLATES == set(SAMPLES)
    assert [p for name in SAMPLES if (p := render_problem(renderer, name))] == []
    # The samples are what the bot gives: a name a template does not get is an error, not an empty string.
    broken = _with(Renderer(), "status.md.j2", "{{ incident.nope }}")
    assert "UndefinedError" in (render_problem(broken, "status.md.j2") or "")


def _with(renderer, name: str, text: str):
    from jinja2 import ChoiceLoader, DictLoader

    renderer.env.loader = ChoiceLoader([DictLoader({name: text}), renderer.env.loader])
    return renderer


def test_the_sandbox_refuses_tokens_and_redirects_as_gitlab_does(sb):
    import requests

    sb.refuse_token("incident-bot", "revoked")
    answer = requests.get(sb.url + "/api/v4/user", headers={"PRIVATE-TOKEN": sb.bot_token}, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert "revoked" in answer.json()["error_description"] and "invalid_token" in answer.headers["WWW-Authenticate"]
    moved = requests.put(sb.http_front() + "/api/v4/projects/1?x=1", allow_redirects=False, timeout=5)
    assert moved.status_code == 301 and moved.headers["Location"] == sb.url + "/api/v4/projects/1?x=1"


def test_pages_are_followed_at_the_configured_address_not_gitlabs_external_url(sb):
    # Behind a proxy, GitLab's Link headers carry its external_url; the bot keeps the address it was given.
    gl = sb.client("incident-bot")
    issue = gl.projects.get(sb.pid, lazy=True).issues.create({"title": "many notes"})
    for n in range(105):
        issue.notes.create({"body": f"note {n}"})
    sb.external_url = "http://gitlab.invalid:9"
    notes = GitLab(sb.url, sb.bot_token).all_notes(sb.pid, issue.iid)
    assert len(notes) == 105


def test_a_sound_setup_starts(sb, tmp_path):
    assert run_bot("worker", tmp_path, {"GITLAB_URL": sb.url + "/", "GITLAB_TOKEN": sb.bot_token}, wait=3) is None


# -- the queue store at start ------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(QUEUE_COMMANDS))
def test_a_queue_folder_that_cannot_be_written_is_one_line(sb, tmp_path, command):
    # /proc takes no new files, even from root: as a read-only folder, whoever runs the tests.
    env = {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token}
    line = refusal(run_bot(command, tmp_path, env, sqlite_path="/proc/queue.db"), code=1)
    assert line == ("incident-bot: the SQLite queue store /proc/queue.db cannot be opened: "
                    "unable to open database file")


@pytest.mark.parametrize("command", ["worker", "deliveries"])
def test_an_unreachable_redis_is_one_line_for_worker_and_deliveries(sb, tmp_path, command):
    env = {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token, "INCIDENT_BOT_QUEUE": "redis://127.0.0.1:1/0"}
    line = refusal(run_bot(command, tmp_path, env), code=1)
    assert line.startswith("incident-bot: the redis queue store cannot be reached: ConnectionError"), line


def test_healthz_names_its_checks_and_a_nearly_full_disk_degrades_it(tmp_path):
    import requests
    from world import World

    # The floor is set above the disk's real free space: the check compares what the disk reports.
    w = World(str(tmp_path), config_yaml="queue:\n  min_free_mb: 1000000000\n")
    try:
        answer = requests.get(w.bot.url + "/healthz", timeout=5)
        assert answer.status_code == 200 and answer.json()["status"] == "degraded"
        assert answer.json()["checks"]["queue"] == "ok"
        assert "MiB free in" in answer.json()["checks"]["disk"] and "queue.min_free_mb" in answer.json()["checks"]["disk"]
        iid = w.declare()  # degraded, not down: deliveries are still stored and processed
        assert w.kinds(iid) == ["initial", "guidance"]
    finally:
        w.close()
    (tmp_path / "ok").mkdir()
    healthy = World(str(tmp_path / "ok"))
    try:
        answer = requests.get(healthy.bot.url + "/healthz", timeout=5).json()
        assert (answer["status"], answer["checks"]) == ("ok", {"queue": "ok", "gitlab": "ok", "disk": "ok"})
    finally:
        healthy.close()


def test_the_sandbox_limits_a_token_to_its_scopes(sb):
    import requests

    sb.scope_token("incident-bot", "read_api")
    headers = {"PRIVATE-TOKEN": sb.bot_token}
    assert requests.get(sb.url + "/api/v4/user", headers=headers, timeout=5).status_code == 200
    write = requests.post(sb.url + f"/api/v4/projects/{sb.pid}/issues", data={"title": "x"}, headers=headers, timeout=5)
    assert write.status_code == 403 and write.json()["error"] == "insufficient_scope"
    me = requests.get(sb.url + "/api/v4/personal_access_tokens/self", headers=headers, timeout=5).json()
    assert me["scopes"] == ["read_api"] and me["active"] is True


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_token_that_cannot_write_stops_the_start(sb, tmp_path, command):
    # read_api: GET /user works, and every note the bot would post is refused.
    sb.scope_token("incident-bot", "read_api", "read_user")
    line = refusal(run_bot(command, tmp_path, {"GITLAB_URL": sb.url, "GITLAB_TOKEN": sb.bot_token}))
    assert "the token's scopes are read_api, read_user: the bot writes notes and issues and needs the api scope" in line
