"""Process one parsed delivery: guards first (each once), then the handlers, then the executor.

A note: the payload's own events, edited notes, notes with no command and non-incidents are ignored
without a call. Then three reads at once (the issue, the note as GitLab stores it, the commenter's access
level); the stored note decides author, text and `internal`, and must be in the issue and project the
payload names. An issue event: the issue and the actor's access level, at once; below the level,
`permissions` refuses. The bot's recent notes (for markers) are read only on a retry.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .access import AccessCache, actor_level, find_member, level_name
from .commands import Command, parse_commands, with_fields
from .config import Config
from .events import Actor, Event, IssueEvent, NoteEvent
from .executor import IssueWriter
from .fields import VERB_FIELDS, FieldError, validate_fields
from .gitlab import GitLab, GitLabRefused, Issue
from .handlers.roles import named_users
from .logs import log_context
from .permissions import refuse_issue_event
from .rebuild import rebuild_state
from .render import Renderer
from .routing import CommandRefused, Context, Effects, Reply
from .state import BlockError, IncidentState, Role, UnverifiedState, read_block, state_scope
from .statekey import ensure_state_key
from .timeutil import iso, utcnow
from .wiring import COMMANDS, FOLLOWUPS, POSTMORTEM_COMMANDS, ROUTER

log = logging.getLogger("incident_bot")

NO_INCIDENT_VERBS = {"declare", "help"}


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
                   lambda uuid: GitLab(cfg.gitlab_url, cfg.gitlab_token, event_uuid=uuid, timeout=timeout))

    def identity(self, gl: GitLab) -> dict:
        with self._lock:
            if self.bot_user is None:
                self.bot_user = gl.current_user()
            return self.bot_user


def is_bot(actor: Actor, bot: dict) -> bool:
    if actor.id is not None and bot.get("id") is not None:
        return actor.id == bot["id"]
    return bool(actor.username) and actor.username == bot.get("username")


def issue_triggers(event: IssueEvent, cfg: Config) -> list[str]:
    triggers = []
    if cfg.labels["incident"] in event.labels_added:
        triggers.append("incident_labeled")
    if any(label in event.labels_added for label in cfg.labels["severity"].values()):
        triggers.append("severity_labeled")
    if event.closed:
        triggers.append("closed")
    # Postmortems: a person's edit may add action items; a follow-up closed/reopened ticks its line.
    if event.description_changed and cfg.labels["postmortem"] in event.issue.labels:
        triggers.append("postmortem_edited")
    if (event.closed or event.reopened) and cfg.labels["postmortem_action"] in event.issue.labels:
        triggers.append("action_state")
    return triggers


class Delivery:
    """One event being processed: the GitLab adapter, the issue, its state."""

    def __init__(self, services: Services, gl: GitLab, project_id: int, iid: int, now: datetime, *,
                 declaring: bool = False, issue: Issue | None = None, retry: bool = True):
        self.services, self.cfg, self.gl, self.now = services, services.cfg, gl, now
        self.render = services.renderer.render
        self.bot = services.identity(gl)
        self.writer = IssueWriter(gl, self.cfg, self.render, issue or gl.get_issue(project_id, iid),
                                  self.bot.get("username"), now, check_markers=retry)
        self.rebuilt: str | None = None
        self.internal = False  # replies follow the triggering note: internal notes get internal replies
        self.state = self._load_state(declaring)
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
                       description=self.issue.description, commands=COMMANDS)

    def apply(self, effects: Effects, key: str, *, internal: bool = False) -> None:
        if self.rebuilt:
            # Say so once, and write the rebuilt block even if the handler changed nothing.
            notice = Reply("rebuilt", self.render("rebuilt_notice.md.j2", reason=self.rebuilt))
            effects.replies.insert(0, notice)
            if effects.state is None:
                effects.state = self.state
            self.rebuilt = None
        self.internal = internal
        self.writer.apply(effects, key, internal=internal)
        if effects.state is not None:
            self.state = effects.state
        for name in effects.followups:
            job = FOLLOWUPS.get(name)
            if job is not None:
                job(self, key)

    def resume(self, key: str) -> None:
        """A repeated delivery of a handled key: finish follow-up jobs a crash cut short after the
        state was written (a job says so with its `pending(delivery)`)."""
        for job in FOLLOWUPS.values():
            pending = getattr(job, "pending", None)
            if pending is not None and pending(self):
                job(self, key)


def process_event(event: Event, services: Services, *, event_uuid: str | None = None,
                  now: datetime | None = None, retry: bool = True) -> str:
    """Returns a short outcome for the log. Raises gitlab.RetryableGitLabError / GitLabRefused.

    `retry`: an earlier attempt may have run (the queue passes attempts > 1), so the bot's recent notes
    are read for the markers a crash may have left. A first attempt skips that read.
    """
    now = now or services.clock()
    if isinstance(event, IssueEvent):
        return process_issue_event(event, services, event_uuid, now, retry)
    if isinstance(event, NoteEvent):
        return process_note_event(event, services, event_uuid, now, retry)
    return f"ignored: {event.reason}"


def issue_or_none(gl: GitLab, project_id: int, iid: int) -> Issue | None:
    try:
        return gl.get_issue(project_id, iid)
    except GitLabRefused as exc:
        if exc.status == 404:
            return None
        raise


def process_issue_event(event: IssueEvent, services: Services, event_uuid: str | None, now: datetime,
                        retry: bool) -> str:
    cfg = services.cfg
    triggers = issue_triggers(event, cfg)
    if not triggers:
        return "ignored: no label or state change the bot reacts to"
    gl = services.connect(event_uuid)
    if is_bot(event.actor, services.identity(gl)):
        return "ignored: the bot's own change"
    ref = event.issue
    issue, level = gl.parallel(lambda g: g.get_issue(ref.project_id, ref.iid),
                               lambda g: actor_level(services, g, ref.project_id, event.actor))
    allowed = level is not None and level >= cfg.min_access_level
    # A refusal has no state to record its key in: it always looks for its marker.
    d = Delivery(services, gl, ref.project_id, ref.iid, now, declaring="incident_labeled" in triggers,
                 issue=issue, retry=retry or not allowed)
    if not allowed:
        return refuse_issue_event(d, event, triggers)
    stamp = iso(event.updated_at) or "-"
    for trigger in triggers:
        for handler in ROUTER.handlers(trigger):
            key = f"issue-{d.issue.id}-{trigger}-{stamp}"
            if d.state is not None and d.state.was_handled(key):
                d.resume(key)
                continue
            d.apply(handler(d.context(event.actor.username), event), key)
    return "handled: " + ", ".join(triggers)


def _error_reply(d: Delivery, message: str, valid: list[str] | None) -> Effects:
    body = d.render("error.md.j2", message=message, valid=valid, prefix=d.cfg.prefix)
    return Effects([Reply("error", body)])


def run_command(d: Delivery, cmd: Command, actor: str | None) -> Effects:
    if cmd.over_cap:  # past the note's command cap: say so, run nothing
        return _error_reply(d, cmd.error, None)
    spec = COMMANDS.get(cmd.verb)
    if d.state is None and d.cfg.labels["postmortem"] in d.issue.labels:
        spec = POSTMORTEM_COMMANDS.get(cmd.verb) or spec  # a postmortem: actions, status
    if spec is None:
        return _error_reply(d, f"'{cmd.verb}' is not a command", COMMANDS.verbs())
    if cmd.error:
        return _error_reply(d, cmd.error, None)
    if spec.needs_incident and d.state is None:
        return _error_reply(d, "this issue is not an incident", [f"{d.cfg.prefix} declare sev1|sev2|sev3"])
    try:
        if cmd.verb in VERB_FIELDS or cmd.fields:
            fields = validate_fields(cmd.verb, cmd.fields)
        else:
            fields = {}  # a postmortem verb without a field schema, given no fields
        return spec.handler(d.context(actor), cmd.args, fields)
    except FieldError as exc:
        return _error_reply(d, exc.message, exc.valid)
    except CommandRefused as exc:
        return _error_reply(d, exc.message, exc.valid)


def _may_run(commands: list[Command], labels, cfg: Config) -> bool:
    """An incident takes every command; other issues only `declare`, `help` and a postmortem's verbs."""
    if cfg.labels["incident"] in labels:
        return True
    postmortem = cfg.labels["postmortem"] in labels
    return any(c.verb in NO_INCIDENT_VERBS or (postmortem and POSTMORTEM_COMMANDS.get(c.verb) is not None)
               for c in commands)


def process_note_event(event: NoteEvent, services: Services, event_uuid: str | None, now: datetime,
                       retry: bool) -> str:
    cfg = services.cfg
    if event.action == "update":
        return "ignored: an edited comment runs nothing"
    gl = services.connect(event_uuid)
    bot = services.identity(gl)
    if is_bot(event.actor, bot):
        return "ignored: the bot's own note"
    # The payload only decides what is cheap to ignore; what runs is the note GitLab stores. The fields'
    # YAML is read only once the commenter is known to be allowed (with_fields below).
    claimed = parse_commands(event.body, cfg.prefix, bot.get("username"), fields=False,
                             max_commands=cfg.max_commands_per_note)
    if not claimed:
        return "ignored: no command"
    ref = event.issue
    if not _may_run(claimed, ref.labels, cfg):
        return "ignored: not an incident"

    # One round trip: the issue, the note, the commenter's level, and the members role commands name.
    names = named_users(claimed)
    issue, note, level, *members = gl.parallel(
        lambda g: issue_or_none(g, ref.project_id, ref.iid),
        lambda g: g.get_note(ref.project_id, ref.iid, event.note_id),
        lambda g: actor_level(services, g, ref.project_id, event.actor),
        *[lambda g, name=name: find_member(services, g, ref.project_id, name) for name in names])
    if (issue is None or note is None or note.project_id not in (None, ref.project_id)
            or note.noteable_iid not in (None, ref.iid)):
        log.warning("refused: the payload names a note that is not in the issue and project it names")
        return "refused: the note is not in the issue and project the payload names"
    author = Actor(note.author_id, note.author)
    if note.system or is_bot(author, bot):
        return "ignored: a system note or the bot's own note"
    commands = parse_commands(note.body, cfg.prefix, bot.get("username"), fields=False,
                              max_commands=cfg.max_commands_per_note)
    if not commands:
        return "ignored: no command"
    if not _may_run(commands, issue.labels, cfg):
        return "ignored: not an incident"
    if author.id != event.actor.id:
        log.warning("the payload names another author than the note's; running as the note's author")
        level = actor_level(services, gl, ref.project_id, author)

    if level is None or level < cfg.min_access_level:
        writer = IssueWriter(gl, cfg, services.renderer.render, issue, bot.get("username"), now)
        body = services.renderer.render("refusal.md.j2", reason=f"incident commands need at least "
                                        f"{level_name(cfg.min_access_level)} access to this project")
        writer.post(Reply("refusal", body), f"note-{note.id}-refused", internal=note.internal)
        return "refused: access level"

    commands = [with_fields(c) for c in commands]
    d = Delivery(services, gl, ref.project_id, ref.iid, now, declaring=any(c.verb == "declare" for c in commands),
                 issue=issue, retry=retry)
    d.internal = note.internal  # the one source of "internal": the note as GitLab stores it
    if author.username:  # already known to be a member: `cmoc me` needs no second lookup
        d.remember_member(author.username, Role(author.username, author.id))
    for name, member in zip(names, members, strict=True):
        d.remember_member(name, member)
    for cmd in commands:
        key = f"note-{note.id}-{cmd.index}"
        if d.state is not None and d.state.was_handled(key):
            d.resume(key)
            continue
        with log_context(command=_loggable(cmd.verb)):
            d.apply(run_command(d, cmd, author.username), key, internal=note.internal)
            log.info("command %s handled", _loggable(cmd.verb))
    return "handled: " + ", ".join(_loggable(c.verb) for c in commands)


def _loggable(verb: str) -> str:
    """A verb the bot knows, or "unknown": whatever else a person typed stays out of the logs."""
    return verb if COMMANDS.get(verb) or POSTMORTEM_COMMANDS.get(verb) else "unknown"
