"""The sandbox's issue search and its faults that apply the call, as GitLab behaves, over real HTTP."""

from __future__ import annotations

import time

import gitlab
import pytest
import requests

from sandbox import Sandbox

MARKER = "<!-- incident-bot:postmortem-of project=1 iid=3 -->"


@pytest.fixture
def sb():
    s = Sandbox().start()
    yield s
    s.stop()


@pytest.fixture
def project(sb):
    alice = sb.add_user("alice")
    p = sb.add_project("support/incidents")
    sb.add_member(p["id"], alice["id"], access_level=30)
    return gitlab.Gitlab(sb.url, private_token=alice["token"]).projects.get(p["id"])


def found(project, search, **kw) -> list[str]:
    return sorted(i.title for i in project.issues.list(search=search, get_all=True, **kw))


def test_search_finds_words_and_prefixes_but_never_html_comments(project):
    project.issues.create({"title": "Postmortem: Incident #3 - SSO logins failing",
                           "description": "Summary of the outage.\n\n" + MARKER + "\n<b>bolded</b>"})
    project.issues.create({"title": "Runbook for runners", "description": "Café opening hours"})
    # The marker is an HTML comment: none of its words is indexed, in any spelling of the query.
    assert found(project, "incident-bot:postmortem-of project=1 iid=3") == []
    assert found(project, "incident-bot") == [] and found(project, "iid") == []
    assert found(project, MARKER) == []
    # Words of the title and the description are; each term is a prefix, and terms are ANDed.
    assert found(project, "postmortem") == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, "postmort outag") == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, "postmortem runners") == []
    assert found(project, "run") == ["Runbook for runners"]
    # `:` and `=` split terms; tag names are not words; accents are folded on both sides.
    assert found(project, "summary:outage") == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, "bolded") == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, "b=bolded") == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, "cafe") == ["Runbook for runners"]
    # A quoted phrase asks for the words in a row; stop words alone match nothing.
    assert found(project, '"sso logins"') == ["Postmortem: Incident #3 - SSO logins failing"]
    assert found(project, '"logins sso"') == []
    assert found(project, "the of") == []
    # `in=title` looks at the title only.
    assert found(project, "outage", **{"in": "title"}) == []


def test_non_latin_search_falls_back_to_a_substring_match(project):
    project.issues.create({"title": "手順書を書く", "description": "x"})
    assert found(project, "手順書") == ["手順書を書く"]


def test_a_502_after_applying_creates_the_issue_and_loses_the_answer(sb, project):
    sb.inject_fault("POST", r"/projects/\d+/issues$", status=502, applied=True)
    with pytest.raises(gitlab.GitlabCreateError) as err:
        project.issues.create({"title": "lost answer"})
    assert err.value.response_code == 502
    assert [i.title for i in project.issues.list(get_all=True)] == ["lost answer"]


def test_a_timeout_after_applying_creates_the_note(sb, project):
    issue = project.issues.create({"title": "t"})
    sb.inject_fault("POST", r"/notes$", status=None, delay=1.0, applied=True)
    slow = gitlab.Gitlab(sb.url, private_token=sb.token_for("alice"), timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        slow.projects.get(project.id, lazy=True).issues.get(issue.iid, lazy=True).notes.create({"body": "hi"})
    # The note exists as soon as the call returned, long before its answer would have arrived.
    assert time.monotonic() - started < 0.9
    assert [n.body for n in issue.notes.list(get_all=True)] == ["hi"]


def test_skip_lets_the_first_calls_through(sb, project):
    sb.inject_fault("POST", r"/projects/\d+/issues$", status=500, skip=2)
    project.issues.create({"title": "one"})
    project.issues.create({"title": "two"})
    with pytest.raises(gitlab.GitlabCreateError):
        project.issues.create({"title": "three"})  # not applied: a plain 500 changes nothing
    project.issues.create({"title": "four"})
    assert sorted(i.title for i in project.issues.list(get_all=True)) == ["four", "one", "two"]
