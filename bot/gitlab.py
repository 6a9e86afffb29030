"""The only module that talks to GitLab. A thin adapter over python-gitlab that returns plain data.

Errors are translated into two kinds the delivery queue understands (bot/gitlab_errors.py):
`RetryableGitLabError` (429, 5xx, connection problems, timeouts) and `GitLabRefused` (other 4xx).
python-gitlab's own retrying is off, so the queue's backoff is the one place that waits, and a worker
thread is never parked inside a sleep (bot/gitlab_http.py). Answers are read into records by
bot/gitlab_shapes.py; project administration (labels, hooks, uploads) is in bot/gitlab_admin.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable, Iterator, TypeVar

import gitlab

from .gitlab_admin import ProjectAdmin
from .gitlab_errors import GitLabRefused, MalformedResponse, RetryableGitLabError
from .gitlab_http import NO_WAIT, Translate, local, observe
from .gitlab_shapes import member_level, read_issue, read_note, read_resource_event, shared_level, shares_of
from .neutralize import no_quick_actions, one_line
from .pacing import DEFAULT_LIMITS, paced, window
from .records import Issue, Note, ResourceEvent

__all__ = ["GitLab", "GitLabRefused", "Issue", "MalformedResponse", "Note", "ResourceEvent", "RetryableGitLabError"]


# Issuable::DESCRIPTION_LENGTH_MAX: GitLab refuses a longer description (400) on create and update.
DESCRIPTION_MAX = 1_048_576


def _safe_text(fields: dict[str, Any]) -> dict[str, Any]:
    """Whatever the bot writes: a description with no line GitLab could run, a title on one line."""
    out = dict(fields)
    if out.get("description") is not None:
        out["description"] = no_quick_actions(out["description"])
    if out.get("title") is not None:
        out["title"] = one_line(out["title"])
    return out


T = TypeVar("T")
# Reads a delivery makes at once (issue, note, access level) run here, each thread with its own client.
_READERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gitlab-read")


class GitLab(ProjectAdmin):
    """One instance per delivery (cheap): python-gitlab clients are kept per thread and URL."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0,
                 rate_limits: dict | None = None):
        key = (url, token, timeout)
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = {}
        gl = clients.get(key)
        if gl is None:
            # keep_base_url: behind a proxy, GitLab's page links carry its external_url; stay where we were told.
            gl = gitlab.Gitlab(url, private_token=token, timeout=timeout, retry_transient_errors=False,
                               per_page=100, keep_base_url=True)
            gl.session.hooks["response"].append(observe)
            clients[key] = gl
        # No X-Gitlab-Event-UUID: a call carrying it continues the delivery's chain, and GitLab's recursion
        # detection then fires none of the project's hooks (a chat relay, an audit sink) for the bot's
        # changes. The bot's own hook fires too, and the worker ignores its own events (a few reads).
        self.gl = gl
        self.url, self.token, self.timeout = url, token, timeout
        # Creations GitLab limits per user are paced here, per process, shared by every delivery's adapter.
        limits = {**DEFAULT_LIMITS, **(rate_limits or {})}
        self._pace = {kind: window(url, token, kind, limits[kind], limits["per_seconds"]) for kind in ("notes", "issues")}

    def _translate(self) -> Translate:
        return Translate(self.timeout)

    def parallel(self, *calls: Callable[["GitLab"], T]) -> list[T]:
        """Run independent reads at the same time: one round trip instead of one per read.

        The first runs on this thread, the others on reader threads (python-gitlab clients are kept per
        thread, so no session is shared). Results come in order; the first error, in order, is raised.
        """
        futures = [_READERS.submit(self._on_reader, call) for call in calls[1:]]
        outcomes: list[Any] = []
        for i, call in enumerate(calls):
            try:
                outcomes.append(call(self) if i == 0 else futures[i - 1].result())
            except Exception as exc:  # raised below, once every read has finished
                outcomes.append(exc)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return outcomes

    def _on_reader(self, call: Callable[["GitLab"], T]) -> T:
        return call(GitLab(self.url, self.token, timeout=self.timeout))

    # -- reads ------------------------------------------------------------------------
    def current_user(self) -> dict:
        """Who the token is; ``moved_to``: where GitLab redirected the call (every write would then fail)."""
        with self._translate():
            answer = self.gl.http_request("get", "/user", **NO_WAIT)
        data = answer.json()
        moved = next((r.headers.get("Location") for r in answer.history if r.is_redirect), None)
        return {"id": data["id"], "username": data["username"], "moved_to": moved}

    def token_scopes(self) -> list[str] | None:
        """The token's scopes; None when GitLab does not say (not a personal access token, GitLab < 15.5)."""
        try:
            with self._translate():
                return [str(s) for s in self.gl.http_get("/personal_access_tokens/self", **NO_WAIT)["scopes"]]
        except (GitLabRefused, KeyError, TypeError):  # refused, or an answer without a list of scopes
            return None

    def get_issue(self, project_id: int, iid: int) -> Issue:
        with self._translate():
            data = self.gl.http_get(f"/projects/{project_id}/issues/{iid}", **NO_WAIT)
        return read_issue(data, project_id)

    def notes_since(self, project_id: int, iid: int, since: datetime | None) -> list[Note]:
        """Every note created at or after `since` (every note when None), newest first, following every
        page: the notes API has no time filter, so the reading stops at the first page that goes past it."""
        notes: list[Note] = []
        with self._translate():
            pages = self.gl.http_list(f"/projects/{project_id}/issues/{iid}/notes",
                                      query_data={"sort": "desc", "order_by": "created_at", "per_page": 100},
                                      iterator=True, **NO_WAIT)
            for data in pages:
                note = read_note(data)
                if since is not None and note.created_at is not None and note.created_at < since:
                    break
                notes.append(note)
        return notes

    def get_note(self, project_id: int, iid: int, note_id: int) -> Note | None:
        """The note as GitLab stores it; None when that issue of that project has no such note."""
        try:
            with self._translate():
                data = self.gl.http_get(f"/projects/{project_id}/issues/{iid}/notes/{note_id}", **NO_WAIT)
        except GitLabRefused as exc:
            if exc.status == 404:
                return None
            raise
        return read_note(data)

    def label_events(self, project_id: int, iid: int) -> list[ResourceEvent]:
        """Who added or removed which label, oldest first (GitLab orders them by id)."""
        return self._resource_events(project_id, iid, "label")

    def state_events(self, project_id: int, iid: int) -> list[ResourceEvent]:
        """Who closed or reopened the issue, oldest first."""
        return self._resource_events(project_id, iid, "state")

    def _resource_events(self, project_id: int, iid: int, kind: str) -> list[ResourceEvent]:
        with self._translate():
            data = self.gl.http_list(f"/projects/{project_id}/issues/{iid}/resource_{kind}_events",
                                     query_data={"per_page": 100}, get_all=True, **NO_WAIT)
        return [read_resource_event(e, kind) for e in data]

    def all_notes(self, project_id: int, iid: int) -> list[Note]:
        with self._translate():
            data = self.gl.http_list(f"/projects/{project_id}/issues/{iid}/notes",
                                     query_data={"sort": "asc", "order_by": "created_at"}, get_all=True, **NO_WAIT)
        return [read_note(n) for n in data]

    def access_level(self, project_id: int, user_id: int) -> int | None:
        """The user's effective access level in the project; None if not a member. Before 17.0,
        members/all leaves out members of the groups the project is shared with
        (lib/api/helpers/members_helpers.rb): on a 404 the bot reads those shares itself."""
        member = self._member(f"/projects/{project_id}/members/all/{user_id}")
        if member is not None:
            return member_level(member)
        with self._translate():
            project = self.gl.http_get(f"/projects/{project_id}", **NO_WAIT)
        levels = [shared_level(share, self._member(f"/groups/{share.get('group_id')}/members/all/{user_id}"))
                  for share in shares_of(project)]
        return max((level for level in levels if level), default=None)

    def _member(self, path: str) -> dict | None:
        try:
            with self._translate():
                return self.gl.http_get(path, **NO_WAIT)
        except GitLabRefused as exc:
            if exc.status == 404:
                return None
            raise

    def find_user(self, username: str) -> dict | None:
        with self._translate():
            data = self.gl.http_get("/users", query_data={"username": username}, **NO_WAIT)
        if not data:
            return None
        return {"id": data[0]["id"], "username": data[0]["username"]}

    def iter_issues(self, project: str | int, labels: list[str], *, state: str = "opened",
                    updated_after: str | None = None, malformed: list | None = None,
                    author_id: int | None = None, created_after: str | None = None) -> Iterator[Issue]:
        """Issues carrying all labels, 100 per page: one call per 100. `project` is an id or a path.
        With `malformed`, an issue GitLab sent in a shape the bot cannot use is appended there as
        (iid or None, reason) and the listing goes on; without it, MalformedResponse is raised."""
        query: dict[str, Any] = {"labels": ",".join(labels), "state": state, "per_page": 100}
        if updated_after:
            query["updated_after"] = updated_after
        if author_id is not None:
            query["author_id"] = author_id
        if created_after:
            query["created_after"] = created_after
        with self._translate():
            pages = self.gl.http_list(f"/projects/{gitlab.utils.EncodedId(project)}/issues",
                                      query_data=query, iterator=True, **NO_WAIT)
            for data in pages:
                try:
                    pid = data.get("project_id") if isinstance(data, dict) else None
                    yield read_issue(data, pid if isinstance(pid, int) else project)
                except MalformedResponse as exc:
                    if malformed is None:
                        raise
                    iid = data.get("iid") if isinstance(data, dict) else None
                    malformed.append((iid if isinstance(iid, int) else None, str(exc)))

    # -- writes -------------------------------------------------------------------------
    def create_note(self, project_id: int, iid: int, body: str, *, internal: bool = False) -> Note | None:
        """The note GitLab kept; None when it took the note for quick actions only and kept none (a 202
        with `commands_changes` and no id: lib/api/notes.rb)."""
        payload: dict[str, Any] = {"body": no_quick_actions(body)}
        if internal:
            payload["internal"] = True
        with paced(self._pace["notes"]), self._translate():
            data = self.gl.http_post(f"/projects/{project_id}/issues/{iid}/notes", post_data=payload, **NO_WAIT)
        if isinstance(data, dict) and "id" not in data and "commands_changes" in data:
            return None
        return read_note(data)

    def update_issue(self, project_id: int, iid: int, **changes: Any) -> Issue:
        """One PUT: description, add_labels/remove_labels (lists), assignee_ids, state_event, due_date."""
        payload = _safe_text({key: value for key, value in changes.items() if value is not None})
        for key, value in payload.items():
            if key in ("add_labels", "remove_labels", "labels"):
                payload[key] = ",".join(value)
        with self._translate():
            data = self.gl.http_put(f"/projects/{project_id}/issues/{iid}", post_data=payload, **NO_WAIT)
        return read_issue(data, project_id)

    def create_issue(self, project_id: int, **fields: Any) -> Issue:
        payload = {k: (",".join(v) if k == "labels" else v) for k, v in _safe_text(fields).items() if v is not None}
        with paced(self._pace["issues"]), self._translate():
            data = self.gl.http_post(f"/projects/{gitlab.utils.EncodedId(project_id)}/issues", post_data=payload,
                                     **NO_WAIT)
        return read_issue(data, project_id)

    def link_issues(self, project_id: int, iid: int, target_project_id: int, target_iid: int) -> None:
        with self._translate():
            try:
                self.gl.http_post(f"/projects/{project_id}/issues/{iid}/links",
                                  post_data={"target_project_id": target_project_id,
                                             "target_issue_iid": target_iid, "link_type": "relates_to"}, **NO_WAIT)
            except gitlab.GitlabHttpError as exc:
                if exc.response_code == 409:  # already linked: a repeated delivery
                    return
                raise
