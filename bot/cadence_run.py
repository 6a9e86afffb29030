"""`incident-bot cadence`: one pass over the incidents, posting the reminders that are due, then exit.

Reads (per project):
- one listing call per 100 open incidents (label `incident`), and
- one listing call per 100 incidents closed recently (updated within role_release_after_hours + 7 days):
  resolved incidents are closed issues, and the role-release reminder is for them.
The state comes from each issue's description block in the listing. Nothing is read per issue unless
something is due for it; then the issue is read once more right before writing (see below).

Writes, per incident with something due: the description block first (recording the reminder keys in
`state.reminders`), then one note holding every reminder due for it, ending with a marker
`kind=reminder key=<key>+<key>`. So 2 writes per reminded incident, whatever the number of reminders.

Why this order, and the fresh read:
- Block first, note second: the block is what makes the next run skip a reminder, and this command reads
  no notes. Were the note first, a crash between the two would post it again on every run. Block first,
  a crash between loses that one reminder instead: a missed nudge beats a stream of duplicates.
  When the note is *refused* (GitLab answered 4xx/429/5xx after retries, so no note exists), the keys
  are taken out of the block again, so the next run retries; only a crash or a lost connection in
  between loses a reminder.
- The listing may be seconds old when we write (1,000 incidents, 100 due). A command handled by the
  webhook worker in that time changes the block, and writing our stale copy would undo it. So, for an
  incident with something due (and only then), the issue is read again and the checks re-run on that
  state just before the PUT; this narrows the window to one round trip. GitLab has no conditional update
  for issues, so it cannot be closed entirely from here.

Trust: the block's state is used only when its signature verifies with INCIDENT_BOT_STATE_KEY (the key
the bot signs with; anyone who can edit the issue can edit the block). A block that does not verify is
rebuilt from labels, assignees and the bot's own notes (one more read); unless dry-run, the bot then
says so in one note and writes a fresh signed block. Without the key in the environment nothing is
trusted: every incident with a block is rebuilt from its notes (one read per incident), reminders are
posted as notes only, and the reminder markers in the bot's notes are what stop a second post.
One incident that cannot be checked (a bad block, a broken template, a refused call) is reported in
its row and the pass goes on with the others.

Exit codes: 0 after a pass (reminders that could not be posted are reported in the output, per incident);
1 when GitLab cannot be reached, refuses the token, or a project cannot be listed; 2 for an invalid
configuration or arguments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from .cadence import Reminder, Skip, check_incident, mark_sent
from .config import Config, ConfigError, load_config
from .executor import IssueWriter, marker
from .gitlab import GitLab, GitLabRefused, Issue, RetryableGitLabError
from .postmortem import action_of, followup_overdue, mark_reminded, reminded_on
from .rebuild import rebuild_state
from .render import Renderer, incident_context
from .routing import Reply
from .state import BlockError, IncidentState, UnverifiedState, read_block, state_scope
from .timeutil import human, iso, parse_time, utcnow

CLOSED_LOOKBACK = timedelta(days=7)
MAX_TRIES = 4
PAGE = 100
NOTE_SEPARATOR = "\n\n---\n\n"
GitLabError = (RetryableGitLabError, GitLabRefused)
log = logging.getLogger("incident_bot")


class Unreachable(Exception):
    """GitLab did not answer (connection refused, DNS, timeout) or refused the token: stop the run."""


# -- results ---------------------------------------------------------------------------------------
@dataclass
class Due:
    kind: str
    key: str
    mentions: list[str]


@dataclass
class Row:
    project: str
    iid: int
    title: str
    open: bool
    web_url: str | None = None
    severity: str | None = None
    status: str | None = None
    due: list[Due] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)  # kinds actually posted this run
    skipped: list[dict] = field(default_factory=list)  # {"kind", "reason"}
    note: str | None = None  # the note text posted (or, in a dry run, that would be posted)
    rebuilt: str | None = None  # why the block's state was not used (rebuilt from the bot's notes)
    error: str | None = None
    confidential: bool = False

    def skip(self, kind: str, reason: str) -> None:
        self.skipped.append({"kind": kind, "reason": reason})

    def shown(self) -> dict:
        """What the output may say. CI job logs are often readable by the whole project, so a confidential
        issue is its number only: no title, severity, status, mentions or note text."""
        if not self.confidential:
            return asdict(self)
        return {"project": self.project, "iid": self.iid, "confidential": True} | (
            {"error": self.error} if self.error else {})


@dataclass
class Report:
    now: datetime
    dry_run: bool
    projects: list[str]
    rows: list[Row] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"project", "error"}: the run could not check it
    calls: dict[str, int] = field(default_factory=lambda: {"listing": 0, "reads": 0, "writes": 0})
    fatal: str | None = None
    bot_username: str | None = None  # whose notes a rebuild trusts
    keyless: bool = False  # no INCIDENT_BOT_STATE_KEY: every state rebuilt from notes, no block written

    def summary(self) -> dict:
        rows = self.rows
        return {
            "incidents_checked": len(rows),
            "open": sum(1 for r in rows if r.open),
            "closed": sum(1 for r in rows if not r.open),
            "reminders_due": sum(len(r.due) for r in rows),
            "incidents_due": sum(1 for r in rows if r.due),
            "reminders_posted": sum(len(r.reminded) for r in rows),
            "notes_posted": sum(1 for r in rows if r.reminded),
            "skipped_checks": sum(len(r.skipped) for r in rows),
            "rebuilt": sum(1 for r in rows if r.rebuilt),
            "errors": sum(1 for r in rows if r.error) + len(self.errors),
        }

    def to_json(self) -> dict:
        return {
            "now": iso(self.now),
            "dry_run": self.dry_run,
            "projects": self.projects,
            "summary": self.summary(),
            "api_calls": dict(self.calls),
            "incidents": [r.shown() for r in self.rows],
            "errors": self.errors + ([{"project": None, "error": self.fatal}] if self.fatal else []),
        }


# -- GitLab calls ---------------------------------------------------------------------------------
def _answered(exc: Exception) -> bool:
    """True when GitLab answered with an error status (so a refused write did not happen)."""
    if isinstance(exc, GitLabRefused):
        return True
    return getattr(exc, "answered", False)


def _fatal(exc: Exception) -> bool:
    return not _answered(exc) or getattr(exc, "status", None) == 401


def _retrying(call, *args, **kwargs):
    """GitLab.com allows 60 notes a minute per user: on 429 (or 5xx) wait as told, a few times.
    No answer at all (connection refused, timeout) is not retried: the run stops (exit 1)."""
    for attempt in range(MAX_TRIES):
        try:
            return call(*args, **kwargs)
        except RetryableGitLabError as exc:
            if attempt == MAX_TRIES - 1 or not _answered(exc):
                raise
            time.sleep(min(exc.retry_after or 2 ** attempt, 60))


def _list(gl: GitLab, report: Report, project: str, labels: list[str], **query) -> list[Issue]:
    """The listed issues; one GitLab sent in a shape the bot cannot use is reported as a row's error."""
    def listing():
        malformed.clear()
        return list(gl.iter_issues(project, labels, malformed=malformed, **query))

    malformed: list = []
    issues = _retrying(listing)
    report.calls["listing"] += max(1, math.ceil((len(issues) + len(malformed)) / PAGE))
    for iid, reason in malformed:
        log.warning("cadence: issue %s in %s skipped: %s", iid, project, reason)
        report.rows.append(Row(project, iid or 0, "", query.get("state") != "closed",
                               error=f"cannot read this issue: {reason}"))
    return issues


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
        report.bot_username = _retrying(gl.current_user)["username"]
    notes = _retrying(gl.all_notes, issue.project_id, issue.iid)
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
    return state, reminders, skips


def _render(renderer: Renderer, cfg: Config, issue: Issue, state: IncidentState, reminders: list[Reminder],
            now: datetime) -> str:
    incident = incident_context(state, iid=issue.iid, title=issue.title, now=now)
    parts = [renderer.render(r.template, incident=incident, mentions=list(r.mentions), prefix=cfg.prefix,
                             now=now, **r.context) for r in reminders]
    return NOTE_SEPARATOR.join(parts) + "\n\n" + marker("reminder", "+".join(r.key for r in reminders))


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
            issue = _retrying(gl.get_issue, issue.project_id, issue.iid)
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
        if _fatal(exc):
            row.error = str(exc)
            raise Unreachable(str(exc)) from exc
        row.error = row.error or str(exc)


def _restore(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, state: IncidentState, reason: str,
             now: datetime, report: Report) -> Issue:
    """Say once that the state was rebuilt, then write it back signed. The note's key is the unverified
    description's digest: a crash between the two writes does not post the notice twice."""
    writer = IssueWriter(gl, cfg, renderer.render, issue, report.bot_username, now)
    digest = hashlib.sha256((issue.description or "").encode()).hexdigest()[:16]
    body = renderer.render("rebuilt_notice.md.j2", reason=reason, prefix=cfg.prefix)
    if _retrying(writer.post, Reply("rebuilt", body), f"rebuilt-{issue.id}-{digest}"):
        report.calls["writes"] += 1
    _retrying(writer.write_state, state, None)
    report.calls["writes"] += 1
    return writer.issue


def _post(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, state: IncidentState,
          reminders: list[Reminder], row: Row, now: datetime, report: Report) -> None:
    if report.keyless:
        # No key: a block written now would not verify. The note's marker is the record of the reminder.
        _retrying(gl.create_note, issue.project_id, issue.iid, row.note)
        report.calls["writes"] += 1
        row.reminded = [r.kind for r in reminders]
        return
    mark_sent(state, reminders, now)
    writer = IssueWriter(gl, cfg, renderer.render, issue, None, now)
    _retrying(writer.write_state, state, None)
    report.calls["writes"] += 1
    try:
        _retrying(gl.create_note, issue.project_id, issue.iid, row.note)
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
            _retrying(writer.write_state, state, None)
            report.calls["writes"] += 1
            row.error = f"note refused ({exc}); the next run will try again"
        except GitLabError as again:
            row.error = (f"note refused ({exc}) and the block could not be restored ({again}); "
                         "this reminder will not be sent again")
            if _fatal(again):
                raise
        return
    row.reminded = [r.kind for r in reminders]


# -- postmortem action items (issue #4, item 8) -----------------------------------------------------
def check_postmortem_actions(gl: GitLab, cfg: Config, renderer: Renderer, project: str, now: datetime, *,
                             dry_run: bool, report: Report) -> list[Row]:
    """Overdue follow-up issues (label postmortem::action, open, due date passed): one reminder a day to
    the owner (the assignee). Read from the listing alone (one call per 100 open follow-ups); the day of
    the last reminder is kept in the follow-up's description, written before the note as for incidents."""
    rows = []
    for issue in _list(gl, report, project, [cfg.labels["postmortem_action"]], state="opened"):
        try:
            if not followup_overdue(issue.due_date, now.date()):
                continue
        except Exception as exc:  # a due date GitLab would not send: report it, check the others
            rows.append(Row(project, issue.iid, issue.title, True, issue.web_url, status="follow-up",
                            confidential=issue.confidential, error=f"cannot read the due date: {exc.__class__.__name__}: {exc}"))
            continue
        row = Row(project, issue.iid, issue.title, True, issue.web_url, status="follow-up",
                  confidential=issue.confidential)
        rows.append(row)
        try:
            _check_action(gl, renderer, issue, row, now, dry_run=dry_run, report=report)
        except Unreachable:
            raise
        except Exception as exc:  # one bad follow-up must not stop the pass over the others
            log.warning("cadence: cannot check follow-up %s in %s: %s", issue.iid, project, exc.__class__.__name__)
            row.error = row.error or f"cannot check this follow-up: {exc.__class__.__name__}: {exc}"
    return rows


def _check_action(gl: GitLab, renderer: Renderer, issue: Issue, row: Row, now: datetime, *, dry_run: bool,
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
    row.note += "\n\n" + marker("reminder", key)
    if dry_run:
        return
    try:
        _retrying(gl.update_issue, issue.project_id, issue.iid,
                  description=mark_reminded(issue.description, today))
        report.calls["writes"] += 1
        _retrying(gl.create_note, issue.project_id, issue.iid, row.note)
        report.calls["writes"] += 1
        row.reminded = ["action_overdue"]
    except GitLabError as exc:
        row.error = str(exc)
        if _fatal(exc):
            raise Unreachable(str(exc)) from exc


# -- the pass ---------------------------------------------------------------------------------------
def run_checks(gl: GitLab, cfg: Config, renderer: Renderer, projects: list[str], now: datetime, *,
               dry_run: bool) -> Report:
    report = Report(now, dry_run, list(projects), keyless=not cfg.state_key)
    label = cfg.labels["incident"]
    since = now - timedelta(hours=float(cfg.data["role_release_after_hours"])) - CLOSED_LOOKBACK
    try:
        for project in projects:
            try:
                opened = _list(gl, report, project, [label], state="opened")
                closed = _list(gl, report, project, [label], state="closed", updated_after=iso(since))
            except GitLabError as exc:
                if _fatal(exc):
                    raise Unreachable(str(exc)) from exc
                report.errors.append({"project": project, "error": f"cannot list incidents: {exc}"})
                continue
            for issue in opened:  # check_issue reports a bad incident in its row and returns
                report.rows.append(check_issue(gl, cfg, renderer, issue, project, now, dry_run=dry_run,
                                               open_=True, report=report))
            for issue in closed:
                report.rows.append(check_issue(gl, cfg, renderer, issue, project, now, dry_run=dry_run,
                                               open_=False, report=report))
            report.rows += check_postmortem_actions(gl, cfg, renderer, project, now, dry_run=dry_run,
                                                    report=report)
    except Unreachable as exc:
        report.fatal = str(exc)
    return report


# -- output -----------------------------------------------------------------------------------------
def _grouped(skipped: list[dict]) -> list[tuple[str, str]]:
    """(kinds, reason), kinds sharing one reason joined: 'overdue, escalation: issue is closed'."""
    order: dict[str, list[str]] = {}
    for s in skipped:
        order.setdefault(s["reason"], []).append(s["kind"])
    return [(", ".join(kinds), reason) for reason, kinds in order.items()]


def render_text(report: Report) -> str:
    dry = report.dry_run
    lines = [f"incident-bot cadence at {human(report.now)}"
             + (" (dry run: nothing was changed)" if dry else "")]
    if report.keyless:
        lines.append("No INCIDENT_BOT_STATE_KEY: no block is trusted; each incident's state was rebuilt from "
                     "the bot's notes, and reminders are posted as notes only.")
    head = f"{'PROJECT':24} {'ISSUE':>6}  {'SEV':4}  {'STATUS':16}  {'DUE':34}  {'REMINDED' if not dry else 'WOULD POST'}"
    lines += ["", head, "-" * max(len(head), 100)]
    for r in report.rows:
        if r.confidential:
            lines.append(f"{r.project[:24]:24} {'#' + str(r.iid):>6}  (confidential)")
            lines += [f"    ERROR    {r.error}"] if r.error else []
            continue
        due = ", ".join(d.kind for d in r.due) or "-"
        posted = due if dry else ", ".join(r.reminded)
        status = (r.status or "-") + ("" if r.open else " (closed)")
        lines.append(f"{r.project[:24]:24} {'#' + str(r.iid):>6}  {(r.severity or '-'):4}  {status:16}  "
                     f"{due[:34]:34}  {posted or '-'}")
        for d in r.due:
            lines.append(f"    due      {d.kind}: to {' '.join('@' + m for m in d.mentions) or 'no one'}")
        if r.rebuilt and not report.keyless:
            lines.append(f"    rebuilt  {r.rebuilt}")
        for kinds, reason in _grouped(r.skipped):
            lines.append(f"    skipped  {kinds}: {reason}")
        if r.error:
            lines.append(f"    ERROR    {r.error}")
        if dry and r.note:
            lines.append("    would post:")
            lines += [("      | " + line).rstrip() for line in r.note.splitlines()]
    if not report.rows:
        lines.append("(no incidents)")
    s = report.summary()
    calls = report.calls
    lines += [
        "",
        f"Checked {s['incidents_checked']} incidents in {len(report.projects)} project(s): {s['open']} open, "
        f"{s['closed']} recently closed (listing calls: {calls['listing']}, open and closed listings).",
        f"Due: {s['reminders_due']} reminders on {s['incidents_due']} incidents. "
        + (f"Dry run: {s['incidents_due']} notes would be posted; nothing was written."
           if dry else f"Posted: {s['notes_posted']} notes holding {s['reminders_posted']} reminders "
                       f"(re-reads: {calls['reads']}, writes: {calls['writes']} = block + note per incident)."),
        f"Skipped: {s['skipped_checks']} checks (reasons above). Errors: {s['errors']}.",
    ]
    for e in report.errors:
        lines.append(f"ERROR {e['project']}: {e['error']}")
    if report.fatal:
        lines.append(f"STOPPED: {report.fatal}")
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------------------
def _fail(message: str, code: int) -> int:
    print(f"incident-bot cadence: {message}", file=sys.stderr)
    return code


def run_cadence(args) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"invalid configuration: {exc}", 2)
    try:
        now = parse_time(args.now) if args.now else utcnow()
    except ValueError:
        return _fail(f"--now {args.now!r} is not an ISO 8601 time (e.g. 2026-11-27T10:00:00Z)", 2)
    projects = [str(p) for p in (args.project or cfg.projects)]
    if not projects:
        return _fail("no projects: pass --project or set `projects` in the config", 2)
    if not cfg.gitlab_token:
        return _fail("GITLAB_TOKEN is not set (the bot user's token with the api scope)", 2)
    try:
        renderer = Renderer(cfg.templates_dir)
    except Exception as exc:  # pragma: no cover - a bad templates_dir
        return _fail(f"invalid configuration: templates: {exc}", 2)
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    report = run_checks(gl, cfg, renderer, projects, now, dry_run=args.dry_run)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render_text(report))
    if report.fatal:
        return _fail(f"GitLab at {cfg.gitlab_url} could not be used: {report.fatal}"
                     + ("" if report.rows else "; nothing was checked"), 1)
    if report.errors:
        return _fail("; ".join(f"{e['project']}: {e['error']}" for e in report.errors), 1)
    return 0
