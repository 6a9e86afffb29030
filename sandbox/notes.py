"""Notes (comments) on issues: create with quick actions, edit; emits Note Hook events."""

from __future__ import annotations

from typing import Any

from . import quick_actions
from .errors import ApiError, forbidden, invalid
from .store import Store, discussion_id


def create_note(store: Store, issue: dict[str, Any], actor: dict[str, Any], body: str, internal: bool,
                record: list[dict[str, Any]], created_at: Any = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Returns (note or None when the note held only quick actions, {commands_changes, summary})."""
    if not body.strip():
        raise invalid("note", "can't be blank")
    if internal and not store.can_read_internal(issue["project_id"], actor):
        raise forbidden()
    rest, params, summary = quick_actions.execute(store, issue, actor, body, record)
    commands = {"commands_changes": params, "summary": summary}
    if summary and not rest:
        return None, commands
    nid = store.next_id("note")
    now = created_at or store.clock()
    note = {"id": nid, "project_id": issue["project_id"], "issue_id": issue["id"], "iid": issue["iid"],
            "body": rest if summary else body, "author_id": actor["id"], "created_at": now,
            "updated_at": now, "system": False, "internal": bool(internal),
            "discussion_id": discussion_id("note", nid)}
    store.notes[nid] = note
    issue["updated_at"] = store.clock()  # Note `belongs_to :noteable, touch: true`: the issue lists as updated
    store.emit({"type": "note", "note_id": nid, "actor_id": actor["id"], "action": "create"})
    return note, commands


def update_note(store: Store, note: dict[str, Any], actor: dict[str, Any], body: str) -> dict[str, Any]:
    # Quick actions are not run on edit here (GitLab runs some); the bot never relies on either.
    if note["system"]:
        raise ApiError(403, {"message": "403 Forbidden"})
    if note["author_id"] != actor["id"] and not actor["admin"]:
        raise forbidden()
    if not body.strip():
        raise invalid("note", "can't be blank")
    if body != note["body"]:
        note.update(body=body, updated_at=store.clock())
        # GitLab sends an "update" Note Hook only when the text changed.
        store.emit({"type": "note", "note_id": note["id"], "actor_id": actor["id"], "action": "update"})
    return note
