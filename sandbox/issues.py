"""Issue creation, updates and links, with GitLab's side effects: system notes and Issue Hook events."""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .store import OWNER, Store, discussion_id

STATE_ID = {"opened": 1, "closed": 2}
ISSUE_TYPES = ("issue", "incident", "test_case", "task")
ADMIN_FIELDS = ("labels", "add_labels", "remove_labels", "assignee_ids", "due_date", "issue_type")


def label_ref(title: str) -> str:
    return f"~{title}" if re.fullmatch(r"\w+", title) else f'~"{title}"'


def _dedupe(items: list[Any]) -> list[Any]:
    seen, out = set(), []
    for item in items:
        key = item.lower() if isinstance(item, str) else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _scope(title: str) -> str | None:
    return title.rsplit("::", 1)[0] if "::" in title else None


def _resolve_labels(store: Store, pid: int, titles: list[str]) -> list[str]:
    titles = _dedupe([t.strip() for t in titles if t and t.strip()])
    titles = [store.ensure_label(pid, t)["title"] for t in titles]
    if store.scoped_labels:  # Premium: the last label of a scope wins
        kept: list[str] = []
        for t in titles:
            scope = _scope(t)
            if scope is not None:
                kept = [k for k in kept if _scope(k) != scope]
            kept.append(t)
        titles = kept
    return sorted(titles, key=str.lower)


def _assignees(store: Store, ids: list[int]) -> list[int]:
    ids = _dedupe([i for i in ids if i in store.users])
    if store.assignee_limit is not None:
        ids = ids[: store.assignee_limit]  # GitLab Free keeps the first one
    return ids


def add_system_note(store: Store, issue: dict[str, Any], actor: dict[str, Any], body: str) -> dict[str, Any]:
    nid = store.next_id("note")
    now = store.clock()
    note = {"id": nid, "project_id": issue["project_id"], "issue_id": issue["id"], "iid": issue["iid"],
            "body": body, "author_id": actor["id"], "created_at": now, "updated_at": now,
            "system": True, "internal": False, "discussion_id": discussion_id("note", nid)}
    store.notes[nid] = note
    return note  # system notes fire no webhook


def record_label_events(store: Store, issue: dict[str, Any], actor: dict[str, Any], added: list[str],
                        removed: list[str]) -> None:
    """One resource label event per label added or removed (`ResourceEvents::ChangeLabelsService`)."""
    now = store.clock()
    for action, titles in (("add", added), ("remove", removed)):
        for title in titles:
            store.label_events.append({"id": store.next_id("label_event"), "issue_id": issue["id"],
                                       "user_id": actor["id"], "created_at": now, "action": action,
                                       "label": store.ensure_label(issue["project_id"], title)})


def record_state_event(store: Store, issue: dict[str, Any], actor: dict[str, Any], state: str) -> None:
    """`ResourceEvents::ChangeStateService`: "closed" or "reopened" (the creation records none)."""
    store.state_events.append({"id": store.next_id("state_event"), "issue_id": issue["id"],
                               "user_id": actor["id"], "created_at": store.clock(), "state": state})


# GitLab's Issuable::DESCRIPTION_LENGTH_MAX: longer descriptions are refused on create and update.
DESCRIPTION_MAX = 1_048_576


def _check_description(params: dict[str, Any]) -> None:
    if len(params.get("description") or "") > DESCRIPTION_MAX:
        raise bad_request(f"description is too long (maximum is {DESCRIPTION_MAX} characters)")


def create_issue(store: Store, project: dict[str, Any], actor: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    title = (params.get("title") or "").strip()
    if not title:
        raise bad_request("title is missing")
    _check_description(params)
    pid = project["id"]
    if not store.can_admin_issue(pid, actor):  # GitLab drops these for Guests and non-members
        params = {k: v for k, v in params.items() if k not in ADMIN_FIELDS}
    issue_type = params.get("issue_type") or "issue"
    if issue_type not in ISSUE_TYPES:
        raise bad_request("issue_type does not have a valid value")
    now = store.clock()
    if params.get("created_at") and store.level(pid, actor) >= OWNER:
        now = params["created_at"]
    gid, iid = store.next_id("issue"), project["next_iid"]
    project["next_iid"] += 1
    issue = {"id": gid, "iid": iid, "project_id": pid, "title": title,
             "description": params.get("description"), "state": "opened",
             "created_at": now, "updated_at": now, "closed_at": None, "closed_by_id": None,
             "labels": _resolve_labels(store, pid, params.get("labels") or []),
             "assignee_ids": _assignees(store, params.get("assignee_ids") or []),
             "author_id": actor["id"], "confidential": bool(params.get("confidential")),
             "due_date": params.get("due_date"), "issue_type": issue_type,
             "updated_by_id": None, "last_edited_at": None, "last_edited_by_id": None}
    store.issues[gid] = issue
    store.iid_index[(pid, iid)] = gid
    record_label_events(store, issue, actor, issue["labels"], [])
    changes = {"title": (None, issue["title"]), "description": (None, issue["description"]),
               "confidential": (None, issue["confidential"]), "created_at": (None, now),
               "updated_at": (None, now)}  # state_id starts at its column default: no change
    if issue["labels"]:
        changes["labels"] = ([], issue["labels"])
    if issue["assignee_ids"]:
        changes["assignees"] = ([], issue["assignee_ids"])
    store.emit({"type": "issue", "issue_id": gid, "actor_id": actor["id"], "action": "open", "changes": changes})
    _description_quick_actions(store, issue, actor, issue["description"], None)
    return issue


def _description_quick_actions(store: Store, issue: dict[str, Any], actor: dict[str, Any], text: str | None,
                               old_text: str | None) -> None:
    """GitLab runs quick actions in descriptions too: all of them on create, new ones on update."""
    from . import quick_actions  # it applies commands through update_issue

    if not text:
        return
    rest, params, _ = quick_actions.plan(store, issue, actor, text, getattr(store, "quick_actions_record", []),
                                         where="description", old_text=old_text)
    if params:
        issue["description"] = rest
        update_issue(store, issue, actor, params)


def update_issue(store: Store, issue: dict[str, Any], actor: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Apply a PUT (or quick actions). Returns the changes {field: (previous, current)}."""
    _check_description(params)
    pid = issue["project_id"]
    if not store.can_update_issue(issue, actor):
        raise forbidden()
    if not store.can_admin_issue(pid, actor):
        params = {k: v for k, v in params.items() if k not in ADMIN_FIELDS + ("confidential",)}
    # Validate everything first so a bad request changes nothing.
    event = params.get("state_event")
    if event not in (None, "", "close", "reopen"):
        raise bad_request("state_event does not have a valid value")
    if params.get("title") is not None and not str(params["title"]).strip():
        raise bad_request("title is empty")
    if params.get("issue_type") and params["issue_type"] not in ISSUE_TYPES:
        raise bad_request("issue_type does not have a valid value")
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in issue.items()}
    notes: list[str] = []
    follow_up: tuple[str, str | None] | None = None

    if params.get("title") is not None:
        title = str(params["title"]).strip()
        if title != issue["title"]:
            notes.append(f"changed title from **{issue['title']}** to **{title}**")
            issue["title"] = title
    if "description" in params and params["description"] != issue["description"]:
        old_description = issue["description"]
        issue["description"] = params["description"]
        toggled = updated_tasks(old_description, params["description"])
        if toggled:
            # GitLab (Issuable::CommonSystemNotesService#handle_description_change_note): an edit that
            # changes the status of any task item gets one "marked the checklist item" note per such item
            # and no "changed the description" note, whatever else the edit changed.
            notes.extend(f"marked the checklist item **{text}** as {'completed' if done else 'incomplete'}"
                         for text, done in toggled)
        else:
            notes.append("changed the description")
        follow_up = (params["description"], old_description)
    labels = list(issue["labels"])
    if params.get("labels") is not None:
        labels = list(params["labels"])
    if params.get("add_labels"):
        labels += list(params["add_labels"])
    if params.get("remove_labels"):
        drop = {t.strip().lower() for t in params["remove_labels"]}
        labels = [t for t in labels if t.lower() not in drop]
    issue["labels"] = _resolve_labels(store, pid, labels)
    added = [t for t in issue["labels"] if t not in before["labels"]]
    removed = [t for t in before["labels"] if t not in issue["labels"]]
    if added or removed:  # Issuable::CommonSystemNotesService#create_labels_note: resource events, no note
        record_label_events(store, issue, actor, added, removed)
    if params.get("assignee_ids") is not None:
        issue["assignee_ids"] = _assignees(store, list(params["assignee_ids"]))
        notes.extend(_assignee_notes(store, before["assignee_ids"], issue["assignee_ids"]))
    if params.get("confidential") is not None and bool(params["confidential"]) != issue["confidential"]:
        issue["confidential"] = bool(params["confidential"])
        notes.append("made the issue confidential" if issue["confidential"] else "made the issue visible to everyone")
    if "due_date" in params and params["due_date"] != issue["due_date"]:
        issue["due_date"] = params["due_date"] or None
        notes.append(f"changed due date to {issue['due_date']}" if issue["due_date"] else "removed due date")
    if params.get("issue_type") and params["issue_type"] != issue["issue_type"]:
        issue["issue_type"] = params["issue_type"]
        notes.append(f"changed type from {before['issue_type']} to {issue['issue_type']}")
    action = "update"
    if event == "close" and issue["state"] == "opened":
        issue.update(state="closed", closed_at=store.clock(), closed_by_id=actor["id"])
        action = "close"
        # SystemNotes::IssuablesService#change_status: a resource state event, no system note.
        record_state_event(store, issue, actor, "closed")
    elif event == "reopen" and issue["state"] == "closed":
        issue.update(state="opened", closed_at=None, closed_by_id=None)
        action = "reopen"
        record_state_event(store, issue, actor, "reopened")

    changes = _diff(before, issue)
    if not changes:
        return {}
    now = params.get("updated_at") if params.get("updated_at") and store.level(pid, actor) >= OWNER else store.clock()
    issue.update(updated_at=now, updated_by_id=actor["id"])
    if {"title", "description"} & set(changes):
        issue.update(last_edited_at=now, last_edited_by_id=actor["id"])
    changes["updated_at"] = (before["updated_at"], now)
    changes["updated_by_id"] = (before["updated_by_id"], actor["id"])
    for body in notes:
        add_system_note(store, issue, actor, body)
    store.emit({"type": "issue", "issue_id": issue["id"], "actor_id": actor["id"], "action": action,
                "changes": changes})
    if follow_up:
        _description_quick_actions(store, issue, actor, *follow_up)
    return changes


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    fields = {"title": "title", "description": "description", "labels": "labels",
              "assignee_ids": "assignees", "confidential": "confidential", "due_date": "due_date",
              "issue_type": "issue_type", "closed_at": "closed_at"}
    changes = {name: (before[key], after[key]) for key, name in fields.items() if before[key] != after[key]}
    if before["state"] != after["state"]:
        changes["state_id"] = (STATE_ID[before["state"]], STATE_ID[after["state"]])
    return changes


_TASK_ITEM = re.compile(r"^\s*(?:[-+*]|\d+\.)\s+(\[\s\]|\[[xX]\])(\s.+)", re.MULTILINE)


def _tasks(text: str | None) -> list[tuple[str, bool]]:
    """(text, done) of each task item, as GitLab's Taskable.get_tasks reads a description."""
    return [(label.strip(), box.lower() == "[x]") for box, label in _TASK_ITEM.findall(text or "")]


def updated_tasks(old: str | None, new: str | None) -> list[tuple[str, bool]]:
    """Taskable.get_updated_tasks: the items, matched by position, whose text stayed and status changed."""
    before = _tasks(old)
    return [(text, done) for i, (text, done) in enumerate(_tasks(new))
            if i < len(before) and before[i][0] == text and before[i][1] != done]


def _assignee_notes(store: Store, before: list[int], after: list[int]) -> list[str]:
    def refs(ids: list[int]) -> str:
        return " ".join(f"@{store.users[i]['username']}" for i in ids)
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    parts = ([f"assigned to {refs(added)}"] if added else []) + ([f"unassigned {refs(removed)}"] if removed else [])
    return [" and ".join(parts)] if parts else []


def issue_ref(store: Store, issue: dict[str, Any], from_project: int) -> str:
    if issue["project_id"] == from_project:
        return f"#{issue['iid']}"
    return f"{store.projects[issue['project_id']]['path_with_namespace']}#{issue['iid']}"


INVERSE_LINK = {"relates_to": "relates_to", "blocks": "is_blocked_by", "is_blocked_by": "blocks"}


def add_link(store: Store, source: dict[str, Any], target: dict[str, Any], actor: dict[str, Any],
             link_type: str = "relates_to") -> dict[str, Any]:
    if link_type not in INVERSE_LINK:
        raise bad_request("link_type does not have a valid value")
    if source["id"] == target["id"]:
        raise bad_request("Cannot link an issue to itself")  # wording is ours
    for link in store.links:
        if {link["source_id"], link["target_id"]} == {source["id"], target["id"]}:
            raise ApiError(409, {"message": "Issue(s) already assigned"})
    link = {"id": store.next_id("link"), "source_id": source["id"], "target_id": target["id"],
            "link_type": link_type, "created_at": store.clock()}
    store.links.append(link)
    verb = {"relates_to": "as related to", "blocks": "as blocking", "is_blocked_by": "as blocked by"}
    add_system_note(store, source, actor, f"marked this issue {verb[link_type]} {issue_ref(store, target, source['project_id'])}")
    add_system_note(store, target, actor,
                    f"marked this issue {verb[INVERSE_LINK[link_type]]} {issue_ref(store, source, target['project_id'])}")
    return link


def links_of(store: Store, issue: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(link, other issue, link type seen from `issue`) for every link touching the issue."""
    out = []
    for link in store.links:
        if link["source_id"] == issue["id"]:
            out.append((link, store.issues[link["target_id"]], link["link_type"]))
        elif link["target_id"] == issue["id"]:
            out.append((link, store.issues[link["source_id"]], INVERSE_LINK[link["link_type"]]))
    return out
