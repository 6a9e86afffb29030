"""Rate limits (GitLab.com: 60 new notes and 200 new issues a minute per user; older GitLab answers 429
without Retry-After) and the deliveries that will not be retried, listed and replayed through the CLI."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import gitlab
import pytest
from world import World

from bot.cli import main
from bot.markers import parse_note_marker
from bot.queue.store import FINAL

NO_PACING = "gitlab_rate_limits: {notes: null, issues: null}\n"  # World's default too


@pytest.fixture
def make_world(tmp_path):
    worlds = []

    def make(config_yaml: str | None = None) -> World:
        worlds.append(World(tmp_path, config_yaml=config_yaml))
        return worlds[-1]

    yield make
    for w in worlds:
        w.close()


NO_WAIT = {"obey_rate_limit": False, "max_retries": 0}  # python-gitlab would wait a 429 out by itself


def _post(w: World, who: str, iid: int, body: str):
    return w.gl(who).projects.get(w.pid, lazy=True).issues.get(iid, lazy=True).notes.create({"body": body},
                                                                                           **NO_WAIT)


def _replies_by_command(w: World, iids: list[int]) -> Counter:
    """How many replies the bot posted for each command (its marker key names the command's note)."""
    keys: Counter = Counter()
    for iid in iids:
        for note in w.bot_notes(iid):
            marker = parse_note_marker(note["body"]) or {}
            if marker.get("key", "").startswith("note-"):
                keys[marker["key"]] += 1
    return keys


def _burst(w: World, commands: int, *, held: bool = False, then=None) -> tuple[list[int], list[str]]:
    """Declare 4 incidents, then `commands` updates spread over them, posted by alice and bob as fast
    as they can (each stays under their own 60 a minute). `held`: the bot's workers wait until all are
    posted, so its replies come in one burst however slow the machine is."""
    iids = [w.declare(sev="sev2") for _ in range(4)]
    if held:
        w.bot.queue.stop()
    expected = []
    for n in range(commands):
        note = _post(w, ("alice", "bob")[n % 2], iids[n % 4], f"/incident update\nsummary: step {n}")
        expected.append(f"note-{note.id}-0")
    if held:
        w.sb.wait_idle(20)  # every delivery stored
        if then:
            then()  # e.g. a limit that only the bot's replies meet
        w.bot.queue.start_workers()
    return iids, expected


def _assert_each_answered_once(w: World, iids: list[int], expected: list[str]) -> None:
    w.settle()
    assert w.bot.queue.wait_idle(120)
    w.settle()
    replies = _replies_by_command(w, iids)
    assert {key: replies[key] for key in expected} == {key: 1 for key in expected}
    assert [r for r in w.bot.queue.list() if r["status"] != "done"] == []


def test_sandbox_limits_note_creation_per_user_with_and_without_retry_after(make_world):
    w = make_world()
    iid = w.create_issue()
    w.sb.limit_rate(notes=2, window=60)
    _post(w, "alice", iid, "one")
    _post(w, "alice", iid, "two")
    _post(w, "bob", iid, "bob has his own limit")
    with pytest.raises(gitlab.GitlabCreateError) as refused:
        _post(w, "alice", iid, "three")
    assert refused.value.response_code == 429
    assert [c for c in w.sb.calls if c["status"] == 429][-1]["user"] == "alice"
    # Older GitLab: no Retry-After. With it: the seconds until a slot frees.
    session = w.gl("alice")
    url = f"{w.sb.url}/api/v4/projects/{w.pid}/issues/{iid}/notes"
    headers = {"PRIVATE-TOKEN": w.sb.token_for("alice")}
    plain = session.session.post(url, data={"body": "four"}, headers=headers)
    assert plain.status_code == 429 and "Retry-After" not in plain.headers
    assert plain.json() == {"message": {"error": "This endpoint has been requested too many times. Try again later."}}
    w.sb.limit_rate(notes=0, issues=1, window=60, retry_after=True)
    told = session.session.post(url, data={"body": "five"}, headers=headers)
    assert told.status_code == 429 and 1 <= int(told.headers["Retry-After"]) <= 60
    project = w.gl("alice").projects.get(w.pid, lazy=True)
    project.issues.create({"title": "first"}, **NO_WAIT)
    with pytest.raises(gitlab.GitlabCreateError):
        project.issues.create({"title": "second"}, **NO_WAIT)
    w.sb.limit_rate()
    _post(w, "alice", iid, "limits lifted")


def test_a_burst_past_the_note_limit_is_answered_once_each_none_dead(make_world):
    """80 commands in a minute against 60 notes a minute without Retry-After (time scaled by 20: 60 notes
    per 3 s, and the bot told the same)."""
    w = make_world("gitlab_rate_limits: {notes: 60, issues: 200, per_seconds: 3}\n")
    w.sb.limit_rate(notes=60, issues=200, window=3.0, retry_after=False)
    iids, expected = _burst(w, 80)
    _assert_each_answered_once(w, iids, expected)
    # Paced on the client side as GitLab counts: the bot was never refused.
    assert [c for c in w.sb.calls if c["status"] == 429 and c["user"] == "incident-bot"] == []


def test_without_pacing_a_rate_limit_has_its_own_retry_budget(make_world):
    """The 429s alone, no client-side pacing: they do not use up max_retries, nothing is dead-lettered."""
    w = make_world(NO_PACING)
    # The limit comes once people have posted: 10 a second, which the bot's 40 replies in one burst pass
    # on any machine that answers faster than a reply per 100 ms.
    iids, expected = _burst(w, 40, held=True,
                            then=lambda: w.sb.limit_rate(notes=10, window=1.0, retry_after=False))
    _assert_each_answered_once(w, iids, expected)
    assert any(c["status"] == 429 and c["user"] == "incident-bot" for c in w.sb.calls)


@pytest.mark.deliveries_may_fail("the delivery is dead on purpose: its 429 budget runs out")
def test_a_rate_limit_past_its_budget_is_dead_and_says_so(make_world):
    """The budget is minutes, not forever: with none left, a 429 makes the delivery dead (and listed)."""
    w = make_world(NO_PACING + "queue: {rate_limit_retry_minutes: 0}\n")
    iid = w.declare(sev="sev2")
    w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=429, user="incident-bot", times=None)
    _post(w, "alice", iid, "/incident update")
    deadline = time.monotonic() + 20
    while not (notices := [r for r in w.bot.queue.list() if r["event"] == "Failure Notice"]) \
            and time.monotonic() < deadline:  # queued right after the delivery is recorded dead
        time.sleep(0.05)
    dead = w.bot.queue.list(dead_only=True)
    assert [(r["status"], r["last_error"].startswith("[429 x1] ")) for r in dead] == [("dead", True)]
    # The note saying the update was not carried out waits (a day) for GitLab to take notes again.
    assert [r["status"] not in FINAL for r in notices] == [True]


def _cli_env(w: World, tmp_path, monkeypatch) -> list[str]:
    path = os.path.join(tmp_path, "cli.yml")
    with open(path, "w") as fh:
        fh.write(f"queue: {{sqlite_path: {json.dumps(w.cfg.queue['sqlite_path'])}}}\n")
    monkeypatch.setenv("GITLAB_URL", w.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", w.bot_user["token"])
    monkeypatch.delenv("INCIDENT_BOT_QUEUE", raising=False)
    return ["--config", path]


def test_a_refused_token_is_listed_as_dead_and_replayed(make_world, tmp_path, monkeypatch, capsys):
    w = make_world()
    iid = w.declare(sev="sev2")
    w.sb.inject_fault("POST", r"/issues/\d+/notes$", status=401, user="incident-bot", times=None)
    note = _post(w, "alice", iid, "/incident update\nsummary: while the token was refused")
    deadline = time.monotonic() + 20  # not settle(): the note saying it failed waits for a working token
    while not w.bot.queue.list(dead_only=True) and time.monotonic() < deadline:
        time.sleep(0.05)
    config = _cli_env(w, tmp_path, monkeypatch)
    assert main(["deliveries", "list", "--dead", "--format", "json", *config]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["status"], "401" in (r["last_error"] or "")) for r in listed] == [("failed", True)]
    w.sb.clear_faults()  # the token is renewed
    assert main(["deliveries", "replay", "--all-dead", *config]) == 0
    assert capsys.readouterr().out.strip() == "replayed 1 dead deliveries"
    w.settle()
    assert _replies_by_command(w, [iid])[f"note-{note.id}-0"] == 1
    # The note saying it was not carried out comes at most once (none when the replay came first).
    assert w.kinds(iid).count("not-carried-out") <= 1
    assert main(["deliveries", "list", "--dead", "--format", "json", *config]) == 0
    assert json.loads(capsys.readouterr().out) == []
