"""Parse a webhook delivery into a plain event. Pure: no network, no config beyond what is passed in.

Real deliveries differ across GitLab versions (see tests/fixtures/README.md): object_kind may be
"issue" or "work_item", keys go missing in older payloads, timestamps come in three shapes, and
`changes` can be absent, empty, or list fields that did not change. We read defensively and raise
BadDelivery (a 400) only when something the bot needs is missing or of the wrong type (bot/payload.py
reads the JSON itself).

The door parses a delivery once; the queue keeps the event as ``event_to_dict`` gives it, and the
worker rebuilds it with ``event_from_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .payload import BadDelivery, load_object
from .payload_readers import read_int, read_label_titles, read_obj, read_str, read_time

ISSUE_EVENTS = {"Issue Hook", "Confidential Issue Hook"}
NOTE_EVENTS = {"Note Hook", "Confidential Note Hook"}


@dataclass(frozen=True)
class Actor:
    id: int | None
    username: str | None


@dataclass(frozen=True)
class IssueRef:
    project_id: int
    iid: int
    id: int | None
    title: str
    labels: tuple[str, ...]
    confidential: bool
    state: str | None
    type: str | None  # "Incident", "Issue", ... (None before GitLab ~17.2)


@dataclass(frozen=True)
class IssueEvent:
    event: str
    actor: Actor
    issue: IssueRef
    action: str | None
    updated_at: datetime | None
    labels_added: frozenset[str] = frozenset()
    closed: bool = False
    reopened: bool = False
    kind: str = "issue"
    description_changed: bool = False
    labels_removed: frozenset[str] = frozenset()
    # Set when GitLab confirms an edit: the edit changed a task item's box (GitLab's system note says so).
    checklist_changed: bool = False
    # GitLab's own record of the change, once issue_claims confirmed it ("label-event-1203"): it names the
    # change in the handled key, where a time (one-second resolution) would merge two changes.
    source: str | None = None

    @property
    def object_id(self) -> int | None:
        return self.issue.id


@dataclass(frozen=True)
class NoteEvent:
    event: str
    actor: Actor
    issue: IssueRef
    note_id: int
    body: str
    action: str | None  # "create" | "update" | None (older GitLab)
    internal: bool
    created_at: datetime | None
    kind: str = "note"

    @property
    def object_id(self) -> int:
        return self.note_id


@dataclass(frozen=True)
class Ignored:
    """A delivery the bot accepts (2xx) and does nothing with."""

    event: str
    reason: str
    kind: str = "ignored"
    project_id: int | None = None
    object_id: Any = None
    extra: dict = field(default_factory=dict)


Event = IssueEvent | NoteEvent | Ignored
_TIMES = ("updated_at", "created_at")


def event_to_dict(event: IssueEvent | NoteEvent) -> dict:
    """The event as JSON-ready data, for the queue to keep (the worker does not parse the body again)."""
    data = asdict(event)
    for name in _TIMES:
        if data.get(name) is not None:
            data[name] = data[name].isoformat()
    for name in ("labels_added", "labels_removed"):
        if name in data:
            data[name] = sorted(data[name])
    return data


def event_from_dict(data: dict) -> IssueEvent | NoteEvent:
    """The inverse of event_to_dict."""
    data = dict(data, actor=Actor(**data["actor"]),
                issue=IssueRef(**dict(data["issue"], labels=tuple(data["issue"]["labels"]))))
    for name in _TIMES:
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    if data["kind"] == "issue":
        return IssueEvent(**dict(data, labels_added=frozenset(data["labels_added"]),
                                 labels_removed=frozenset(data.get("labels_removed", ()))))
    return NoteEvent(**data)


def _actor(payload: dict) -> Actor:
    user = read_obj(payload.get("user"), "user", required=False)
    if not user and "user_username" in payload:  # push-style flat fields
        return Actor(read_int(payload.get("user_id"), "user_id", False), read_str(payload.get("user_username"), "user_username"))
    return Actor(read_int(user.get("id"), "user.id", False), read_str(user.get("username"), "user.username"))


def _project_id(payload: dict, attrs: dict) -> int:
    project = read_obj(payload.get("project"), "project", required=False)
    for value, where in ((project.get("id"), "project.id"), (payload.get("project_id"), "project_id"),
                         (attrs.get("project_id"), "object_attributes.project_id")):
        if value is not None:
            return read_int(value, where)
    raise BadDelivery("the project id is missing (project.id, project_id)")


def _without_project(payload: dict, attrs: dict) -> bool:
    """A group's work item (an epic) has no project: GitLab sends `project: null` and no project_id."""
    return ("project" in payload and payload["project"] is None and payload.get("project_id") is None
            and attrs.get("project_id") is None)


def _issue_ref(issue: dict, project_id: int, where: str, top_labels: Any = None) -> IssueRef:
    labels = read_label_titles(issue.get("labels"), f"{where}.labels")
    if labels is None:
        labels = read_label_titles(top_labels, "labels") or ()
    confidential = issue.get("confidential", False)
    if not isinstance(confidential, bool):
        raise BadDelivery(f"'{where}.confidential' must be a boolean")
    return IssueRef(
        project_id=project_id,
        iid=read_int(issue.get("iid"), f"{where}.iid"),
        id=read_int(issue.get("id"), f"{where}.id", False),
        title=read_str(issue.get("title"), f"{where}.title") or "",
        labels=labels,
        confidential=confidential,
        state=read_str(issue.get("state"), f"{where}.state"),
        type=read_str(issue.get("type"), f"{where}.type"),
    )


def _changed(changes: dict, name: str) -> tuple[Any, Any] | None:
    """(previous, current) when the field really changed; GitLab sometimes lists unchanged fields."""
    entry = changes.get(name)
    if not isinstance(entry, dict):
        return None
    prev, cur = entry.get("previous"), entry.get("current")
    return None if prev == cur else (prev, cur)


# -- the two events the bot acts on -----------------------------------------------------
def parse_issue_event(event: str, payload: dict) -> IssueEvent | Ignored:
    attrs = read_obj(payload.get("object_attributes"), "object_attributes")
    if _without_project(payload, attrs):
        return Ignored(event, "an event without a project (a group's work item)")
    project_id = _project_id(payload, attrs)
    issue = _issue_ref(attrs, project_id, "object_attributes", payload.get("labels"))
    action = read_str(attrs.get("action"), "object_attributes.action")
    changes = payload.get("changes")
    changes = changes if isinstance(changes, dict) else {}

    added: set[str] = set()
    removed: set[str] = set()
    label_change = _changed(changes, "labels")
    if label_change:
        prev = set(read_label_titles(label_change[0], "changes.labels.previous") or ())
        cur = set(read_label_titles(label_change[1], "changes.labels.current") or ())
        added, removed = cur - prev, prev - cur
    elif action == "open":
        added = set(issue.labels)  # labels given at creation count as added

    state_change = _changed(changes, "state_id") or _changed(changes, "state")
    closed = action == "close" or (state_change is not None and state_change[1] in (2, "closed"))
    # An open event may list state_id as null -> opened: a new issue, not a reopen.
    reopened = action == "reopen" or (state_change is not None and state_change[1] in (1, "opened")
                                      and state_change[0] in (2, "closed"))
    return IssueEvent(
        event=event,
        actor=_actor(payload),
        issue=issue,
        action=action,
        updated_at=read_time(attrs.get("updated_at"), "object_attributes.updated_at"),
        labels_added=frozenset(added),
        labels_removed=frozenset(removed),
        closed=closed and not reopened,
        reopened=reopened,
        description_changed=action != "open" and _changed(changes, "description") is not None,
    )


def parse_note_event(event: str, payload: dict) -> NoteEvent | Ignored:
    attrs = read_obj(payload.get("object_attributes"), "object_attributes")
    noteable = read_str(attrs.get("noteable_type"), "object_attributes.noteable_type")
    if _without_project(payload, attrs):
        return Ignored(event, "an event without a project (a group's work item)")
    project_id = _project_id(payload, attrs)
    if noteable != "Issue":
        return Ignored(event, f"a note on a {noteable or 'unknown object'}, not an issue", project_id=project_id)
    if attrs.get("system") is True:
        return Ignored(event, "a system note", project_id=project_id)
    issue = read_obj(payload.get("issue"), "issue")
    body = attrs.get("note")
    if not isinstance(body, str):
        raise BadDelivery("'object_attributes.note' must be a string")
    # Every note on a confidential issue comes as Confidential Note Hook: only the note's own flag says
    # it is internal (often absent in real payloads; the worker reads the note through the API anyway).
    internal = attrs.get("internal") is True or attrs.get("confidential") is True
    return NoteEvent(
        event=event,
        actor=_actor(payload),
        issue=_issue_ref(issue, project_id, "issue"),
        note_id=read_int(attrs.get("id"), "object_attributes.id"),
        body=body.replace("\r\n", "\n"),
        action=read_str(attrs.get("action"), "object_attributes.action"),
        internal=internal,
        created_at=read_time(attrs.get("created_at"), "object_attributes.created_at"),
    )


def parse_delivery(headers: dict[str, str], body: bytes | str) -> Event:
    """Headers (case-insensitive mapping) and the raw body -> an event. Raises BadDelivery."""
    event = headers.get("X-Gitlab-Event") or headers.get("x-gitlab-event")
    if not event:
        raise BadDelivery("the X-Gitlab-Event header is missing")
    payload = load_object(body)

    kind = payload.get("object_kind")
    if event in ISSUE_EVENTS:
        if kind not in ("issue", "work_item", None):
            return Ignored(event, f"object_kind {kind!r} under {event}")
        return parse_issue_event(event, payload)
    if event in NOTE_EVENTS:
        if kind not in ("note", None):
            return Ignored(event, f"object_kind {kind!r} under {event}")
        return parse_note_event(event, payload)
    return Ignored(event, f"the bot does not handle {event} events")
