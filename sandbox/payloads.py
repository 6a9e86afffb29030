"""Webhook payloads (Issue Hook, Note Hook) with every key of GitLab's documented examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import iso, utc_text
from .entities import avatar
from .issues import STATE_ID
from .store import Store


def hook_user(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": user["name"], "username": user["username"],
            "avatar_url": avatar(user), "email": "[REDACTED]"}


def hook_assignee(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": user["name"], "username": user["username"], "avatar_url": avatar(user)}


def hook_project(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    web = store.project_url(p)
    ssh = f"git@127.0.0.1:{p['path_with_namespace']}.git"
    return {"id": p["id"], "name": p["name"], "description": p["description"], "web_url": web,
            "avatar_url": None, "git_ssh_url": ssh, "git_http_url": f"{web}.git", "namespace": p["namespace"],
            "visibility_level": 20, "path_with_namespace": p["path_with_namespace"], "default_branch": "main",
            "ci_config_path": None, "homepage": web, "url": ssh, "ssh_url": ssh, "http_url": f"{web}.git"}


def hook_repository(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    web = store.project_url(p)
    return {"name": p["name"], "url": f"git@127.0.0.1:{p['path_with_namespace']}.git",
            "description": p["description"], "homepage": web}


def hook_label(lb: dict[str, Any]) -> dict[str, Any]:
    return {"id": lb["id"], "title": lb["title"], "color": lb["color"], "project_id": lb["project_id"],
            "created_at": iso(lb["created_at"]), "updated_at": iso(lb["updated_at"]), "template": False,
            "description": lb["description"], "type": "ProjectLabel", "group_id": None}


def hook_labels(store: Store, pid: int, titles: list[str]) -> list[dict[str, Any]]:
    return [hook_label(lb) for lb in store.label_objects(pid, titles)]


def issue_attributes(store: Store, i: dict[str, Any], stamp=iso) -> dict[str, Any]:
    incident = i["issue_type"] == "incident"
    return {
        "id": i["id"], "title": i["title"], "assignee_ids": list(i["assignee_ids"]),
        "assignee_id": i["assignee_ids"][0] if i["assignee_ids"] else None, "author_id": i["author_id"],
        "project_id": i["project_id"], "created_at": stamp(i["created_at"]), "updated_at": stamp(i["updated_at"]),
        "updated_by_id": i["updated_by_id"], "last_edited_at": stamp(i["last_edited_at"]),
        "last_edited_by_id": i["last_edited_by_id"], "relative_position": i["id"] * 513,
        "description": i["description"], "milestone_id": None, "state_id": STATE_ID[i["state"]],
        "confidential": i["confidential"], "discussion_locked": None, "due_date": i["due_date"],
        "moved_to_id": None, "duplicated_to_id": None, "time_estimate": 0, "total_time_spent": 0,
        "time_change": 0, "human_total_time_spent": None, "human_time_estimate": None,
        "human_time_change": None, "weight": None, "health_status": None,
        "type": "Incident" if incident else i["issue_type"].replace("_", " ").title().replace(" ", ""),
        "iid": i["iid"], "url": store.issue_url(i), "state": i["state"], "closed_at": stamp(i["closed_at"]),
        "severity": "unknown", "escalation_status": "triggered" if incident else None,
        "escalation_policy": None,  # a Premium feature; GitLab sends none without a policy
        "customer_relations_contacts": [],
        "labels": hook_labels(store, i["project_id"], i["labels"]),
    }


def _change_value(store: Store, i: dict[str, Any], field: str, value: Any) -> Any:
    if field == "labels":
        return hook_labels(store, i["project_id"], value or [])
    if field == "assignees":
        return [hook_assignee(store.users[uid]) for uid in value or []]
    if isinstance(value, datetime):
        return utc_text(value)  # GitLab's changes use the "... UTC" style
    return value


def issue_hook(store: Store, i: dict[str, Any], actor: dict[str, Any], action: str,
               changes: dict[str, tuple[Any, Any]], object_kind: str = "issue") -> dict[str, Any]:
    p = store.projects[i["project_id"]]
    attrs = issue_attributes(store, i) | {"action": action}
    payload: dict[str, Any] = {
        "object_kind": object_kind,
        "event_type": f"confidential_{object_kind}" if i["confidential"] else object_kind,
        "user": hook_user(actor), "project": hook_project(store, p), "object_attributes": attrs,
        "labels": attrs["labels"],
        "changes": {field: {"previous": _change_value(store, i, field, prev),
                            "current": _change_value(store, i, field, cur)}
                    for field, (prev, cur) in changes.items()},
        "repository": hook_repository(store, p),
    }
    if i["assignee_ids"]:  # GitLab leaves these out when nobody is assigned
        payload["assignees"] = [hook_assignee(store.users[uid]) for uid in i["assignee_ids"]]
        payload["assignee"] = payload["assignees"][0]
    return payload


def note_hook(store: Store, n: dict[str, Any], actor: dict[str, Any], action: str) -> dict[str, Any]:
    i = store.issues[n["issue_id"]]
    p = store.projects[i["project_id"]]
    issue = issue_attributes(store, i, stamp=utc_text) | {"position": 0, "branch_name": None}
    confidential = n["internal"] or i["confidential"]
    return {
        "object_kind": "note", "event_type": "confidential_note" if confidential else "note",
        "user": hook_user(actor), "project_id": p["id"], "project": hook_project(store, p),
        "repository": hook_repository(store, p),
        "object_attributes": {
            "id": n["id"], "note": n["body"], "noteable_type": "Issue", "author_id": n["author_id"],
            "created_at": utc_text(n["created_at"]), "updated_at": utc_text(n["updated_at"]),
            "project_id": p["id"], "attachment": None, "line_code": None, "commit_id": "",
            "noteable_id": i["id"], "system": False, "st_diff": None, "action": action,
            "url": f"{store.issue_url(i)}#note_{n['id']}", "discussion_id": n["discussion_id"], "type": None,
            "updated_by_id": None, "resolved_at": None, "resolved_by_id": None,
        } | ({"internal": n["internal"]} if getattr(store, "note_hook_internal", True) else {}),
        "issue": issue,
    }


def hook_event_name(payload: dict[str, Any]) -> str:
    confidential = payload["event_type"].startswith("confidential_")
    base = "Note Hook" if payload["object_kind"] == "note" else "Issue Hook"
    return f"Confidential {base}" if confidential else base
