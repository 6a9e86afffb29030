"""The bot acts on the note GitLab stores, not on what a webhook says about it (security issue, item 4).

Forged deliveries are signed with the right secret (as anyone who learned it could) and posted straight
to the bot; the notes they name are real notes made through python-gitlab.
"""

from __future__ import annotations

import contextlib
import copy
import json
import urllib.request
import uuid

from test_postmortem_flow import followups, resolved_incident, set_actions
from world import SECRET

from sandbox import MAINTAINER


@contextlib.contextmanager
def comments_unheard(world):
    """Comments made meanwhile send no webhook: only the forged delivery will name them."""
    (hook,) = world.sb.store.hooks[world.pid]
    hook["note_events"] = hook["confidential_note_events"] = False
    try:
        yield
    finally:
        hook["note_events"] = hook["confidential_note_events"] = True


def forge(world, note, *, body=None, author=None, project=None, iid=None):
    """A Note Hook for `note` (a python-gitlab note), built from a real delivery, with claims changed."""
    real = next(d for d in reversed(world.sb.deliveries) if d["event"] == "Note Hook")
    payload = copy.deepcopy(real["payload"])
    attrs = payload["object_attributes"]
    attrs.update(id=note.id, note=body if body is not None else note.body, action="create")
    user = world.users[author] if author else note.author
    payload["user"] = {"id": user["id"], "name": user.get("name", ""), "username": user["username"],
                       "avatar_url": None, "email": "[REDACTED]"}
    attrs["author_id"] = user["id"]
    if project is not None:
        payload["project"]["id"] = payload["project_id"] = attrs["project_id"] = project
        payload["issue"]["project_id"] = project
    payload["issue"]["iid"] = iid if iid is not None else note.issue_iid
    # The issue as it is now (the template delivery may predate the incident label).
    current = world.sb.issue(project or world.pid, payload["issue"]["iid"])
    payload["issue"]["labels"] = [{"title": title} for title in current["labels"]]
    headers = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": SECRET, "Content-Type": "application/json",
               "Idempotency-Key": str(uuid.uuid4()), "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    req = urllib.request.Request(world.bot.webhook_url, data=json.dumps(payload).encode(), headers=headers,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202
    world.settle()


def test_a_forged_author_does_not_run_as_the_maintainer(world):
    iid = world.declare()
    with comments_unheard(world):
        note = world.comment(iid, "/incident resolve\nsummary: done\n", who="rita")
    forge(world, note, author="carol")  # carol is a Maintainer
    assert world.state(iid).status == "active" and world.issue(iid)["state"] == "opened"
    assert world.kinds(iid)[-1] == "refusal" and "Developer" in world.last_reply(iid)


def test_the_stored_text_runs_not_the_payloads(world):
    iid = world.declare()
    with comments_unheard(world):
        note = world.comment(iid, "/incident update\nsummary: the real words\n")
    forge(world, note, body="/incident resolve\nsummary: forged\n")
    state = world.state(iid)
    assert state.status == "active" and state.update_count == 1
    assert "the real words" in world.reply(iid, "update") and "forged" not in world.last_reply(iid)


def test_a_payload_naming_another_project_is_refused(world):
    other = world.sb.add_project("security/private")
    world.sb.add_member(other["id"], world.bot_user["id"], MAINTAINER)
    target = world.sb.client("incident-bot").projects.get(other["id"]).issues.create({"title": "Secret"})
    iid = world.create_issue()
    world.comment(iid, "Seen by customers too.")
    with comments_unheard(world):
        note = world.comment(iid, "/incident declare sev1")
    forge(world, note, project=other["id"], iid=target.iid)
    assert world.state(iid) is None and world.bot_notes(iid) == []
    assert world.sb.issue(other["id"], target.iid)["description"] in (None, "")
    assert [n for n in world.sb.notes(other["id"], target.iid) if not n["system"]] == []


def test_a_postmortem_marker_naming_another_project_is_ignored(world):
    other = world.sb.add_project("security/private")
    world.sb.add_member(other["id"], world.bot_user["id"], MAINTAINER)
    secret = world.sb.client("incident-bot").projects.get(other["id"]).issues.create({"title": "Secret"})
    iid, pm_iid = resolved_incident(world)
    pm = world.issue(pm_iid)
    pointed = pm["description"].replace(f"postmortem-of project={world.pid} iid={iid}",
                                        f"postmortem-of project={other['id']} iid={secret.iid}")
    assert pointed != pm["description"]
    world.edit_issue(pm_iid, description=pointed)
    set_actions(world, pm_iid, ["- [ ] Add a runbook for SSO @bob"])
    (followup,) = followups(world)
    assert world.sb.links(other["id"], secret.iid) == []
    assert {x["project_id"] for x in world.sb.links(world.pid, followup["iid"])} == {world.pid}
