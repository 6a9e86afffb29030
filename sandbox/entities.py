"""REST v4 JSON shapes (GitLab's API entities) built from store records."""

from __future__ import annotations

from typing import Any

from .clock import iso
from .issues import links_of
from .store import Store


def avatar(user: dict[str, Any]) -> str:
    return f"https://www.gravatar.com/avatar/{user['id']:032x}?s=80&d=identicon"


def user_basic(store: Store, user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "username": user["username"], "name": user["name"], "state": user["state"],
            "locked": False, "avatar_url": avatar(user), "web_url": f"{store.base_url}/{user['username']}"}


def user_full(store: Store, user: dict[str, Any], own: bool = False) -> dict[str, Any]:
    data = user_basic(store, user) | {"created_at": iso(user["created_at"]), "bio": "", "bot": user["bot"],
                                      "public_email": None, "is_admin": user["admin"] if own else None}
    if own:
        data["email"] = user["email"]
    return data


def member(store: Store, user: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    return user_basic(store, user) | {"access_level": record["access_level"], "created_at": iso(record["created_at"]),
                                      "expires_at": None,
                                      "membership_state": record.get("membership_state", "active")}


def project(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    web = store.project_url(p)
    return {"id": p["id"], "description": p["description"], "name": p["name"],
            "name_with_namespace": f"{p['namespace']} / {p['name']}", "path": p["path"],
            "path_with_namespace": p["path_with_namespace"], "created_at": iso(p["created_at"]),
            "default_branch": "main", "web_url": web, "http_url_to_repo": f"{web}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{p['path_with_namespace']}.git", "visibility": "public",
            "issues_enabled": True, "shared_with_groups": [dict(g) for g in p["shared_with_groups"]],
            "namespace": {"id": p["id"] + 10000, "name": p["namespace"],
                                                  "path": p["namespace"], "kind": "group",
                                                  "full_path": p["namespace"]}}


def label(store: Store, lb: dict[str, Any]) -> dict[str, Any]:
    pid = lb["project_id"]
    open_count = sum(1 for i in store.issues.values()
                     if i["project_id"] == pid and i["state"] == "opened" and lb["title"] in i["labels"])
    return {"id": lb["id"], "name": lb["title"], "color": lb["color"], "text_color": "#FFFFFF",
            "description": lb["description"], "description_html": "", "open_issues_count": open_count,
            "closed_issues_count": 0, "open_merge_requests_count": 0, "subscribed": False, "priority": None,
            "is_project_label": True}


def issue(store: Store, i: dict[str, Any]) -> dict[str, Any]:
    assignees = [user_basic(store, store.users[uid]) for uid in i["assignee_ids"]]
    p = store.projects[i["project_id"]]
    url = store.issue_url(i)
    api = f"{store.base_url}/api/v4/projects/{p['id']}"
    notes = store.issue_notes(i)
    return {
        "id": i["id"], "iid": i["iid"], "project_id": i["project_id"], "title": i["title"],
        "description": i["description"], "state": i["state"], "created_at": iso(i["created_at"]),
        "updated_at": iso(i["updated_at"]), "closed_at": iso(i["closed_at"]),
        "closed_by": user_basic(store, store.users[i["closed_by_id"]]) if i["closed_by_id"] else None,
        "labels": list(i["labels"]), "milestone": None, "assignees": assignees,
        "author": user_basic(store, store.users[i["author_id"]]),
        "type": i["issue_type"].upper(), "assignee": assignees[0] if assignees else None,
        "user_notes_count": sum(1 for n in notes if not n["system"]), "merge_requests_count": 0,
        "upvotes": 0, "downvotes": 0, "due_date": i["due_date"], "confidential": i["confidential"],
        "discussion_locked": None, "issue_type": i["issue_type"], "web_url": url,
        "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": None,
                       "human_total_time_spent": None},
        "task_completion_status": {"count": 0, "completed_count": 0}, "has_tasks": False,
        "blocking_issues_count": 0, "severity": "UNKNOWN", "moved_to_id": None,
        "service_desk_reply_to": None, "weight": None,
        "references": {"short": f"#{i['iid']}", "relative": f"#{i['iid']}",
                       "full": f"{p['path_with_namespace']}#{i['iid']}"},
        "_links": {"self": f"{api}/issues/{i['iid']}", "notes": f"{api}/issues/{i['iid']}/notes",
                   "award_emoji": f"{api}/issues/{i['iid']}/award_emoji", "project": api,
                   "closed_as_duplicate_of": None},
    }


def note(store: Store, n: dict[str, Any]) -> dict[str, Any]:
    return {"id": n["id"], "type": None, "body": n["body"], "author": user_basic(store, store.users[n["author_id"]]),
            "created_at": iso(n["created_at"]), "updated_at": iso(n["updated_at"]), "system": n["system"],
            "noteable_id": n["issue_id"], "noteable_type": "Issue", "project_id": n["project_id"],
            "resolvable": False, "confidential": n["internal"], "internal": n["internal"],
            "noteable_iid": n["iid"], "commands_changes": {}, "attachment": None, "imported": False,
            "imported_from": "none"}


def label_basic(lb: dict[str, Any]) -> dict[str, Any]:
    return {"id": lb["id"], "name": lb["title"], "color": lb["color"], "description": lb["description"],
            "description_html": "", "text_color": "#FFFFFF"}


def resource_label_event(store: Store, e: dict[str, Any]) -> dict[str, Any]:
    """`API::Entities::ResourceLabelEvent`."""
    return {"id": e["id"], "user": user_basic(store, store.users[e["user_id"]]), "created_at": iso(e["created_at"]),
            "resource_type": "Issue", "resource_id": e["issue_id"], "label": label_basic(e["label"]),
            "action": e["action"]}


def resource_state_event(store: Store, e: dict[str, Any]) -> dict[str, Any]:
    """`API::Entities::ResourceStateEvent`."""
    return {"id": e["id"], "user": user_basic(store, store.users[e["user_id"]]), "created_at": iso(e["created_at"]),
            "resource_type": "Issue", "resource_id": e["issue_id"], "source_commit": None,
            "source_merge_request_id": None, "state": e["state"]}


def linked_issues(store: Store, i: dict[str, Any], viewer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issues linked to `i` as GitLab lists them; viewer None sees everything (for assertions)."""
    out = []
    for link, other, link_type in links_of(store, i):
        if viewer is None or store.can_read_issue(other, viewer):
            out.append(issue(store, other) | {"issue_link_id": link["id"], "link_type": link_type,
                                              "link_created_at": iso(link["created_at"]),
                                              "link_updated_at": iso(link["created_at"])})
    return out
