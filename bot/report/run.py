"""The `incident-bot report` command: arguments to a report on stdout, in a file, or in a report issue.

Exit codes: 0 with a report (skipped incidents are listed in it); 1 when GitLab cannot be used;
2 for invalid arguments or configuration.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from ..config import ConfigError, load_config
from ..gitlab import GitLab
from ..gitlab_errors import GitLabRefused, MalformedResponse, RetryableGitLabError
from ..timeutil import parse_day, parse_time, utcnow
from .charts import draw
from .collect import collect
from .document import to_html, to_markdown
from .post import post_report
from .summary import summarise
from .tabular import to_csv, to_json

DEFAULT_DAYS = 30


def _fail(message: str, code: int) -> int:
    print(f"incident-bot report: {message}", file=sys.stderr)
    return code


def _when(text: str, name: str) -> datetime:
    day = parse_day(text)
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None


def period(args, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): --until defaults to now (a date means up to the end of that day)."""
    until = now
    if args.until:
        until = _when(args.until, "--until")
        if parse_day(args.until) is not None:
            until += timedelta(days=1)
    since = _when(args.since, "--since") if args.since else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValueError("--since must be before --until")
    return since, until


def build(gl: GitLab, cfg, project: str, since: datetime, until: datetime, now: datetime) -> dict:
    """Everything a format needs, read once."""
    got = collect(gl, cfg, project, since, until, now)
    summary = summarise(got.rows, skipped=len(got.skipped))
    meta = {"project": project, "since": since.strftime("%Y-%m-%d %H:%M"), "until": until.strftime("%Y-%m-%d %H:%M"),
            "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "verified": got.verified, "calls": got.calls}
    return {"meta": meta, "rows": got.rows, "summary": summary, "skipped": got.skipped}


def render(report: dict, fmt: str, cfg, image_paths: dict[str, str] | None = None) -> tuple[str, list]:
    """(text, charts drawn). md with `image_paths` embeds those files."""
    args = (report["meta"], report["rows"], report["summary"], report["skipped"])
    if fmt == "json":
        return to_json(*args), []
    if fmt == "csv":
        return to_csv(report["rows"], report["summary"]), []
    targets = {sev: cfg.response_target_minutes(sev) for sev in (1, 2, 3)}
    charts = draw(report["rows"], report["summary"], targets)
    if fmt == "html":
        return to_html(*args, charts), charts
    return to_markdown(*args, image_paths or {}), charts


def run_report(args) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        return _fail(f"invalid configuration: {exc}", 2)
    try:
        now = _when(args.now, "--now") if args.now else utcnow()
        since, until = period(args, now)
    except ValueError as exc:
        return _fail(str(exc), 2)
    project = args.project or (cfg.projects[0] if cfg.projects else None)
    if not project:
        return _fail("no project: pass --project or set `projects` in the config", 2)
    if not cfg.gitlab_token:
        return _fail("GITLAB_TOKEN is not set (a token that can read the project; api scope for --post-issue)", 2)
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    try:
        report = build(gl, cfg, str(project), since, until, now)
        images = _write_images(args, report, cfg)
        text, charts = render(report, args.format, cfg, images)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
            print(f"incident-bot report: wrote {args.out} ({len(report['rows'])} incidents, "
                  f"{len(report['skipped'])} skipped; GitLab calls: {report['meta']['calls']['listing']} listing, "
                  f"{report['meta']['calls']['reads']} reads)", file=sys.stderr)
        else:
            sys.stdout.write(text)
        if args.post_issue:
            iid, url, created = post_report(gl, str(project), since.date(), until.date(), charts or render(
                report, "md", cfg)[1], lambda imgs: render(report, "md", cfg, imgs)[0])
            print(f"incident-bot report: {'created' if created else 'updated'} report issue #{iid} {url or ''}",
                  file=sys.stderr)
        for chart in charts:
            chart.close()
    except (RetryableGitLabError, GitLabRefused, MalformedResponse) as exc:
        return _fail(f"GitLab at {cfg.gitlab_url} could not be used: {exc}", 1)
    return 0


def _write_images(args, report: dict, cfg) -> dict[str, str] | None:
    """For md written to a file: the charts as PNG files beside it, embedded by relative path."""
    if args.format != "md" or not args.out:
        return None
    import os

    from .charts import draw

    targets = {sev: cfg.response_target_minutes(sev) for sev in (1, 2, 3)}
    folder = os.path.dirname(os.path.abspath(args.out))
    stem = os.path.splitext(os.path.basename(args.out))[0]
    images = {}
    for chart in draw(report["rows"], report["summary"], targets):
        name = f"{stem}-{chart.name}.png"
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(chart.png())
        images[chart.name] = name
        chart.close()
    return images
