"""The sandbox's project hooks behave like GitLab's: the hooks API (Maintainer only), no retry, temporary
disabling after 4 failures in a row with a doubling back-off, for good after 40, dropped events while
disabled, and recursion detection along an event UUID's chain."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import gitlab
import pytest
import requests
from test_sandbox import Receiver

from sandbox import DEVELOPER, MAINTAINER, Sandbox
from sandbox.hooks import backoff, executable

DISCARD = "http://127.0.0.1:9/webhook"  # refused at once


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sb(clock):
    s = Sandbox(clock=clock).start()
    yield s
    s.stop()


def setup(sb, url=DISCARD):
    p = sb.add_project("support/incidents")
    for name, level in (("carol", MAINTAINER), ("alice", DEVELOPER)):
        user = sb.add_user(name)
        sb.add_member(p["id"], user["id"], level)
    hook = sb.add_hook(p["id"], url, token="t")
    issue = sb.client("alice").projects.get(p["id"], lazy=True).issues.create({"title": "down"})
    sb.wait_idle()
    return p, hook, issue


def comment(sb, issue, text="hello"):
    issue.notes.create({"body": text})
    sb.wait_idle()


def test_hooks_api_needs_maintainer_and_never_shows_the_token(sb):
    p, hook, _ = setup(sb)
    with pytest.raises(gitlab.GitlabListError) as denied:
        sb.client("alice").projects.get(p["id"], lazy=True).hooks.list()
    assert denied.value.response_code == 403
    hooks = sb.client("carol").projects.get(p["id"], lazy=True).hooks.list()
    assert [h.id for h in hooks] == [hook["id"]]
    seen = hooks[0].attributes
    assert "token" not in seen and seen["alert_status"] == "executable" and seen["disabled_until"] is None
    assert seen["note_events"] and seen["confidential_note_events"] and seen["issues_events"]


def test_hooks_api_creates_and_edits_a_hook(sb):
    p, _, _ = setup(sb)
    project = sb.client("carol").projects.get(p["id"], lazy=True)
    made = project.hooks.create({"url": "http://bot.example/webhook", "note_events": True, "token": "x"})
    assert made.note_events and not made.issues_events and made.push_events  # GitLab's defaults
    made.issues_events = True
    made.save()
    assert project.hooks.get(made.id).issues_events
    with pytest.raises(gitlab.GitlabCreateError) as denied:
        sb.client("alice").projects.get(p["id"], lazy=True).hooks.create({"url": "http://x.example"})
    assert denied.value.response_code == 403


def test_four_failures_disable_the_hook_for_a_minute_and_later_events_are_dropped(sb, clock):
    p, hook, issue = setup(sb)  # the issue's own event was the first failure
    for _ in range(3):
        comment(sb, issue)
    assert len(sb.deliveries) == 4 and all(d["status"] is None for d in sb.deliveries)  # no retry
    seen = sb.client("carol").projects.get(p["id"], lazy=True).hooks.get(hook["id"])
    assert seen.alert_status == "temporarily_disabled"
    assert seen.disabled_until == "2026-12-01T12:01:00.000Z"
    comment(sb, issue, "while disabled")
    assert len(sb.deliveries) == 4 and [d["payload"]["object_attributes"]["note"] for d in sb.dropped] == ["while disabled"]
    clock.now += timedelta(minutes=1, seconds=1)  # the back-off ran out: fired again, and it fails again
    comment(sb, issue)
    assert len(sb.deliveries) == 5
    seen = sb.client("carol").projects.get(p["id"], lazy=True).hooks.get(hook["id"])
    assert seen.disabled_until == "2026-12-01T12:03:01.000Z"  # two minutes: the back-off doubled


def test_back_off_doubles_up_to_a_day_and_the_fortieth_failure_disables_for_good():
    hook, now, delays = {"id": 1, "recent_failures": 0, "disabled_until": None}, 0.0, []
    while executable(hook, now):
        backoff(hook, now)
        if hook["disabled_until"] is not None:
            delays.append(hook["disabled_until"] - now)
            now = hook["disabled_until"] + 1
    assert delays[:4] == [60, 120, 240, 480] and max(delays) == 86400 and hook["recent_failures"] == 40
    assert not executable(hook, now + 10 * 86400)


def test_a_success_re_enables_through_the_test_endpoint(sb):
    receiver = Receiver(status=200)
    p, hook, issue = setup(sb)
    for _ in range(3):
        comment(sb, issue)
    project = sb.client("carol").projects.get(p["id"], lazy=True)
    h = project.hooks.get(hook["id"])
    h.url = receiver.url
    h.save()
    assert project.hooks.get(hook["id"]).alert_status == "temporarily_disabled"  # an edit does not re-enable
    answer = requests.post(f"{sb.url}/api/v4/projects/{p['id']}/hooks/{hook['id']}/test/issues_events",
                           headers={"PRIVATE-TOKEN": sb.token_for("carol")}, timeout=10)
    assert answer.status_code == 201 and len(receiver.requests) == 1
    assert project.hooks.get(hook["id"]).alert_status == "executable"
    comment(sb, issue, "back")
    assert receiver.requests[-1]["json"]["object_attributes"]["note"] == "back"


def test_a_call_made_by_a_receiver_does_not_fire_the_same_hooks_again(sb):
    receiver = Receiver(status=200)
    p, hook, issue = setup(sb)
    sb.store.hooks[p["id"]][0]["url"] = receiver.url
    other = Receiver(status=200)
    sb.add_hook(p["id"], other.url)
    comment(sb, issue, "from a person")
    event_uuid = receiver.requests[-1]["headers"]["X-Gitlab-Event-Uuid"]
    before = (len(receiver.requests), len(other.requests))
    # The receiver answers through the API, forwarding the event's UUID: neither hook of the chain fires.
    requests.post(f"{sb.url}/api/v4/projects/{p['id']}/issues/{issue.iid}/notes", data={"body": "reply"},
                  headers={"PRIVATE-TOKEN": sb.token_for("carol"), "X-Gitlab-Event-UUID": event_uuid}, timeout=10)
    sb.wait_idle()
    assert (len(receiver.requests), len(other.requests)) == before
    assert {b["hook_id"] for b in sb.recursion.blocked} == {hook["id"], sb.store.hooks[p["id"]][1]["id"]}
    comment(sb, issue, "a new event")  # no header: a new chain, both fire
    assert (len(receiver.requests), len(other.requests)) == (before[0] + 1, before[1] + 1)
