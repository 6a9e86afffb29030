"""`Sandbox`: the GitLab stand-in object tests and the demo drive, served over real HTTP."""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import time
import uuid
from typing import Any, Iterator

from . import entities, payloads
from .clock import Clock, system_clock
from .front import redirecting_server
from .hooks import RecursionDetection, Sender, build_request, executable, record_outcome, wants
from .store import DEVELOPER, Store
from .wsgi import create_app
from .wsgi_server import ThreadedServer


class Sandbox:
    def __init__(self, latency: float = 0.0, assignee_limit: int | None = 1, object_kind: str = "issue",
                 scoped_labels: bool | None = None, clock: Clock = system_clock, hook_timeout: float = 10.0,
                 quick_action_generation: str = "commonmark", note_hook_internal: bool = True):
        self.latency = latency
        self.object_kind = object_kind
        # Exclusive scoped labels come with Premium, like unlimited assignees.
        scoped = assignee_limit is None if scoped_labels is None else scoped_labels
        self.store = Store(clock=clock, assignee_limit=assignee_limit, scoped_labels=scoped)
        self.lock = threading.RLock()
        self.calls: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.quick_actions: list[dict[str, Any]] = []
        # How GitLab finds quick actions: "regex" (up to 16.6) or "commonmark" (16.7 on); see extractor.
        self.store.quick_action_generation = quick_action_generation
        self.store.quick_actions_record = self.quick_actions
        # NoteBuilder slices `internal` from the note's attributes: while the column was still named
        # `confidential` (2023-2025 payloads), note hooks carried neither.
        self.store.note_hook_internal = note_hook_internal
        self._faults: list[dict[str, Any]] = []
        self._rate_limits: dict[str, int] = {}  # "notes" | "issues" -> creations a window per user
        self._rate_window = 60.0
        self._rate_retry_after = False
        self._rate_seen: dict[tuple[str, int], list[float]] = {}
        self._sender = Sender(self._delivered, timeout=hook_timeout)
        self.recursion = RecursionDetection()
        self.dropped: list[dict[str, Any]] = []  # events a disabled hook did not get (GitLab drops them)
        self._server: ThreadedServer | None = None
        self._fronts: list[ThreadedServer] = []
        self.refused_tokens: dict[str, str] = {}  # token -> "expired" | "revoked"
        self.token_scopes: dict[str, list[str]] = {}  # token -> its scopes; unset: ["api"]
        self.external_url: str | None = None  # GitLab's external_url, when it is not the address called
        self._last_call = time.monotonic()
        self.in_flight = 0  # API calls being answered (sandbox.wsgi.CountInFlight)
        self.url: str | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "Sandbox":
        # Enough threads for every caller to wait out `latency` at once.
        self._server = ThreadedServer(create_app(self), threads=32, name="sandbox")
        self.url = self._server.url
        self.store.base_url = self.url
        self._server.start()
        self._sender.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None
        for front in self._fronts:
            front.stop()
        self._fronts.clear()
        self._sender.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def assignee_limit(self) -> int | None:
        return self.store.assignee_limit

    @assignee_limit.setter
    def assignee_limit(self, value: int | None) -> None:
        self.store.assignee_limit = value

    # -- setup -----------------------------------------------------------------
    def add_user(self, username: str, name: str | None = None, email: str | None = None,
                 admin: bool = False, bot: bool = False) -> dict[str, Any]:
        with self.lock:
            u = self.store.add_user(username, name=name, email=email, admin=admin, bot=bot)
            return {"id": u["id"], "username": u["username"], "name": u["name"], "token": u["token"]}

    def token_for(self, username: str) -> str:
        with self.lock:
            user = self.store.user_by_name(username)
            if user is None:
                raise KeyError(username)
            return user["token"]

    def refuse_token(self, username: str, kind: str = "expired") -> None:
        """GitLab refuses this user's token from now on: "expired" or "revoked" (see front.py)."""
        with self.lock:
            self.refused_tokens[self.token_for(username)] = kind

    def scope_token(self, username: str, *scopes: str) -> None:
        """This user's token has only these scopes from now on (see front.py)."""
        with self.lock:
            self.token_scopes[self.token_for(username)] = list(scopes)

    def http_front(self) -> str:
        """The URL of a front that answers every call with a 301 to this sandbox (see front.py)."""
        front = redirecting_server(self.url or "")
        self._fronts.append(front)
        return front.url

    def add_project(self, path: str, name: str | None = None, description: str = "") -> dict[str, Any]:
        with self.lock:
            p = self.store.add_project(path, name=name, description=description)
            return {"id": p["id"], "path_with_namespace": p["path_with_namespace"], "name": p["name"]}

    def add_member(self, project_id: int | str, user_id: int, access_level: int = DEVELOPER,
                   membership_state: str = "active") -> None:
        with self.lock:
            self.store.add_member(self.store.project(project_id)["id"], user_id, access_level, membership_state)

    def share_with_group(self, project_id: int | str, group_path: str, members: dict[int, int],
                         group_access: int) -> dict[str, Any]:
        """A group of `members` (user id -> level), the project shared with it at `group_access`."""
        with self.lock:
            group = self.store.add_group(group_path)
            for uid, level in members.items():
                self.store.add_group_member(group["id"], uid, level)
            self.store.share_project(self.store.project(project_id)["id"], group["id"], group_access)
            return group

    def add_hook(self, project_id: int | str, url: str, token: str | None = None,
                 signing_key: str | None = None, **events: bool) -> dict[str, Any]:
        """events: issues_events, confidential_issues_events, note_events, confidential_note_events."""
        with self.lock:
            hook = self.store.add_hook(self.store.project(project_id)["id"], url, token=token,
                                       signing_key=signing_key, **events)
            return dict(hook)

    def client(self, username: str, **kwargs: Any):
        """A python-gitlab client acting as `username`."""
        import gitlab
        return gitlab.Gitlab(self.url, private_token=self.token_for(username), **kwargs)

    # -- state for assertions ------------------------------------------------
    def issue(self, project_id: int | str, iid: int) -> dict[str, Any]:
        with self.lock:
            st = self.store
            return entities.issue(st, st.issue_by_iid(st.project(project_id)["id"], iid))

    def notes(self, project_id: int | str, iid: int) -> list[dict[str, Any]]:
        """Every note (system and internal included), oldest first."""
        with self.lock:
            st = self.store
            issue = st.issue_by_iid(st.project(project_id)["id"], iid)
            return [entities.note(st, n) for n in sorted(st.issue_notes(issue), key=lambda n: n["id"])]

    def links(self, project_id: int | str, iid: int) -> list[dict[str, Any]]:
        with self.lock:
            st = self.store
            return entities.linked_issues(st, st.issue_by_iid(st.project(project_id)["id"], iid), None)

    def issues(self, project_id: int | str) -> list[dict[str, Any]]:
        with self.lock:
            st = self.store
            pid = st.project(project_id)["id"]
            return [entities.issue(st, i) for i in st.issues.values() if i["project_id"] == pid]

    # -- call log -------------------------------------------------------------
    def record_call(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(call)
            self._last_call = time.monotonic()

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def count_calls(self, kind: str | None = None, user: str | None = None) -> dict[str, int]:
        """Reads (GET) and writes (other methods); `kind` is a regex searched in the path."""
        with self.lock:
            calls = [c for c in self.calls if (kind is None or re.search(kind, c["path"]))
                     and (user is None or c["user"] == user)]
        reads = sum(1 for c in calls if c["method"] in ("GET", "HEAD"))
        return {"reads": reads, "writes": len(calls) - reads}

    # -- faults ------------------------------------------------------------------
    def inject_fault(self, method: str | None = "PUT", path_regex: str = r"/issues/\d+$", status: int | None = 500,
                     times: int | None = 1, retry_after: int | None = None, delay: float = 0.0,
                     user: str | None = None, skip: int = 0, applied: bool = False) -> None:
        """The next `times` matching calls (times=None: all; method=None: any; user: only that caller's),
        after the first `skip` of them, wait `delay` seconds, then fail with `status` (None: answer
        normally, only slowly). A failed call changes nothing, unless `applied`: then GitLab carries the
        call out (and fires its webhooks) and only the answer is lost, as behind a proxy that gives up
        (502) or a client that times out (`delay`) after the issue or note was created."""
        with self.lock:
            self._faults.append({"method": method.upper() if method else None, "regex": re.compile(path_regex),
                                 "status": status, "times": times, "retry_after": retry_after, "delay": delay,
                                 "user": user, "skip": skip, "applied": applied})

    def pending_faults(self) -> int:
        """Faults not yet taken: 0 once a slow call has started (a test acts while it waits)."""
        with self.lock:
            return len(self._faults)

    # -- rate limits (GitLab.com: 60 note and 200 issue creations a minute per user) ----------------
    def limit_rate(self, notes: int | None = None, issues: int | None = None, window: float = 60.0,
                   retry_after: bool = False) -> None:
        """Per-user limits on creating notes and issues over a sliding `window` (seconds). Past them the
        create answers 429, with `Retry-After` (the seconds until the oldest creation leaves the window)
        only when `retry_after`: older GitLab sends none. Refused calls do not count."""
        with self.lock:
            self._rate_limits = {k: v for k, v in (("notes", notes), ("issues", issues)) if v is not None}
            self._rate_window, self._rate_retry_after = float(window), retry_after
            self._rate_seen.clear()

    def take_rate(self, method: str, path: str, user_id: int) -> dict[str, Any] | None:
        """None: the call may go on (and is counted); else the 429 to answer."""
        if method != "POST":
            return None
        kind = ("notes" if re.search(r"/issues/\d+/notes$", path)
                else "issues" if re.search(r"/projects/[^/]+/issues$", path) else None)
        with self.lock:
            limit = self._rate_limits.get(kind) if kind else None
            if limit is None:
                return None
            now = time.monotonic()
            seen = [t for t in self._rate_seen.get((kind, user_id), []) if t > now - self._rate_window]
            self._rate_seen[(kind, user_id)] = seen
            if len(seen) < limit:
                seen.append(now)
                return None
            oldest = seen[0] if seen else now
            wait = max(1, int(oldest + self._rate_window - now + 0.999))
            return {"retry_after": wait if self._rate_retry_after else None}

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str, user: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            for fault in self._faults:
                if (fault["method"] in (None, method)) and fault["regex"].search(path) \
                        and fault["user"] in (None, user):
                    if fault["skip"] > 0:  # this call goes through; a later one fails
                        fault["skip"] -= 1
                        continue
                    if fault["times"] is not None:
                        fault["times"] -= 1
                        if fault["times"] <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- webhooks -----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the lock for one API call, then queue the webhooks its changes caused."""
        from flask import g
        with self.lock:
            try:
                yield self.store
            finally:
                self._queue_events(g.get("event_uuid"), bool(g.get("chained")))

    def now(self) -> float:
        return self.store.clock().timestamp()

    def _queue_events(self, event_uuid: str | None, chained: bool = False) -> None:
        event_uuid = event_uuid or str(uuid.uuid4())
        st = self.store
        for event in st.take_events():
            actor = st.users[event["actor_id"]]
            if event["type"] == "issue":
                issue = st.issues[event["issue_id"]]
                payload = payloads.issue_hook(st, issue, actor, event["action"], event["changes"], self.object_kind)
            else:
                issue = st.issues[st.notes[event["note_id"]]["issue_id"]]
                payload = payloads.note_hook(st, st.notes[event["note_id"]], actor, event["action"])
            name = payloads.hook_event_name(payload)
            for hook in st.hooks[issue["project_id"]]:
                if not wants(hook, name) or self.recursion.block(hook, event_uuid, chained, self.now()):
                    continue
                if not executable(hook, self.now()):
                    self.dropped.append({"event": name, "hook_id": hook["id"], "payload": copy.deepcopy(payload)})
                    continue
                self.recursion.register(hook, event_uuid, self.now())
                headers, body = build_request(hook, payload, event_uuid, self.url or "", time.time())
                self._sender.enqueue({"event": name, "headers": headers, "payload": copy.deepcopy(payload),
                                      "body": body, "url": hook["url"], "hook_id": hook["id"], "status": None})

    def _delivered(self, delivery: dict[str, Any]) -> None:
        with self.lock:
            self.deliveries.append(delivery)
            hook = self.hook(delivery["hook_id"])
            # GitLab never retries a delivery; it counts the failures (not for a test's deliver_by_hand hook)
            if hook is not None and not hook.get("by_hand"):
                record_outcome(hook, delivery["status"], self.now())

    def hook(self, hook_id: int) -> dict[str, Any] | None:
        with self.lock:
            return next((h for hooks in self.store.hooks.values() for h in hooks if h["id"] == hook_id), None)

    def redeliver(self, index: int) -> None:
        """Resend a past delivery with the same headers and body, like GitLab's "Resend request"."""
        with self.lock:
            old = self.deliveries[index]
            again = {k: copy.deepcopy(v) for k, v in old.items()
                     if k in ("event", "headers", "payload", "body", "url", "hook_id")}
        self._sender.enqueue(again | {"status": None, "redelivery_of": index})

    def wait_idle(self, timeout: float = 10) -> None:
        """Block until every queued webhook has been delivered and answered."""
        if not self._sender.wait_idle(timeout):
            raise TimeoutError(f"{self._sender.pending} webhook deliveries still pending after {timeout}s")

    @property
    def webhooks(self) -> tuple[int, int]:
        """(queued so far, not yet answered): a delivery counts as unanswered until the receiver answered."""
        return self._sender.enqueued, self._sender.pending

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 15) -> None:
        """Block until no webhook is pending and no API call came for `quiet` seconds (an async bot
        reacting to deliveries has settled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._sender.wait_idle(max(deadline - time.monotonic(), 0))
            with self.lock:
                last = max(self._last_call, self._sender.last_activity)
            if self._sender.pending == 0 and time.monotonic() - last >= quiet:
                return
            time.sleep(min(quiet / 3, 0.05))
        raise TimeoutError(f"sandbox not quiet after {timeout}s")
