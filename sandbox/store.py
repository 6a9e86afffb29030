"""In-memory GitLab state: users, projects, members, labels, issues, notes, links, hooks.

Pure data and lookups; no HTTP, no threads. The caller holds the sandbox lock around every use.
Mutations that GitLab would announce append an event to `outbox` (see issues.py / notes.py).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any
from urllib.parse import unquote

from .clock import Clock, iso, system_clock
from .errors import forbidden, not_found

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
LABEL_COLORS = ["#6699cc", "#dc143c", "#009966", "#8fbc8f", "#ed9121", "#9400d3", "#36454f", "#c21e56"]


class Store:
    def __init__(self, clock: Clock = system_clock, assignee_limit: int | None = 1,
                 scoped_labels: bool = False):
        self.clock = clock
        self.assignee_limit = assignee_limit
        self.scoped_labels = scoped_labels  # exclusive scoped labels are a Premium feature
        self.base_url = "http://127.0.0.1"
        self.users: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {}
        self.projects: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, dict[str, Any]]] = {}  # project id -> user id -> member
        self.groups: dict[int, dict[str, Any]] = {}
        self.group_members: dict[int, dict[int, dict[str, Any]]] = {}  # group id -> user id -> member
        # members/all/:user_id counts members of the groups a project is shared with only from 17.0
        # (lib/api/helpers/members_helpers.rb: `:invited_groups` in find_all_members_for_project).
        self.gitlab_version = (18, 0)
        self.labels: dict[int, dict[str, dict[str, Any]]] = {}  # project id -> title -> label
        self.issues: dict[int, dict[str, Any]] = {}  # global id -> issue
        self.iid_index: dict[tuple[int, int], int] = {}  # (project id, iid) -> global id
        self.notes: dict[int, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []  # POST /projects/:id/uploads (sandbox/uploads.py)
        # GitLab's resource events: who added or removed which label, who closed or reopened (by id order).
        self.label_events: list[dict[str, Any]] = []
        self.state_events: list[dict[str, Any]] = []
        self.hooks: dict[int, list[dict[str, Any]]] = {}
        self.outbox: list[dict[str, Any]] = []
        self._ids: dict[str, int] = {}

    # -- ids ---------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        # Distinct starting points make a mixed-up id show up in tests.
        start = {"user": 1, "project": 100, "issue": 5000, "note": 90000, "label": 700,
                 "link": 300, "hook": 40, "group": 60,
                 "label_event": 1200, "state_event": 2400}.get(kind, 1)
        self._ids[kind] = self._ids.get(kind, start - 1) + 1
        return self._ids[kind]

    # -- users -------------------------------------------------------------
    def add_user(self, username: str, name: str | None = None, email: str | None = None,
                 admin: bool = False, bot: bool = False) -> dict[str, Any]:
        if any(u["username"].lower() == username.lower() for u in self.users.values()):
            raise ValueError(f"user {username} exists")
        uid = self.next_id("user")
        token = "glpat-" + secrets.token_urlsafe(15)
        self.users[uid] = {"id": uid, "username": username, "name": name or username,
                           "email": email or f"{username}@example.com", "admin": admin, "bot": bot,
                           "state": "active", "token": token, "created_at": self.clock()}
        self.tokens[token] = uid
        return self.users[uid]

    def user(self, uid: int) -> dict[str, Any]:
        if uid not in self.users:
            raise not_found("User")
        return self.users[uid]

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        name = username.lstrip("@").lower()
        return next((u for u in self.users.values() if u["username"].lower() == name), None)

    def user_by_token(self, token: str | None) -> dict[str, Any] | None:
        uid = self.tokens.get(token or "")
        return self.users.get(uid) if uid else None

    # -- projects and members ---------------------------------------------
    def add_project(self, path: str, name: str | None = None, description: str = "") -> dict[str, Any]:
        namespace, _, short = path.rpartition("/")
        pid = self.next_id("project")
        self.projects[pid] = {"id": pid, "path_with_namespace": path, "path": short,
                              "name": name or short, "namespace": namespace or short,
                              "description": description, "created_at": self.clock(),
                              "next_iid": 1, "shared_with_groups": []}
        self.members[pid], self.labels[pid], self.hooks[pid] = {}, {}, []
        return self.projects[pid]

    def project(self, ref: int | str) -> dict[str, Any]:
        text = unquote(str(ref))  # the HTTP layer keeps %2F encoded
        if text.isdigit() and int(text) in self.projects:
            return self.projects[int(text)]
        for p in self.projects.values():
            if p["path_with_namespace"].lower() == text.lower():
                return p
        raise not_found("Project")

    def project_url(self, project: dict[str, Any]) -> str:
        return f"{self.base_url}/{project['path_with_namespace']}"

    def add_member(self, pid: int, uid: int, access_level: int = DEVELOPER,
                   membership_state: str = "active") -> dict[str, Any]:
        """membership_state "awaiting": a member waiting for a seat, listed with a level but without access."""
        self.project(pid), self.user(uid)
        self.members[pid][uid] = {"user_id": uid, "access_level": access_level, "created_at": self.clock(),
                                  "membership_state": membership_state}
        return self.members[pid][uid]

    def level(self, pid: int, user: dict[str, Any] | None) -> int:
        if user is None or user["state"] != "active":  # a blocked or deactivated user has no access
            return 0
        if user["admin"]:
            return OWNER
        member = self.members.get(pid, {}).get(user["id"])
        direct = member["access_level"] if member and member.get("membership_state") != "awaiting" else 0
        return max(direct, self.shared_level(pid, user["id"])[0])

    # -- groups a project is shared with (Projects::GroupLinks) -------------------------------
    def add_group(self, path: str) -> dict[str, Any]:
        gid = self.next_id("group")
        self.groups[gid] = {"id": gid, "full_path": path, "name": path.rpartition("/")[2], "path": path}
        self.group_members[gid] = {}
        return self.groups[gid]

    def add_group_member(self, gid: int, uid: int, access_level: int) -> None:
        self.user(uid)
        self.group_members[gid][uid] = {"user_id": uid, "access_level": access_level, "created_at": self.clock(),
                                        "membership_state": "active"}

    def share_project(self, pid: int, gid: int, group_access: int) -> None:
        group = self.groups[gid]
        self.project(pid)["shared_with_groups"].append(
            {"group_id": gid, "group_name": group["name"], "group_full_path": group["full_path"],
             "group_access_level": group_access, "expires_at": None})

    def shared_level(self, pid: int, uid: int) -> tuple[int, dict[str, Any] | None]:
        """The best level a share gives: the group member's, capped at the share's group_access_level
        (MembersFinder takes the least of the two); and that group membership."""
        best: tuple[int, dict[str, Any] | None] = (0, None)
        for share in self.project(pid)["shared_with_groups"]:
            member = self.group_members[share["group_id"]].get(uid)
            if member and member.get("membership_state") != "awaiting":
                level = min(member["access_level"], share["group_access_level"])
                best = max(best, (level, member), key=lambda b: b[0])
        return best

    # -- permissions (GitLab's defaults for a public project) -------------
    def can_read_issue(self, issue: dict[str, Any], user: dict[str, Any] | None) -> bool:
        if not issue["confidential"]:
            return True
        return user is not None and (self.level(issue["project_id"], user) >= REPORTER
                                     or user["id"] == issue["author_id"]
                                     or user["id"] in issue["assignee_ids"])

    def can_update_issue(self, issue: dict[str, Any], user: dict[str, Any]) -> bool:
        return self.level(issue["project_id"], user) >= REPORTER or user["id"] == issue["author_id"]

    def can_admin_issue(self, pid: int, user: dict[str, Any]) -> bool:
        # Labels, assignees, due dates, confidentiality: Reporter and up.
        return self.level(pid, user) >= REPORTER

    def can_read_internal(self, pid: int, user: dict[str, Any] | None) -> bool:
        return self.level(pid, user) >= REPORTER

    # -- labels -------------------------------------------------------------
    def ensure_label(self, pid: int, title: str) -> dict[str, Any]:
        labels = self.labels[pid]
        for existing in labels.values():  # GitLab matches label titles case-insensitively on use
            if existing["title"].lower() == title.lower():
                return existing
        now = self.clock()
        lid = self.next_id("label")
        labels[title] = {"id": lid, "title": title, "color": LABEL_COLORS[lid % len(LABEL_COLORS)],
                         "description": None, "project_id": pid, "created_at": now, "updated_at": now}
        return labels[title]

    def find_label(self, pid: int, title: str) -> dict[str, Any] | None:
        return next((lb for lb in self.labels[pid].values() if lb["title"].lower() == title.lower()), None)

    def label_objects(self, pid: int, titles: list[str]) -> list[dict[str, Any]]:
        return [self.ensure_label(pid, t) for t in titles]

    # -- issues -------------------------------------------------------------
    def issue_by_iid(self, pid: int, iid: int | str, viewer: dict[str, Any] | None = None) -> dict[str, Any]:
        text = str(iid)
        gid = self.iid_index.get((pid, int(text))) if text.isdigit() else None
        if gid is None:
            raise not_found("Issue")
        issue = self.issues[gid]
        if viewer is not None and not self.can_read_issue(issue, viewer):
            raise not_found("Issue")  # GitLab hides confidential issues as 404
        return issue

    def issue_url(self, issue: dict[str, Any]) -> str:
        return f"{self.project_url(self.projects[issue['project_id']])}/-/issues/{issue['iid']}"

    def issue_notes(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return [n for n in self.notes.values() if n["issue_id"] == issue["id"]]

    def note(self, issue: dict[str, Any], note_id: int | str, viewer: dict[str, Any] | None) -> dict[str, Any]:
        note = self.notes.get(int(note_id)) if str(note_id).isdigit() else None
        if note is None or note["issue_id"] != issue["id"]:
            raise not_found("Note")
        if note["internal"] and not self.can_read_internal(issue["project_id"], viewer):
            raise not_found("Note")
        return note

    def require(self, allowed: bool) -> None:
        if not allowed:
            raise forbidden()

    # -- hooks --------------------------------------------------------------
    def add_hook(self, pid: int, url: str, token: str | None = None, signing_key: str | None = None,
                 **events: bool) -> dict[str, Any]:
        self.project(pid)
        hook = {"id": self.next_id("hook"), "url": url, "token": token, "signing_key": signing_key,
                "uuid": str(uuid.uuid4()), "project_id": pid, "name": "", "description": "",
                "created_at": iso(self.clock()), "recent_failures": 0, "disabled_until": None,
                "issues_events": True, "confidential_issues_events": True,
                "note_events": True, "confidential_note_events": True}
        unknown = set(events) - set(hook)
        if unknown:
            raise TypeError(f"unknown hook options: {sorted(unknown)}")
        hook.update(events)
        self.hooks[pid].append(hook)
        return hook

    def emit(self, event: dict[str, Any]) -> None:
        self.outbox.append(event)

    def take_events(self) -> list[dict[str, Any]]:
        events, self.outbox = self.outbox, []
        return events


def discussion_id(kind: str, ident: int) -> str:
    return hashlib.sha1(f"{kind}-{ident}".encode()).hexdigest()
