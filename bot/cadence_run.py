"""`incident-bot cadence`: one pass over the open incidents, posting the reminders that are due.

Reads: one listing call per 100 open incidents (plus one per 100 recently closed ones, for the role
release reminder), and nothing per issue. Writes, per incident with something due: the description
block first (recording the reminder keys), then one note holding every reminder due for it. In that
order a crash between the two loses a reminder rather than sending it twice.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta

from .cadence import check_incident, mark_sent
from .config import Config, ConfigError, load_config
from .executor import IssueWriter, marker
from .gitlab import GitLab, GitLabRefused, Issue, RetryableGitLabError
from .render import Renderer, incident_context
from .state import BlockError, read_block
from .timeutil import iso, parse_time, utcnow

CLOSED_LOOKBACK = timedelta(days=7)
MAX_TRIES = 4


@dataclass
class Row:
    project: str
    iid: int
    title: str
    severity: str = "-"
    status: str = "-"
    reminded: list[str] = field(default_factory=list)
    due: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


def _retrying(call, *args, **kwargs):
    """GitLab.com allows 60 notes a minute per user: on 429 wait as told, a few times."""
    for attempt in range(MAX_TRIES):
        try:
            return call(*args, **kwargs)
        except RetryableGitLabError as exc:
            if attempt == MAX_TRIES - 1:
                raise
            time.sleep(min(exc.retry_after or 2 ** attempt, 60))


def check_issue(gl: GitLab, cfg: Config, renderer: Renderer, issue: Issue, project: str, now, *,
                dry_run: bool, open_: bool) -> Row:
    row = Row(project, issue.iid, issue.title)
    try:
        state = read_block(issue.description)
    except BlockError as exc:
        row.skipped.append(f"block unreadable ({exc}); the next command on the issue rebuilds it")
        return row
    if state is None:
        row.skipped.append("not declared through the bot (no incident-bot block)")
        return row
    row.severity, row.status = f"SEV{state.severity}", state.status
    reminders, skips = check_incident(state, cfg, now, author=issue.author.get("username"), open_=open_)
    row.skipped += [f"{s.kind}: {s.reason}" for s in skips]
    if not reminders:
        return row
    row.due = [r.kind for r in reminders]
    if dry_run:
        return row
    incident = incident_context(state, iid=issue.iid, title=issue.title, now=now)
    body = "\n\n---\n\n".join(
        renderer.render(r.template, incident=incident, mentions=list(r.mentions), **r.context) for r in reminders)
    body += "\n\n" + marker("reminder", "+".join(r.key for r in reminders))
    mark_sent(state, reminders, now)
    writer = IssueWriter(gl, cfg, renderer.render, issue, None, now)
    _retrying(writer.write_state, state, None)
    _retrying(gl.create_note, issue.project_id, issue.iid, body)
    row.reminded = row.due
    return row


def run_checks(gl: GitLab, cfg: Config, renderer: Renderer, projects: list[str], now, *,
               dry_run: bool) -> list[Row]:
    rows: list[Row] = []
    label = cfg.labels["incident"]
    for project in projects:
        for issue in gl.iter_open_issues(project, [label]):
            rows.append(check_issue(gl, cfg, renderer, issue, project, now, dry_run=dry_run, open_=True))
        since = now - timedelta(hours=cfg.data["role_release_after_hours"]) - CLOSED_LOOKBACK
        for issue in gl.iter_issues(project, [label], state="closed", updated_after=iso(since)):
            rows.append(check_issue(gl, cfg, renderer, issue, project, now, dry_run=dry_run, open_=False))
    return rows


def _table(rows: list[Row], dry_run: bool) -> str:
    head = f"{'PROJECT':24} {'ISSUE':>6} {'SEV':4} {'STATUS':9} {'DUE':28} {'REMINDED':28} SKIPPED"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.project[:24]:24} {'#' + str(r.iid):>6} {r.severity:4} {r.status:9} "
                     f"{','.join(r.due) or '-':28} {','.join(r.reminded) or '-':28} "
                     f"{'; '.join(s for s in r.skipped if 'already reminded' in s or 'block' in s
                                  or 'declared' in s) or '-'}")
    due = sum(len(r.due) for r in rows)
    sent = sum(len(r.reminded) for r in rows)
    lines.append(f"\n{len(rows)} incidents checked, {due} reminders due, "
                 + (f"{due} would be posted (dry run)" if dry_run else f"{sent} posted"))
    return "\n".join(lines)


def run_cadence(args) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"incident-bot cadence: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        now = parse_time(args.now) if args.now else utcnow()
    except ValueError:
        print(f"incident-bot cadence: --now {args.now!r} is not an ISO 8601 time", file=sys.stderr)
        return 2
    projects = args.project or cfg.projects
    if not projects:
        print("incident-bot cadence: no projects: pass --project or set `projects` in the config", file=sys.stderr)
        return 2
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    try:
        rows = run_checks(gl, cfg, Renderer(cfg.templates_dir), projects, now, dry_run=args.dry_run)
    except (RetryableGitLabError, GitLabRefused) as exc:
        print(f"incident-bot cadence: GitLab at {cfg.gitlab_url} failed: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps({"now": iso(now), "dry_run": args.dry_run, "incidents": [vars(r) for r in rows]}, indent=2))
    else:
        print(_table(rows, args.dry_run))
    return 0
