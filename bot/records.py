"""The plain records the GitLab adapter returns (bot/gitlab.py), for the pure modules to read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Issue:
    project_id: int
    iid: int
    id: int
    title: str
    description: str
    labels: list[str]
    assignees: list[dict]  # {"id", "username"}
    author: dict  # {"id", "username"}
    state: str
    confidential: bool
    web_url: str | None
    created_at: Any
    due_date: str | None = None
    closed_by: dict | None = None  # {"id", "username"} while closed; GitLab clears it on reopen
    closed_at: Any = None  # when it was closed (the report: follow-ups done on time)

    @property
    def assignee_ids(self) -> list[int]:
        return [a["id"] for a in self.assignees]


@dataclass
class Note:
    id: int
    body: str
    author: str | None
    system: bool
    internal: bool
    created_at: Any
    author_id: int | None = None
    project_id: int | None = None
    noteable_iid: int | None = None


@dataclass(frozen=True)
class ResourceEvent:
    """A resource label event (`action` add or remove, `label` its name) or a resource state event
    (`action` closed, reopened, ...): who changed the issue, as GitLab recorded it."""

    id: int
    user: dict | None  # {"id", "username"}
    created_at: Any
    action: str
    label: str | None = None
