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

import json
import logging
import math
from datetime import datetime, timedelta

from .cadence_check import GitLabError, Unreachable, check_followup, check_issue, is_fatal, retrying
from .cadence_report import Report, Row, render_text
from .cli_common import fail, load_or_fail
from .config import Config
from .gitlab import GitLab, Issue
from .postmortem import followup_overdue
from .preflight import start_problem
from .render import Renderer
from .timeutil import iso, parse_time, utcnow

CLOSED_LOOKBACK = timedelta(days=7)
PAGE = 100
log = logging.getLogger("incident_bot")


# -- listing ----------------------------------------------------------------------------------------
def _list(gl: GitLab, report: Report, project: str, labels: list[str], **query) -> list[Issue]:
    """The listed issues; one GitLab sent in a shape the bot cannot use is reported as a row's error."""
    def listing():
        malformed.clear()
        return list(gl.iter_issues(project, labels, malformed=malformed, **query))

    malformed: list = []
    issues = retrying(listing)
    report.calls["listing"] += max(1, math.ceil((len(issues) + len(malformed)) / PAGE))
    for iid, reason in malformed:
        log.warning("cadence: issue %s in %s skipped: %s", iid, project, reason)
        report.rows.append(Row(project, iid or 0, "", query.get("state") != "closed",
                               error=f"cannot read this issue: {reason}"))
    return issues


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
            check_followup(gl, renderer, issue, row, now, dry_run=dry_run, report=report)
        except Unreachable:
            raise
        except Exception as exc:  # one bad follow-up must not stop the pass over the others
            log.warning("cadence: cannot check follow-up %s in %s: %s", issue.iid, project, exc.__class__.__name__)
            row.error = row.error or f"cannot check this follow-up: {exc.__class__.__name__}: {exc}"
    return rows


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
                if is_fatal(exc):
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


# -- the command ------------------------------------------------------------------------------------
def _fail(message: str, code: int) -> int:
    return fail("cadence", message, code)


def run_cadence(args) -> int:
    cfg = load_or_fail("cadence", args.config)
    if isinstance(cfg, int):
        return cfg
    try:
        now = parse_time(args.now) if args.now else utcnow()
    except ValueError:
        return _fail(f"--now {args.now!r} is not an ISO 8601 time (e.g. 2026-11-27T10:00:00Z)", 2)
    projects = [str(p) for p in (args.project or cfg.projects)]
    if not projects:
        return _fail("no projects: pass --project or set `projects` in the config", 2)
    if not cfg.gitlab_token:
        return _fail("GITLAB_TOKEN is not set (the bot user's token with the api scope)", 2)
    problem = start_problem(cfg)  # the URL, the templates, the token (bot/preflight.py)
    if problem:
        return _fail(problem, 2)
    renderer = Renderer(cfg.templates_dir)
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
