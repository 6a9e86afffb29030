"""`incident-bot cadence`, one issue: read its state, check what is due, write the block, post the note.

The order of the writes, and why, is in bot/cadence_run.py's docstring. Any failure other than GitLab
being out of reach is the row's error, so the pass goes on with the other incidents.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime

from .cadence import Reminder, Skip, check_incident, mark_sent
from .cadence_report import Due, Report, Row
from .config import Config
from .executor import IssueWriter, role_holder_ids
from .exercise import drill_reminders, is_drill, mark_drill
from .gitlab import GitLab, GitLabRefused, Issue, RetryableGitLabError
from .markers import action_of, mark_reminded, note_marker, reminded_on
from .rebuild import rebuild_state
from .render import Renderer, incident_context
from .routing import Reply
from .state import BlockError, IncidentState, UnverifiedState, read_block, state_scope

MAX_TRIES = 4
# How a run waits before it asks GitLab again; a test puts a recorder here and waits for nothing.
sleep = time.sleep
NOTE_SEPARATOR = "\n\n---\n\n"
GitLabError = (RetryableGitLabError, GitLabRefused)
log = logging.getLogger("incident_bot")


class Unreachable(Exception):
    """GitLab did not answer (connection refused, DNS, timeout) or refused the token: stop the run."""


# -- GitLab calls ---------------------------------------------------------------------------------
def _answered(exc: Exception) -> bool:
    """True when GitLab answered with an error status (so a refused write did not happen)."""
    if isinstance(exc, GitLabRefused):
        return True
    return getattr(exc, "answered", False)


def is_fatal(exc: Exception) -> bool:
    return not _answered(exc) or getattr(exc, "status", None) == 401


def retrying(call, *args, **kwargs):
    """GitLab.com allows 60 notes a minute per user: on 429 (or 5xx) wait as told, a few times.
    No answer at all (connection refused, timeout) is not retried: the run stops (exit 1)."""
    for attempt in range(MAX_TRIES):
        try:
            return call(*args, **kwargs)
        except RetryableGitLabError as exc:
            if attempt == MAX_TRIES - 1 or not _answered(exc):
                raise
            sleep(min(exc.retry_after or 2 ** attempt, 60))


# -- one incident -----------------------------------------------------------------------------------
def _read_state(gl: GitLab, cfg: Config, issue: Issue, row: Row, report: Report) -> IncidentState | None:
    """The block's state when it verifies; else rebuilt from the bot's notes (row.rebuilt says why).
    None when the issue has no block at all."""
    key = cfg.state_key
    try:
        state = read_block(issue.description, key, state_scope(issue.id))
        if state is None or key:
            row.rebuilt = None
            return state
        reason = "no INCIDENT_BOT_STATE_KEY in this job's environment, so the block cannot be verified"
    except UnverifiedState as exc:
        reason = (f"the incident-bot state in the description could not be verified ({exc}): it was changed "
                  "outside the bot, or written by a version that did not sign it")
    except BlockError as exc:
        reason = f"the incident-bot block was damaged ({exc})"
    if report.bot_username is None:
        report.bot_username = retrying(gl.current_user)["username"]
    notes = retrying(gl.all_notes, issue.project_id, issue.iid)
    report.calls["reads"] += 1
    row.rebuilt = reason
    return rebuild_state(issue, notes, cfg, report.bot_username)


def _evaluate(gl: GitLab, row: Row, cfg: Config, issue: Issue, now: datetime, open_: bool, report: Report
              ) -> tuple[IncidentState | None, list[Reminder], list[Skip]]:
    state = _read_state(gl, cfg, issue, row, report)
    if state is None:
        row.skip("all", "no incident-bot block (not declared through the bot)")
        return None, [], []
    row.severity, row.status = f"SEV{state.severity}", state.status
    reminders, skips = check_incident(state, cfg, now, author=issue.author.get("username"), open_=open_)
    if is_drill(state, issue.labels):
        reminders = drill_reminders(state, reminders)
    return state, reminders, skips


def _render(renderer: Renderer, cfg: Config, issue: Issue, state: IncidentState, reminders: list[Reminder],
            now: datetime) -> str:
    incident = incident_context(state, iid=issue.iid, title=issue.title, now=now)
    parts = [renderer.render(r.template, incident=incident, mentions=list(r.mentions), prefix=cfg.prefix,
                             now=now, **r.context) for r in reminders]
    if is_drill(state, issue.labels):
        parts = [mark_drill(part) for part in parts]
    return NOTE_SEPARATOR.join(parts) + "\n\n" + note_marker("reminder", "+".join(r.key for r in reminders))


def check_issue(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, project: str, now: datetime, *,
                dry_run: bool, open_: bool, report: Report | None = None) -> Row:
    """Check one listed issue; post (unless dry_run) one note with everything due. Raises Unreachable;
    any other failure is the row's error, so the pass goes on with the other incidents."""
    report = report or Report(now, dry_run, [project])
    report.keyless = not cfg.state_key
    row = Row(project, issue.iid, issue.title, open_, issue.web_url, confidential=issue.confidential)
    try:
        _check(gl, cfg, renderer, issue, now, dry_run=dry_run, open_=open_, report=report, row=row)
    except Unreachable:
        raise
    except Exception as exc:  # one bad incident must not stop the pass over the others
        log.warning("cadence: cannot check issue %s in %s: %s", issue.iid, project, exc.__class__.__name__)
        row.error = row.error or f"cannot check this incident: {exc.__class__.__name__}: {exc}"
    return row


def _check(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, now: datetime, *, dry_run: bool,
           open_: bool, report: Report, row: Row) -> None:
    try:
        state, reminders, skips = _evaluate(gl, row, cfg, issue, now, open_, report)
        restore = bool(row.rebuilt) and not report.keyless
        if (reminders or restore) and not dry_run:
            # Something to write: read the issue again so we write on its current block (see module doc).
            issue = retrying(gl.get_issue, issue.project_id, issue.iid)
            report.calls["reads"] += 1
            open_ = row.open = issue.state == "opened"
            listed = [r.kind for r in reminders]
            row.skipped.clear()
            state, reminders, skips = _evaluate(gl, row, cfg, issue, now, open_, report)
            for kind in listed:
                if kind not in {r.kind for r in reminders} and not any(s.kind == kind and s.reason.startswith(
                        "already reminded") for s in skips):
                    row.skip(kind, "no longer due: the incident changed since the listing")
            if state is not None and row.rebuilt and not report.keyless:
                issue = _restore(gl, cfg, renderer, issue, state, row.rebuilt, now, report)
        for s in skips:
            row.skip(s.kind, s.reason)
        if not reminders:
            return
        row.due = [Due(r.kind, r.key, list(r.mentions)) for r in reminders]
        try:
            row.note = _render(renderer, cfg, issue, state, reminders, now)
        except Exception as exc:  # a broken custom template must not stop the other incidents
            row.error = f"cannot render the reminder: {exc.__class__.__name__}: {exc}"
            return
        if dry_run:
            return
        _post(gl, cfg, renderer, issue, state, reminders, row, now, report)
    except GitLabError as exc:
        if is_fatal(exc):
            row.error = str(exc)
            raise Unreachable(str(exc)) from exc
        row.error = row.error or str(exc)


def _restore(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, state: IncidentState, reason: str,
             now: datetime, report: Report) -> Issue:
    """Say once that the state was rebuilt, then write it back signed. The note's key is the unverified
    description's digest: a crash between the two writes does not post the notice twice."""
    writer = IssueWriter(gl, cfg, renderer.render, issue, report.bot_username, now)
    writer.holders = set(role_holder_ids(state))
    digest = hashlib.sha256((issue.description or "").encode()).hexdigest()[:16]
    body = renderer.render("rebuilt_notice.md.j2", reason=reason, prefix=cfg.prefix)
    if retrying(writer.post, Reply("rebuilt", body), f"rebuilt-{issue.id}-{digest}"):
        report.calls["writes"] += 1
    retrying(writer.write_state, state, None)  # reads the issue again: a person may have edited it since
    report.calls["reads"] += 1
    report.calls["writes"] += 1
    return writer.issue


def _post(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, state: IncidentState,
          reminders: list[Reminder], row: Row, now: datetime, report: Report) -> None:
    if report.keyless:
        # No key: a block written now would not verify. The note's marker is the record of the reminder.
        retrying(gl.create_note, issue.project_id, issue.iid, row.note)
        report.calls["writes"] += 1
        row.reminded = [r.kind for r in reminders]
        return
    mark_sent(state, reminders, now)
    writer = IssueWriter(gl, cfg, renderer.render, issue, None, now)
    writer.holders = set(role_holder_ids(state))
    retrying(writer.write_state, state, None, reread=False)  # `_check` has just read the issue
    report.calls["writes"] += 1
    try:
        retrying(gl.create_note, issue.project_id, issue.iid, row.note)
        report.calls["writes"] += 1
    except GitLabError as exc:
        if not _answered(exc):
            row.error = (f"reminder recorded in the block but the note may not have been posted "
                         f"(GitLab did not answer: {exc}); it will not be sent again")
            raise
        # GitLab refused the note: none exists. Take the keys out again so the next run retries.
        for r in reminders:
            state.reminders.pop(r.key, None)
        try:
            retrying(writer.write_state, state, None)
            report.calls["reads"] += 1
            report.calls["writes"] += 1
            row.error = f"note refused ({exc}); the next run will try again"
        except GitLabError as again:
            row.error = (f"note refused ({exc}) and the block could not be restored ({again}); "
                         "this reminder will not be sent again")
            if is_fatal(again):
                raise
        return
    row.reminded = [r.kind for r in reminders]


# -- one overdue follow-up issue (issue #4, item 8) -------------------------------------------
def check_followup(gl: GitLab, renderer: Renderer, issue: Issue, row: Row, now: datetime, *, dry_run: bool,
                  report: Report) -> None:
    today = now.date()
    if reminded_on(issue.description) == today:
        row.skip("action_overdue", f"already reminded today ({today.isoformat()})")
        return
    owners = [a["username"] for a in issue.assignees if a.get("username")]
    if not owners:
        row.skip("action_overdue", "overdue, but no owner to remind (unassigned)")
        return
    key = f"action-overdue-{issue.iid}-{today.isoformat()}"
    row.due = [Due("action_overdue", key, owners)]
    ref = action_of(issue.description)
    row.note = renderer.render("reminder_action_overdue.md.j2", mentions=owners, item=issue.title,
                               due=issue.due_date, owner=owners[0], postmortem=ref[1] if ref else None)
    row.note += "\n\n" + note_marker("reminder", key)
    if dry_run:
        return
    try:
        # The listing may be minutes old: mark the issue as it is now, so a person's edit is kept.
        issue = retrying(gl.get_issue, issue.project_id, issue.iid)
        report.calls["reads"] += 1
        if reminded_on(issue.description) == today:  # another run marked it since the listing
            row.due, row.note = [], None
            row.skip("action_overdue", f"already reminded today ({today.isoformat()})")
            return
        retrying(gl.update_issue, issue.project_id, issue.iid,
                  description=mark_reminded(issue.description, today))
        report.calls["writes"] += 1
        retrying(gl.create_note, issue.project_id, issue.iid, row.note)
        report.calls["writes"] += 1
        row.reminded = ["action_overdue"]
    except GitLabError as exc:
        row.error = str(exc)
        if is_fatal(exc):
            raise Unreachable(str(exc)) from exc
