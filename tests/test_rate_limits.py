"""Rate limits (GitLab.com: 60 new notes and 200 new issues a minute per user; older GitLab answers 429
without Retry-After) and the deliveries that will not be retried, listed and replayed through the CLI."""

from __future__ import annotations

import gitlab
import pytest
from world import World


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
