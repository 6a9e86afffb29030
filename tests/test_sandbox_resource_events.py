"""The sandbox's resource events and `closed_by`, as GitLab serves them (the bot reads them to learn
who changed an issue: lib/api/resource_label_events.rb, lib/api/resource_state_events.rb, Issue's state
machine clearing `closed_by` on reopen)."""

from __future__ import annotations

import gitlab
import pytest

from sandbox import REPORTER, Sandbox


@pytest.fixture
def sb():
    box = Sandbox().start()
    yield box
    box.stop()


def test_label_and_state_events_name_who_did_it(sb):
    alice, rita = sb.add_user("alice"), sb.add_user("rita")
    project = sb.add_project("support/incidents")
    sb.add_member(project["id"], alice["id"], 30)
    sb.add_member(project["id"], rita["id"], REPORTER)
    as_alice = gitlab.Gitlab(sb.url, private_token=sb.token_for("alice")).projects.get(project["id"])
    as_rita = gitlab.Gitlab(sb.url, private_token=sb.token_for("rita")).projects.get(project["id"])

    issue = as_alice.issues.create({"title": "t", "labels": "customer"})
    as_rita.issues.update(issue.iid, {"add_labels": "incident", "remove_labels": "customer"})
    as_rita.issues.update(issue.iid, {"state_event": "close"})
    closed = as_alice.issues.get(issue.iid)
    assert closed.state == "closed" and closed.attributes["closed_by"]["username"] == "rita"
    as_alice.issues.update(issue.iid, {"state_event": "reopen"})
    assert as_alice.issues.get(issue.iid).attributes["closed_by"] is None  # cleared on reopen, as GitLab does

    path = f"/projects/{project['id']}/issues/{issue.iid}/resource_label_events"
    events = as_alice.manager.gitlab.http_list(path, get_all=True)
    assert [(e["user"]["username"], e["action"], e["label"]["name"]) for e in events] == [
        ("alice", "add", "customer"), ("rita", "add", "incident"), ("rita", "remove", "customer")]
    assert all(e["resource_type"] == "Issue" and e["resource_id"] == issue.id for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)

    path = f"/projects/{project['id']}/issues/{issue.iid}/resource_state_events"
    states = as_alice.manager.gitlab.http_list(path, get_all=True)
    assert [(e["user"]["username"], e["state"]) for e in states] == [("rita", "closed"), ("alice", "reopened")]
    assert {"id", "user", "created_at", "resource_type", "resource_id", "source_commit",
            "source_merge_request_id", "state"} <= set(states[0])
    # Labels and state changes are resource events only, never system notes
    # (SystemNotes::IssuablesService#change_status and #change_label create none).
    notes = as_alice.manager.gitlab.http_list(f"/projects/{project['id']}/issues/{issue.iid}/notes", get_all=True)
    assert [n["body"] for n in notes if n["system"]] == []


def test_resource_events_are_paginated_by_twenty(sb):
    alice = sb.add_user("alice")
    project = sb.add_project("support/incidents")
    sb.add_member(project["id"], alice["id"], 30)
    gl = gitlab.Gitlab(sb.url, private_token=sb.token_for("alice"))
    issue = gl.projects.get(project["id"]).issues.create({"title": "t", "labels": ",".join(f"l{n}" for n in range(25))})
    path = f"/projects/{project['id']}/issues/{issue.iid}/resource_label_events"
    assert len(gl.http_get(path)) == 20
    assert len(gl.http_list(path, get_all=True)) == 25
