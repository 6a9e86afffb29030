"""Process one delivery the door admitted (bot/webhook.py ran the guards that need no GitLab call):
read what GitLab holds, run the guards that need its answer, then the handlers, then the writer.

A note: three reads at once (the issue, the note as GitLab stores it, the commenter's access level);
the stored note decides author, text and `internal`, and must be in the issue and project the payload
names. An issue event: the issue and who GitLab says changed it (bot/issue_claims.py), at once; a claim
GitLab does not confirm is ignored, and below the level `permissions` refuses. The bot's recent notes
(for markers) are read only on a retry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from . import issue_claims
from .access import actor_level, find_member, level_name
from .commands import Command, parse_commands, with_fields
from .config import Config
from .events import Actor, Event, IssueEvent, NoteEvent
from .executor import IssueWriter
from .fields import VERB_FIELDS, FieldError, validate_fields
from .gitlab import GitLab, GitLabRefused, Issue
from .handlers.roles import named_users
from .logs import log_context
from .permissions import refuse_issue_event
from .routing import CommandRefused, Effects, Reply
from .session import IncidentSession, Services, is_bot
from .state import Role
from .timeutil import iso
from .wiring import COMMANDS, POSTMORTEM_COMMANDS, ROUTER

__all__ = ["IncidentSession", "Services", "process_event"]  # Services: built by bot/compose.py

log = logging.getLogger("incident_bot")

NO_INCIDENT_VERBS = {"declare", "help"}


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
    triggers = ROUTER.triggers_for(event, cfg)  # the door stored it, so there is at least one
    gl = services.connect(event_uuid)
    bot = services.identity(gl)
    if is_bot(event.actor, bot):
        return "ignored: the bot's own change"
    # One round trip: the issue, who GitLab says changed it (only the records the triggers need), and
    # the level of the person the payload names (the one GitLab names, as a rule).
    ref = event.issue
    reads = {"issue": lambda g: issue_or_none(g, ref.project_id, ref.iid),
             "level": lambda g: actor_level(services, g, ref.project_id, event.actor),
             "label_events": lambda g: g.label_events(ref.project_id, ref.iid),
             "state_events": lambda g: g.state_events(ref.project_id, ref.iid),
             "notes": lambda g: g.notes_since(ref.project_id, ref.iid, _since([event.updated_at]))}
    names = ["issue", "level", *sorted(issue_claims.reads_needed(triggers))]
    got = dict(zip(names, gl.parallel(*(reads[name] for name in names)), strict=True))
    if got["issue"] is None:
        log.warning("ignored: the issue the payload names cannot be read")
        return "ignored: the issue is gone or hidden"
    records = issue_claims.Records(got["issue"], got.get("label_events"), got.get("state_events"), got.get("notes"))
    confirmed, dropped = issue_claims.confirm(event, triggers, records, cfg, bot.get("id"))
    for why in dropped:
        log.warning("ignored a claim GitLab does not confirm: %s", why)
    confirmed = [c for c in confirmed if not is_bot(c.event.actor, bot)]
    if not confirmed:
        return "ignored: GitLab does not confirm what the payload says" if dropped else "ignored: the bot's own change"

    groups = []
    for group in issue_claims.by_actor(confirmed):
        actor = group[0].event.actor
        level = got["level"]
        if actor.id != event.actor.id:
            log.warning("the payload names another actor than GitLab's; judging the change as GitLab's")
            level = actor_level(services, gl, ref.project_id, actor)
        groups.append((group, level is not None and level >= cfg.min_access_level))
    # A refusal has no state to record its key in: it always looks for its marker.
    d = IncidentSession(services, gl, ref.project_id, ref.iid, now, issue=records.issue,
                        declaring=any(c.trigger == "incident_labeled" for c in confirmed),
                        retry=retry or not all(allowed for _, allowed in groups))
    d.writer.since = _since([c.event.updated_at for c in confirmed])
    outcomes = []
    for group, allowed in groups:
        if not allowed:
            outcomes.append(refuse_issue_event(d, issue_claims.merged(group), [c.trigger for c in group]))
            continue
        for c in group:
            key = f"issue-{d.issue.id}-{c.trigger}-{iso(c.event.updated_at) or '-'}"
            for handler in ROUTER.handlers(c.trigger):
                if d.state is not None and d.state.was_handled(key):
                    d.resume(key)
                    continue
                d.apply(handler(d.context(c.event.actor.username), c.event), key)
        outcomes.append("handled: " + ", ".join(c.trigger for c in group))
    return "; ".join(outcomes)


def _since(times: list[datetime | None]) -> datetime | None:
    """How far back notes about these changes can be: the earliest, less a minute (a change and its
    system note are not timed at one instant). None when a time is unknown: every note."""
    return None if not times or None in times else min(times) - timedelta(minutes=1)


def _error_reply(d: IncidentSession, message: str, valid: list[str] | None) -> Effects:
    body = d.render("error.md.j2", message=message, valid=valid, prefix=d.cfg.prefix)
    return Effects([Reply("error", body)])


def run_command(d: IncidentSession, cmd: Command, actor: str | None) -> Effects:
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
    gl = services.connect(event_uuid)
    bot = services.identity(gl)
    if is_bot(event.actor, bot):
        return "ignored: the bot's own note"
    # The payload only decides what is cheap to ignore; what runs is the note GitLab stores. The fields'
    # YAML is read only once the commenter is known to be allowed (with_fields below).
    claimed = parse_commands(event.body, cfg.prefix, bot.get("username"), fields=False,
                             max_commands=cfg.max_commands_per_note)
    if not claimed:  # the door keeps any note with a mention: it cannot know the bot's user name
        return "ignored: a mention of someone else, no command"
    ref = event.issue
    # Older GitLabs send a note's issue without its labels: then only GitLab's answer below can tell.
    if ref.labels and not _may_run(claimed, ref.labels, cfg):
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
        writer = IssueWriter(gl, cfg, services.renderer.render, issue, bot.get("username"), now,
                             since=note.created_at)
        body = services.renderer.render("refusal.md.j2", reason=f"incident commands need at least "
                                        f"{level_name(cfg.min_access_level)} access to this project")
        writer.post(Reply("refusal", body), f"note-{note.id}-refused", internal=note.internal)
        return "refused: access level"

    commands = [with_fields(c) for c in commands]
    d = IncidentSession(services, gl, ref.project_id, ref.iid, now,
                        declaring=any(c.verb == "declare" for c in commands), issue=issue, retry=retry)
    d.internal = note.internal  # the one source of "internal": the note as GitLab stores it
    d.writer.since = note.created_at  # an earlier attempt's replies came after the note
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
