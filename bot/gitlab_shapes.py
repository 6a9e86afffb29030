"""GitLab's answers read into plain records, every field the bot uses type-checked: a wrong type is a
MalformedResponse here, not a crash later. Pure."""

from __future__ import annotations

from typing import Any

from .gitlab_errors import MalformedResponse
from .records import Issue, Note, ResourceEvent
from .timeutil import parse_time


def _typed(value: Any, kind: type | tuple, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) and kind is int or not isinstance(value, kind):
        raise MalformedResponse(f"GitLab sent {what} of type {type(value).__name__}")
    return value


def _user(data: Any, what: str) -> dict:
    """{"id", "username"} with an int id and a str username."""
    _typed(data, dict, what)
    return {"id": _typed(data.get("id"), int, f"{what}.id"),
            "username": _typed(data.get("username"), str, f"{what}.username")}


def _time(value: Any, what: str):
    try:
        return parse_time(_typed(value, str, what, optional=True))
    except ValueError as exc:
        raise MalformedResponse(f"GitLab sent {what} that is not a time") from exc


def read_issue(data: Any, project_id: int) -> Issue:
    """Every field the bot reads, type-checked: a wrong type is a MalformedResponse, not a crash later."""
    _typed(data, dict, "an issue")
    labels = _typed(data.get("labels"), list, "labels", optional=True) or []
    author = data.get("author")
    return Issue(
        project_id=project_id,
        iid=_typed(data.get("iid"), int, "iid"),
        id=_typed(data.get("id"), int, "id"),
        title=_typed(data.get("title"), str, "title", optional=True) or "",
        description=_typed(data.get("description"), str, "description", optional=True) or "",
        labels=[_typed(label, str, "a label") for label in labels],
        assignees=[_user(a, "an assignee")
                   for a in _typed(data.get("assignees"), list, "assignees", optional=True) or []],
        author=_user(author, "author") if author is not None else {"id": None, "username": None},
        state=_typed(data.get("state"), str, "state", optional=True) or "opened",
        confidential=_typed(data.get("confidential"), bool, "confidential", optional=True) or False,
        web_url=_typed(data.get("web_url"), str, "web_url", optional=True),
        created_at=_time(data.get("created_at"), "created_at"),
        due_date=_typed(data.get("due_date"), str, "due_date", optional=True),
        closed_by=_user(data["closed_by"], "closed_by") if data.get("closed_by") is not None else None,
        closed_at=_time(data.get("closed_at"), "closed_at"),
    )


def read_resource_event(data: Any, kind: str) -> ResourceEvent:
    """A resource label event (`action` add/remove, `label`) or state event (`state` closed/reopened/...)."""
    _typed(data, dict, f"a {kind} event")
    user = data.get("user")
    label = None
    if kind == "label":
        label = _typed(_typed(data.get("label"), dict, "a label event's label").get("name"), str, "a label name")
    return ResourceEvent(
        id=_typed(data.get("id"), int, f"{kind} event id"),
        user=_user(user, f"{kind} event user") if user is not None else None,
        created_at=_time(data.get("created_at"), f"{kind} event created_at"),
        action=_typed(data.get("action" if kind == "label" else "state"), str, f"{kind} event action"),
        label=label,
    )


def read_note(data: Any) -> Note:
    _typed(data, dict, "a note")
    author = data.get("author")
    return Note(
        id=_typed(data.get("id"), int, "note id"),
        body=_typed(data.get("body"), str, "note body", optional=True) or "",
        author=_user(author, "note author")["username"] if author is not None else None,
        system=_typed(data.get("system"), bool, "note system", optional=True) or False,
        internal=bool(_typed(data.get("internal"), bool, "note internal", optional=True)
                      or _typed(data.get("confidential"), bool, "note confidential", optional=True)),
        created_at=_time(data.get("created_at"), "note created_at"),
        author_id=_user(author, "note author")["id"] if author is not None else None,
        project_id=_typed(data.get("project_id"), int, "note project_id", optional=True),
        noteable_iid=_typed(data.get("noteable_iid"), int, "note noteable_iid", optional=True),
    )


# -- membership -------------------------------------------------------------------------------------
MAX_SHARES = 20  # groups a project is shared with that one access check reads, at most


def member_level(data: Any) -> int | None:
    """A member's access level; None when a blocked or deactivated user, or a member still waiting for a
    seat (`membership_state: awaiting`), has no access."""
    _typed(data, dict, "a member")
    if data.get("state") not in (None, "active") or data.get("membership_state") == "awaiting":
        return None
    return _typed(data.get("access_level"), int, "a member's access_level", optional=True) or 0


def shares_of(project: Any) -> list[dict]:
    """The groups a project is shared with (`shared_with_groups`), each with an int group_id."""
    _typed(project, dict, "a project")
    shares = _typed(project.get("shared_with_groups"), list, "shared_with_groups", optional=True) or []
    return [s for s in shares[:MAX_SHARES] if isinstance(s, dict) and _typed(s.get("group_id"), int, "a group_id")]


def shared_level(share: dict, member: Any) -> int | None:
    """A group member's level through a share, capped at its group_access_level, as MembersFinder does."""
    level = member_level(member) if member is not None else None
    if level is None:
        return None
    return min(level, _typed(share.get("group_access_level"), int, "a share's group_access_level"))
