"""Process one parsed delivery: guards first (each once), then the handlers, then the executor.

Guards, in order: the bot's own events; edited notes; notes with no command; non-incidents (except for
`declare` and `help`); the commenter's access level. Only then is the issue read from GitLab.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .commands import Command, parse_commands, with_fields
from .config import Config
from .events import Actor, Event, IssueEvent, NoteEvent
from .executor import IssueWriter
from .fields import VERB_FIELDS, FieldError, validate_fields
from .gitlab import GitLab, Issue
from .logs import log_context
from .rebuild import rebuild_state
from .render import Renderer
from .routing import CommandRefused, Context, Effects, Reply
from .state import BlockError, IncidentState, Role, read_block
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
                 declaring: bool = False):
        self.services, self.cfg, self.gl, self.now = services, services.cfg, gl, now
        self.render = services.renderer.render
        self.bot = services.identity(gl)
        self.writer = IssueWriter(gl, self.cfg, self.render, gl.get_issue(project_id, iid),
                                  self.bot.get("username"), now)
        self.rebuilt: str | None = None
        self.internal = False  # replies follow the triggering note: internal notes get internal replies
        self.state = self._load_state(declaring)
        self._members: dict[str, Role | None] = {}

    @property
    def issue(self) -> Issue:
        return self.writer.issue

    def _load_state(self, declaring: bool) -> IncidentState | None:
        """The block's state; rebuilt when damaged, or missing on an incident that is not being declared."""
        try:
            state = read_block(self.issue.description)
        except BlockError as exc:
            self.rebuilt = f"the incident-bot block was damaged ({exc})"
            return self._rebuild()
        if state is None and not declaring and self.cfg.labels["incident"] in self.issue.labels:
            self.rebuilt = "the incident-bot block was missing"
            return self._rebuild()
        return state

    def _rebuild(self) -> IncidentState:
        notes = self.gl.all_notes(self.issue.project_id, self.issue.iid)
        return rebuild_state(self.issue, notes, self.cfg, self.bot.get("username"))

    def remember_member(self, role: Role) -> None:
        self._members[role.username] = role

    def lookup_member(self, username: str) -> Role | None:
        if username not in self._members:
            user = self.gl.find_user(username)
            level = self.gl.access_level(self.issue.project_id, user["id"]) if user else None
            self._members[username] = Role(user["username"], user["id"]) if level else None
        return self._members[username]

    def context(self, actor: str | None) -> Context:
        return Context(cfg=self.cfg, render=self.render, iid=self.issue.iid, title=self.issue.title,
                       author=self.issue.author.get("username"), state=self.state, actor=actor,
                       now=self.now, lookup_member=self.lookup_member, labels=tuple(self.issue.labels),
                       confidential=self.issue.confidential, commands=COMMANDS)

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
                  now: datetime | None = None) -> str:
    """Returns a short outcome for the log. Raises gitlab.RetryableGitLabError / GitLabRefused."""
    now = now or services.clock()
    if isinstance(event, IssueEvent):
        return process_issue_event(event, services, event_uuid, now)
    if isinstance(event, NoteEvent):
        return process_note_event(event, services, event_uuid, now)
    return f"ignored: {event.reason}"


def process_issue_event(event: IssueEvent, services: Services, event_uuid: str | None, now: datetime) -> str:
    triggers = issue_triggers(event, services.cfg)
    if not triggers:
        return "ignored: no label or state change the bot reacts to"
    gl = services.connect(event_uuid)
    if is_bot(event.actor, services.identity(gl)):
        return "ignored: the bot's own change"
    d = Delivery(services, gl, event.issue.project_id, event.issue.iid, now,
                 declaring="incident_labeled" in triggers)
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


def process_note_event(event: NoteEvent, services: Services, event_uuid: str | None, now: datetime) -> str:
    cfg = services.cfg
    if event.action == "update":
        return "ignored: an edited comment runs nothing"
    gl = services.connect(event_uuid)
    bot = services.identity(gl)
    if is_bot(event.actor, bot):
        return "ignored: the bot's own note"
    # The fields' YAML is read only once the commenter is known to be allowed (with_fields below).
    commands = parse_commands(event.body, cfg.prefix, bot.get("username"), fields=False,
                              max_commands=cfg.max_commands_per_note)
    if not commands:
        return "ignored: no command"
    incident_label = cfg.labels["incident"] in event.issue.labels
    postmortem_label = cfg.labels["postmortem"] in event.issue.labels
    if not incident_label and not any(c.verb in NO_INCIDENT_VERBS
                                      or (postmortem_label and POSTMORTEM_COMMANDS.get(c.verb) is not None)
                                      for c in commands):
        return "ignored: not an incident"

    project_id, iid = event.issue.project_id, event.issue.iid
    user_id = event.actor.id
    if user_id is None and event.actor.username:
        found = gl.find_user(event.actor.username)
        user_id = found["id"] if found else None
    level = gl.access_level(project_id, user_id) if user_id is not None else None
    if level is None or level < cfg.min_access_level:
        # Only a reply: no need to read the issue or its state for it.
        ref = event.issue
        issue = Issue(ref.project_id, ref.iid, ref.id, ref.title, "", list(ref.labels), [], {}, ref.state or "opened",
                      ref.confidential, None, None)
        writer = IssueWriter(gl, cfg, services.renderer.render, issue, bot.get("username"), now)
        body = services.renderer.render("refusal.md.j2", reason=f"incident commands need at least "
                                        f"{_level_name(cfg.min_access_level)} access to this project")
        writer.post(Reply("refusal", body), f"note-{event.note_id}-refused", internal=event.internal)
        return "refused: access level"

    commands = [with_fields(c) for c in commands]
    d = Delivery(services, gl, project_id, iid, now, declaring=any(c.verb == "declare" for c in commands))
    if event.actor.username:  # already known to be a member: `cmoc me` needs no second lookup
        d.remember_member(Role(event.actor.username, user_id))
    for cmd in commands:
        key = f"note-{event.note_id}-{cmd.index}"
        if d.state is not None and d.state.was_handled(key):
            d.resume(key)
            continue
        with log_context(command=cmd.verb):
            d.apply(run_command(d, cmd, event.actor.username), key, internal=event.internal)
            log.info("command %s handled", cmd.verb)
    return "handled: " + ", ".join(c.verb for c in commands)


_LEVELS = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


def _level_name(level: int) -> str:
    return _LEVELS.get(level, f"level {level}")
