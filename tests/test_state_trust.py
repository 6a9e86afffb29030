"""Issue 12, item 2: the state in the description is signed, and a state the bot did not write is never
trusted. End to end: people edit the description through python-gitlab over HTTP against the sandbox,
as anyone who can edit the issue (here its author, who is not a project member) can; the bot and the
`incident-bot cadence` command run for real.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import os
import stat
from datetime import timedelta

import pytest

from bot.cli import main
from bot.markers import parse_note_marker as parse_marker
from bot.timeutil import iso, utcnow
from sandbox import MAINTAINER

STATE = "<!-- incident-bot:state "


# -- helpers ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    from world import World

    w = World(str(tmp_path_factory.mktemp("trust")))
    yield w
    w.close()


_PROJECTS = itertools.count(1)


@pytest.fixture
def world(shared_world):
    """The shared sandbox and bot, with a project of its own for this test."""
    from world import PEOPLE, SECRET

    w = copy.copy(shared_world)
    w.project = w.sb.add_project(f"support/trust-{next(_PROJECTS)}")
    w.pid, w.path = w.project["id"], w.project["path_with_namespace"]
    w.sb.add_member(w.pid, w.bot_user["id"], MAINTAINER)
    for name, level in PEOPLE.items():
        w.sb.add_member(w.pid, w.users[name]["id"], level)
    w.sb.add_hook(w.pid, w.bot.webhook_url, token=SECRET)
    return w


@pytest.fixture
def cadence(world, monkeypatch, capsys):
    """cadence(now, key=True) -> (exit code, JSON report): the real command, in-process."""
    from bot.statekey import ensure_state_key

    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)

    def _run(now, *, key: bool = True):
        if key:
            monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
        else:
            monkeypatch.delenv("INCIDENT_BOT_STATE_KEY", raising=False)
        capsys.readouterr()
        code = main(["cadence", "--project", world.path, "--format", "json", "--now", iso(now)])
        out, err = capsys.readouterr()
        world.settle()
        return code, (json.loads(out) if out.strip() else {"stderr": err})

    return _run


def outsiders_incident(world, sev: str = "sev1") -> int:
    """An issue written by someone who is not a member (so may edit its description), declared by alice."""
    iid = world.create_issue("outsider", title="Checkout errors", description="Customers report errors.")
    world.comment(iid, f"/incident declare {sev}", who="alice")
    assert "incident" in world.issue(iid)["labels"]
    return iid


def edit_state(world, iid: int, change, *, who: str = "outsider") -> None:
    """Edit the JSON in the block as a person editing the description would; the signature prefix,
    if any, is left as it was."""
    description = world.issue(iid)["description"]
    start = description.index(STATE) + len(STATE)
    end = description.index(" -->", start)
    comment = description[start:end]
    prefix, payload = ("", comment) if comment.startswith("{") else comment.split(" ", 1)
    data = json.loads(payload)
    change(data)
    forged = json.dumps(data, separators=(",", ":"), sort_keys=True)
    world.edit_issue(iid, who=who, description=description[:start] + (prefix + " " if prefix else "") + forged
                     + description[end:])


def notes_of(world, iid: int, kind: str) -> list[str]:
    return [n["body"] for n in world.bot_notes(iid) if (parse_marker(n["body"]) or {}).get("kind") == kind]


def verified(world, iid: int):
    from bot.state import read_block, state_scope
    from bot.statekey import ensure_state_key

    issue = world.issue(iid)
    return read_block(issue["description"], ensure_state_key(world.cfg), state_scope(issue["id"]))


# -- forged state ---------------------------------------------------------------------------------------
def test_forged_handled_key_for_the_next_note_does_not_silence_the_reply(world):
    iid = outsiders_incident(world)
    # The next note ids are easy to guess from the last one: mark the next 150 as already handled.
    last = max(n.id for n in world.gl("outsider").projects.get(world.pid, lazy=True).issues.get(
        iid, lazy=True).notes.list(get_all=True))
    edit_state(world, iid, lambda d: d["handled"].extend(f"note-{n}-0" for n in range(last + 1, last + 151)))
    world.comment(iid, "/incident update\nsummary: rolled back the deploy\nnext: 30m\n", who="alice")
    assert len(notes_of(world, iid, "update")) == 1
    assert "could not be verified" in notes_of(world, iid, "rebuilt")[0]
    state = verified(world, iid)
    assert state.update_count == 1 and f"note-{last + 150}-0" not in state.handled


def test_forged_roles_are_not_assigned_nor_mentioned(world, cadence):
    iid = outsiders_incident(world)
    outsider_id = world.users["outsider"]["id"]
    edit_state(world, iid, lambda d: d["roles"].update(cmoc={"username": "all", "id": outsider_id},
                                                       smoc={"username": "@all", "id": 987654}))
    code, report = cadence(utcnow() + timedelta(hours=2))
    assert code == 0, report
    reminders = notes_of(world, iid, "reminder")
    assert reminders and not any("@all" in body for body in reminders)
    assert outsider_id not in [a["id"] for a in world.issue(iid)["assignees"]]
    row = next(r for r in report["incidents"] if r["iid"] == iid)
    assert "could not be verified" in row["rebuilt"] and row["reminded"]
    assert len(notes_of(world, iid, "rebuilt")) == 1
    assert verified(world, iid).roles == {}  # no role was ever given through the bot

    world.comment(iid, "/incident update\nsummary: still looking\n", who="alice")
    assert outsider_id not in [a["id"] for a in world.issue(iid)["assignees"]]


@pytest.mark.parametrize("field,value", [("reminders", 5), ("handled", 7), ("roles", ["x"]),
                                         ("update_count", "many"), ("severity", None)])
def test_a_wrong_type_in_one_incident_does_not_stop_the_cadence_run(world, cadence, field, value):
    bad = outsiders_incident(world)
    good = outsiders_incident(world, "sev2")
    edit_state(world, bad, lambda d: d.update({field: value}))
    code, report = cadence(utcnow() + timedelta(hours=2))
    assert code == 0, report
    rows = {r["iid"]: r for r in report["incidents"]}
    assert rows[good]["reminded"] and notes_of(world, good, "reminder")
    assert rows[bad]["rebuilt"] and rows[bad]["error"] is None and notes_of(world, bad, "reminder")
    assert verified(world, bad).reminders  # a fresh signed block holds what was sent


def test_a_block_signed_with_another_key_is_rebuilt_and_the_bot_says_so(world):
    iid = outsiders_incident(world)
    world.comment(iid, "/incident cmoc @bob", who="alice")
    issue = world.issue(iid)

    def resign(d):
        d["severity"] = 3
        d["roles"] = {"cmoc": {"username": "gus", "id": world.users["gus"]["id"]}}

    edit_state(world, iid, resign)
    description = world.issue(iid)["description"]
    start = description.index(STATE) + len(STATE)
    end = description.index(" -->", start)
    payload = description[start:end].split(" ", 1)[-1]
    mac = hmac.new(b"another-key-0123456789abcdef0123456789", f"issue:{issue['id']}\n{payload}".encode(),
                   hashlib.sha256).hexdigest()
    world.edit_issue(iid, who="outsider",
                     description=description[:start] + f"hmac-sha256={mac} {payload}" + description[end:])

    world.comment(iid, "/incident status", who="alice")
    notices = notes_of(world, iid, "rebuilt")
    assert len(notices) == 1 and "does not match" in notices[0]
    state = verified(world, iid)  # a fresh block, signed with the bot's key
    assert state.severity == 1 and state.holder("cmoc") == "bob"  # from the labels and the bot's notes
    world.comment(iid, "/incident status", who="alice")
    assert len(notes_of(world, iid, "rebuilt")) == 1  # said once


def test_an_unsigned_block_from_the_previous_version_is_rebuilt(world):
    iid = outsiders_incident(world, "sev2")
    description = world.issue(iid)["description"]
    start = description.index(STATE) + len(STATE)
    end = description.index(" -->", start)
    world.edit_issue(iid, who="incident-bot", description=description[:start]
                     + description[start:end].split(" ", 1)[-1] + description[end:])
    world.comment(iid, "/incident severity sev1", who="alice")
    assert "no signature" in notes_of(world, iid, "rebuilt")[0]
    assert verified(world, iid).severity == 1


def test_a_valid_block_copied_into_another_issue_is_not_trusted(world):
    first = outsiders_incident(world, "sev3")
    world.comment(first, "/incident mitigate", who="alice")
    block = world.issue(first)["description"].split("\n\nCustomers report errors.")[0]
    second = world.create_issue("outsider", title="Another outage", description=block + "\n\nMore errors.")
    world.comment(second, "/incident declare sev1", who="alice")
    assert len(notes_of(world, second, "initial")) == 1  # declared, not refused as "already an incident"
    state = verified(world, second)
    assert (state.severity, state.status) == (1, "active")
    assert world.issue(second)["description"].endswith("More errors.")


def test_a_dry_run_reports_an_unverified_block_and_writes_nothing(world, monkeypatch, capsys):
    from bot.statekey import ensure_state_key

    iid = outsiders_incident(world)
    edit_state(world, iid, lambda d: d.update(severity=3))
    description, notes = world.issue(iid)["description"], len(world.bot_notes(iid))
    monkeypatch.setenv("GITLAB_URL", world.sb.url)
    monkeypatch.setenv("GITLAB_TOKEN", world.bot_user["token"])
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(world.cfg))
    monkeypatch.delenv("INCIDENT_BOT_CONFIG", raising=False)
    capsys.readouterr()
    code = main(["cadence", "--project", world.path, "--dry-run", "--now", iso(utcnow() + timedelta(hours=2))])
    out = capsys.readouterr().out
    world.settle()
    assert code == 0 and "rebuilt  the incident-bot state in the description could not be verified" in out
    assert "SEV1" in out  # the severity came from the label, not from the edited block
    assert world.issue(iid)["description"] == description and len(world.bot_notes(iid)) == notes


# -- cadence without the key ------------------------------------------------------------------------------
def test_cadence_without_the_key_trusts_no_block_and_posts_each_reminder_once(world, cadence):
    iid = outsiders_incident(world)
    edit_state(world, iid, lambda d: d["reminders"].update({f"overdue:{n}": "x" for n in range(3)}))
    edit_state(world, iid, lambda d: d.update(last_update_at=iso(utcnow() + timedelta(days=30)),
                                              next_update_due=iso(utcnow() + timedelta(days=30))))
    description = world.issue(iid)["description"]
    # Mid-interval (escalations come once per 10 min interval): both runs fall in the same interval.
    later = utcnow() + timedelta(hours=2, minutes=5)
    code, report = cadence(later, key=False)
    assert code == 0, report
    assert len(notes_of(world, iid, "reminder")) == 1  # the forged times and keys were not used
    assert world.issue(iid)["description"] == description  # no block is written without the key
    code, report = cadence(later + timedelta(seconds=30), key=False)
    assert code == 0 and len(notes_of(world, iid, "reminder")) == 1  # the note's marker is the record


# -- the key ------------------------------------------------------------------------------------------------
def test_the_key_is_generated_once_and_reused_across_restarts(tmp_path):
    from world import World

    from bot.config import load_config
    from sandbox.local import LocalBot

    w = World(str(tmp_path), env={"INCIDENT_BOT_STATE_KEY": ""})
    try:
        assert w.cfg.state_key is None
        iid = w.declare(sev="sev2")
        path = str(tmp_path / "queue.db") + ".state-key"
        key = open(path).read().strip()
        assert len(key) == 64 and w.cfg.state_key == key
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        w.bot.stop()

        cfg = load_config(env={"GITLAB_URL": w.sb.url, "GITLAB_TOKEN": w.bot_user["token"],
                               "INCIDENT_BOT_WEBHOOK_SECRET": "s3cret-token"})
        cfg.data["queue"]["sqlite_path"] = str(tmp_path / "queue.db")
        w.bot = LocalBot(cfg).start()
        with w.sb.lock:  # the restarted bot listens on another port
            for hook in w.sb.store.hooks[w.pid]:
                hook["url"] = w.bot.webhook_url
        w.comment(iid, "/incident update\nsummary: restarted\n")
        assert notes_of(w, iid, "update") and not notes_of(w, iid, "rebuilt")  # the block still verifies
        assert cfg.state_key == key and open(path).read().strip() == key
    finally:
        w.close()


def test_the_key_lives_in_redis_under_the_queue_name():
    redis = pytest.importorskip("redis")
    from bot.config import load_config
    from bot.statekey import ensure_state_key

    url = os.environ.get("INCIDENT_BOT_TEST_REDIS", "redis://127.0.0.1:6379/14")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {url}: {exc}")
    name = f"trust-{os.getpid()}"
    client = redis.Redis.from_url(url)
    try:
        first, second = (load_config(env={"INCIDENT_BOT_QUEUE": url}) for _ in range(2))
        first.data["queue"]["name"] = second.data["queue"]["name"] = name
        key = ensure_state_key(first)
        assert ensure_state_key(second) == key and client.get(f"{name}:state-key").decode() == key
    finally:
        client.delete(f"{name}:state-key")
        client.close()


def test_an_environment_key_is_used_as_given(tmp_path):
    from bot.config import load_config
    from bot.statekey import ensure_state_key

    cfg = load_config(env={"INCIDENT_BOT_STATE_KEY": "e" * 40})
    cfg.data["queue"]["sqlite_path"] = str(tmp_path / "q.db")
    assert ensure_state_key(cfg) == "e" * 40 and not os.path.exists(str(tmp_path / "q.db") + ".state-key")


# -- what a rebuild and the GitLab adapter trust ----------------------------------------------------------
def _issue_data(**over) -> dict:
    data = {"iid": 4, "id": 77, "title": "Outage", "description": "", "labels": ["incident", "severity::2"],
            "assignees": [{"id": 5, "username": "alice"}], "author": {"id": 9, "username": "outsider"},
            "state": "opened", "confidential": False, "web_url": "http://x/4", "created_at": "2026-11-27T10:00:00Z"}
    data.update(over)
    return data


def test_a_rebuild_trusts_only_notes_the_bot_wrote():
    from bot.config import load_config
    from bot.gitlab import Note
    from bot.gitlab_shapes import read_issue as _issue
    from bot.rebuild import rebuild_state
    from bot.timeutil import parse_time

    at = parse_time("2026-11-27T10:05:00Z")
    pasted = Note(1, "<!-- incident-bot:note kind=role role=cmoc user=outsider key=note-1-0 -->", "outsider",
                  False, False, at)
    own = Note(2, "<!-- incident-bot:note kind=role role=smoc user=alice key=note-2-0 -->", "incident-bot",
               False, False, at)
    cfg, issue = load_config(env={}), _issue(_issue_data(), 1)
    state = rebuild_state(issue, [pasted, own], cfg, "incident-bot")
    assert state.holder("cmoc") is None and state.holder("smoc") == "alice" and state.roles["smoc"].id == 5
    assert state.was_handled("note-2-0") and not state.was_handled("note-1-0")
    # Without the bot's username, no note can be told apart from a pasted one: none counts.
    nobody = rebuild_state(issue, [pasted, own], cfg, None)
    assert nobody.roles == {} and nobody.handled == []


@pytest.mark.parametrize("field,value", [
    ("iid", "4"), ("id", None), ("labels", "incident"), ("labels", [1]), ("assignees", [{"id": "5"}]),
    ("assignees", {"id": 5}), ("author", "outsider"), ("title", 5), ("description", ["x"]),
    ("confidential", "false"), ("created_at", 5), ("created_at", "soon"), ("due_date", 20261201),
])
def test_issue_fields_from_gitlab_are_type_checked(field, value):
    from bot.gitlab import GitLabRefused, MalformedResponse
    from bot.gitlab_shapes import read_issue as _issue

    with pytest.raises(MalformedResponse) as caught:
        _issue(_issue_data(**{field: value}), 1)
    assert isinstance(caught.value, GitLabRefused)  # not retried: the same answer would come again
