"""An incident session: one delivery's work on one issue (the GitLab adapter, the issue, its state).

`Services` holds what lives longer than a delivery: the settings, the renderer, the GitLab client
factory, the bot's identity (read once) and the access cache. A session loads the incident's state
(rebuilt when the signed block does not verify), gives handlers their `Context`, applies their
`Effects` through the writer, and runs the follow-up jobs they name.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .access import AccessCache, find_member
from .config import Config
from .events import Actor
from .executor import IssueWriter, role_holder_ids
from .exercise import is_drill, mark_drill
from .gitlab import DESCRIPTION_MAX, GitLab, Issue
from .rebuild import rebuild_state
from .render import Renderer
from .routing import Context, Effects, Reply
from .state import BlockError, IncidentState, Role, UnverifiedState, read_block, state_scope
from .statekey import ensure_state_key
from .timeutil import utcnow
from .wiring import COMMANDS, FOLLOWUPS, POSTMORTEM_HELP

# Room a block takes at most (the table and the signed state with its capped lists), with a margin.
BLOCK_ROOM = 32 * 1024

log = logging.getLogger("incident_bot")


@dataclass
class Services:
    cfg: Config
    renderer: Renderer
    connect: Callable[[str | None], GitLab]  # event uuid -> a GitLab adapter for this delivery
    bot_user: dict | None = None  # {"id", "username"}, fetched once
    clock: Callable[[], datetime] = utcnow  # the demo plays an incident on a clock of its own
    access: AccessCache = field(default_factory=AccessCache)  # allowed levels, 60 s per project and user
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, cfg: Config) -> "Services":
        timeout = float(cfg.data["gitlab_timeout_seconds"])
        return cls(cfg, Renderer(cfg.templates_dir),
                   # The delivery's event UUID is not forwarded (bot/gitlab.py says why).
                   lambda _uuid: GitLab(cfg.gitlab_url, cfg.gitlab_token, timeout=timeout,
                                       rate_limits=cfg.data["gitlab_rate_limits"]))

    def identity(self, gl: GitLab) -> dict:
        with self._lock:
            if self.bot_user is None:
                self.bot_user = gl.current_user()
            return self.bot_user


def is_bot(actor: Actor, bot: dict) -> bool:
    if actor.id is not None and bot.get("id") is not None:
        return actor.id == bot["id"]
    return bool(actor.username) and actor.username == bot.get("username")


class IncidentSession:
    """One delivery's work on one issue: the GitLab adapter, the issue, its state."""

    def __init__(self, services: Services, gl: GitLab, project_id: int, iid: int, now: datetime, *,
                 declaring: bool = False, issue: Issue | None = None, retry: bool = True):
        self.services, self.cfg, self.gl, self.now = services, services.cfg, gl, now
        self.render = services.renderer.render
        self.bot = services.identity(gl)
        self.writer = IssueWriter(gl, self.cfg, self.render, issue or gl.get_issue(project_id, iid),
                                  self.bot.get("username"), now, check_markers=retry)
        self.rebuilt: str | None = None
        self.internal = False  # replies follow the triggering note: internal notes get internal replies
        self.event_at: datetime | None = None  # the triggering note's created_at, as GitLab stores it
        self.state = self._load_state(declaring)
        self.writer.holders = set(role_holder_ids(self.state))  # assignees the bot put there
        self._members: dict[str, Role | None] = {}

    @property
    def issue(self) -> Issue:
        return self.writer.issue

    def _load_state(self, declaring: bool) -> IncidentState | None:
        """The block's state when its signature verifies; rebuilt from labels, assignees and the bot's
        own notes when it does not (anyone who can edit the issue can edit the block), when it is
        damaged, or when it is missing on an incident that is not being declared. On an issue without
        the incident label, a block the bot cannot verify counts as none (declaring replaces it)."""
        key = ensure_state_key(self.cfg)
        incident = self.cfg.labels["incident"] in self.issue.labels
        try:
            state = read_block(self.issue.description, key, state_scope(self.issue.id))
        except UnverifiedState as exc:
            if not incident:
                return None
            self.rebuilt = (f"the incident-bot state in the description could not be verified ({exc}): "
                            "it was changed outside the bot, or written by a version that did not sign it")
            log.warning("incident-bot state of issue %s did not verify: %s", self.issue.iid, exc)
            return self._rebuild()
        except BlockError as exc:
            if not incident:
                return None
            self.rebuilt = f"the incident-bot block was damaged ({exc})"
            return self._rebuild()
        if state is None and not declaring and incident:
            self.rebuilt = "the incident-bot block was missing"
            return self._rebuild()
        return state

    def _rebuild(self) -> IncidentState:
        notes = self.gl.all_notes(self.issue.project_id, self.issue.iid)
        return rebuild_state(self.issue, notes, self.cfg, self.bot.get("username"))

    def remember_member(self, username: str, role: Role | None) -> None:
        self._members[username] = role

    def lookup_member(self, username: str) -> Role | None:
        if username not in self._members:
            self._members[username] = find_member(self.services, self.gl, self.issue.project_id, username)
        return self._members[username]

    def context(self, actor: str | None) -> Context:
        return Context(cfg=self.cfg, render=self.render, iid=self.issue.iid, title=self.issue.title,
                       author=self.issue.author.get("username"), state=self.state, actor=actor,
                       now=self.now, lookup_member=self.lookup_member, labels=tuple(self.issue.labels),
                       confidential=self.issue.confidential, internal=self.internal,
                       description=self.issue.description, issue_state=self.issue.state,
                       commands=POSTMORTEM_HELP if self._postmortem() else COMMANDS, event_at=self.event_at)

    def _postmortem(self) -> bool:
        return self.state is None and self.cfg.labels["postmortem"] in self.issue.labels

    def apply(self, effects: Effects, key: str, *, internal: bool = False) -> None:
        if self.rebuilt:
            # Say so once, and write the rebuilt block even if the handler changed nothing. Not where the
            # description has no room for a block: the writer says that instead, and the bot works from
            # its notes there, so "rebuilt" would be said again with every command.
            if len(self.issue.description) < DESCRIPTION_MAX - BLOCK_ROOM:
                notice = Reply("rebuilt", self.render("rebuilt_notice.md.j2", reason=self.rebuilt))
                effects.replies.insert(0, notice)
            if effects.state is None:
                effects.state = self.state
            self.rebuilt = None
        self.internal = internal
        if is_drill(effects.state or self.state, self.issue.labels):
            for reply in effects.replies:
                reply.body = mark_drill(reply.body)
        self.writer.apply(effects, key, internal=internal)
        if effects.state is not None:
            self.state = effects.state
        for name in effects.followups:
            job = FOLLOWUPS.get(name)
            if job is not None:
                job(self, key)

    def resume(self, key: str) -> None:
        """A repeated delivery of a handled key: finish follow-up jobs a crash cut short after the
        state was written (a job says so with its `pending(session)`)."""
        for job in FOLLOWUPS.values():
            pending = getattr(job, "pending", None)
            if pending is not None and pending(self):
                job(self, key)
