"""Project hooks API (lib/api/project_hooks.rb): list, get, add, edit, delete and test a project's hooks.

Every route needs `admin_project`, that is Maintainer (403 below it). The token is write-only: GitLab never
shows it. Testing a hook (lib/api/hooks/test.rb) sends a sample event at once; a 2xx answer re-enables a
disabled hook (201), anything else is a 422 and counts as a failure, as a real delivery would.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import Blueprint, current_app, g, jsonify

from . import payloads
from .errors import ApiError, bad_request, forbidden, not_found
from .hooks import HOOK_EVENT_FLAGS, build_request, hook_entity, record_outcome
from .params import boolean, merged
from .store import MAINTAINER

bp = Blueprint("gitlab_hooks_api", __name__, url_prefix="/api/v4")
TRIGGERS = ("issues_events", "confidential_issues_events", "note_events", "confidential_note_events")


def sandbox():
    return current_app.extensions["sandbox"]


def _hooks(st, pid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    project = st.project(pid)
    if st.level(project["id"], g.user) < MAINTAINER:
        raise forbidden()
    return project, st.hooks[project["id"]]


def _hook(hooks: list[dict[str, Any]], hook_id: int) -> dict[str, Any]:
    found = next((h for h in hooks if h["id"] == hook_id), None)
    if found is None:
        raise not_found()
    return found


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag in HOOK_EVENT_FLAGS:
        if data.get(flag) is not None:
            out[flag] = bool(boolean(data[flag], flag))
    for key in ("url", "token", "name", "description"):
        if data.get(key) is not None:
            out[key] = str(data[key])
    return out


@bp.get("/projects/<pid>/hooks")
def list_hooks(pid: str):
    sb = sandbox()
    with sb.transaction() as st:
        _, hooks = _hooks(st, pid)
        return jsonify([hook_entity(h, sb.now()) for h in hooks])


@bp.get("/projects/<pid>/hooks/<int:hook_id>")
def get_hook(pid: str, hook_id: int):
    sb = sandbox()
    with sb.transaction() as st:
        _, hooks = _hooks(st, pid)
        return jsonify(hook_entity(_hook(hooks, hook_id), sb.now()))


@bp.post("/projects/<pid>/hooks")
def add_hook(pid: str):
    data = _settings(merged())
    if not data.get("url"):
        raise bad_request("url is missing")
    sb = sandbox()
    with sb.transaction() as st:
        project, _ = _hooks(st, pid)
        url = data.pop("url")
        # GitLab's defaults for a new hook: push events on, the others off.
        events = {flag: data.pop(flag, flag in ("push_events", "enable_ssl_verification"))
                  for flag in HOOK_EVENT_FLAGS}
        hook = st.add_hook(project["id"], url, token=data.pop("token", None),
                           **{k: v for k, v in events.items() if k in TRIGGERS})
        hook.update({k: v for k, v in events.items() if k not in TRIGGERS}, **data)
        return jsonify(hook_entity(hook, sb.now())), 201


@bp.put("/projects/<pid>/hooks/<int:hook_id>")
def edit_hook(pid: str, hook_id: int):
    data = _settings(merged())
    sb = sandbox()
    with sb.transaction() as st:
        _, hooks = _hooks(st, pid)
        hook = _hook(hooks, hook_id)
        if "url" in data and data["url"] != hook["url"] and "token" not in data:
            hook["token"] = None  # GitLab resets the secret token when the URL changes
        hook.update(data)
        return jsonify(hook_entity(hook, sb.now()))


@bp.delete("/projects/<pid>/hooks/<int:hook_id>")
def delete_hook(pid: str, hook_id: int):
    with sandbox().transaction() as st:
        _, hooks = _hooks(st, pid)
        hooks.remove(_hook(hooks, hook_id))
        return "", 204


@bp.post("/projects/<pid>/hooks/<int:hook_id>/test/<trigger>")
def test_hook(pid: str, hook_id: int, trigger: str):
    if trigger not in TRIGGERS:
        raise bad_request("trigger does not have a valid value")
    sb = sandbox()
    with sb.transaction() as st:
        project, hooks = _hooks(st, pid)
        hook = _hook(hooks, hook_id)
        issues = sorted((i for i in st.issues.values() if i["project_id"] == project["id"]), key=lambda i: i["id"])
        if not issues:
            raise bad_request("Ensure the project has issues.")
        payload = payloads.issue_hook(st, issues[0], g.user, None, {}, sb.object_kind)
        headers, body = build_request(hook, payload, g.event_uuid, sb.url or "", time.time())
        url = hook["url"]
    try:  # sent at once, outside the lock: the receiver may call the API while it answers
        status: int | None = requests.post(url, data=body, headers=headers, timeout=10).status_code
    except requests.RequestException:
        status = None
    with sb.lock:
        record_outcome(hook, status, sb.now())
    if status is None or not 200 <= status < 300:
        raise ApiError(422, {"message": f"Error: hook answered {status or 'nothing'}"})
    return jsonify({"message": "201 Created"}), 201
