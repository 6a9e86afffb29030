"""The `incident-bot report` command: arguments to a report on stdout, in a file, or in a report issue.

Exit codes: 0 with a report (skipped incidents are listed in it); 1 when GitLab cannot be used;
2 for invalid arguments or configuration.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone

from ..cli_common import fail, load_or_fail
from ..gitlab import GitLab
from ..gitlab_errors import GitLabRefused, MalformedResponse, RetryableGitLabError
from ..timeutil import parse_day, parse_time, utcnow
from .charts import Chart, draw
from .collect import collect
from .document import to_html, to_markdown
from .post import post_report
from .summary import summarise
from .tabular import to_csv, to_json

DEFAULT_DAYS = 30


def _fail(message: str, code: int) -> int:
    return fail("report", message, code)


def _when(text: str, name: str) -> datetime:
    day = parse_day(text)
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None


def period(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until): until defaults to now (a date means up to the end of that day); since to 30 days
    before until."""
    end = now
    if until:
        end = _when(until, "--until") + (timedelta(days=1) if parse_day(until) else timedelta())
    start = _when(since, "--since") if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValueError("--since must be before --until")
    return start, end


def build(gl: GitLab, cfg, project: str, since: datetime, until: datetime, now: datetime) -> dict:
    """Everything a format needs, read once."""
    got = collect(gl, cfg, project, since, until, now)
    summary = summarise(got.rows, skipped=len(got.skipped))
    meta = {"project": project, "since": since.strftime("%Y-%m-%d %H:%M"), "until": until.strftime("%Y-%m-%d %H:%M"),
            "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "verified": got.verified, "calls": got.calls}
    return {"meta": meta, "rows": got.rows, "summary": summary, "skipped": got.skipped}


def charts_of(report: dict, cfg) -> list[Chart]:
    targets = {sev: cfg.response_target_minutes(sev) for sev in (1, 2, 3)}
    return draw(report["rows"], report["summary"], targets)


def render(report: dict, fmt: str, charts: list[Chart], images: dict[str, str] | None = None) -> str:
    """The report as text; md embeds `images` (chart name -> path or URL) when given."""
    args = (report["meta"], report["rows"], report["summary"], report["skipped"])
    if fmt == "json":
        return to_json(*args)
    if fmt == "csv":
        return to_csv(report["rows"], report["summary"])
    if fmt == "html":
        return to_html(*args, charts)
    return to_markdown(*args, images or {})


def write_report(report: dict, fmt: str, out: str, charts: list[Chart]) -> None:
    """Write to `out`; md gets its charts as PNG files beside it, embedded by relative path."""
    images = {}
    if fmt == "md":
        folder, stem = os.path.dirname(os.path.abspath(out)), os.path.splitext(os.path.basename(out))[0]
        for chart in charts:
            images[chart.name] = f"{stem}-{chart.name}.png"
            with open(os.path.join(folder, images[chart.name]), "wb") as fh:
                fh.write(chart.png())
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(render(report, fmt, charts, images))


def run_report(args) -> int:
    cfg = load_or_fail("report", args.config)
    if isinstance(cfg, int):
        return cfg
    try:
        now = _when(args.now, "--now") if args.now else utcnow()
        since, until = period(args.since, args.until, now)
    except ValueError as exc:
        return _fail(str(exc), 2)
    project = args.project or (cfg.projects[0] if cfg.projects else None)
    if not project:
        return _fail("no project: pass --project or set `projects` in the config", 2)
    if not cfg.gitlab_token:
        return _fail("GITLAB_TOKEN is not set (a token that can read the project; api scope for --post-issue)", 2)
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    charts: list[Chart] = []
    try:
        report = build(gl, cfg, str(project), since, until, now)
        charts = charts_of(report, cfg) if args.format in ("md", "html") or args.post_issue else []
        calls = report["meta"]["calls"]
        if args.out:
            write_report(report, args.format, args.out, charts)
            print(f"incident-bot report: wrote {args.out} ({len(report['rows'])} incidents, "
                  f"{len(report['skipped'])} skipped; GitLab calls: {calls['listing']} listing, "
                  f"{calls['reads']} reads)", file=sys.stderr)
        else:
            sys.stdout.write(render(report, args.format, charts))
        if args.post_issue:
            iid, url, created = post_report(gl, str(project), since.date(), (until - timedelta(seconds=1)).date(), charts,
                                            lambda images: render(report, "md", charts, images))
            print(f"incident-bot report: {'created' if created else 'updated'} report issue #{iid} {url or ''}",
                  file=sys.stderr)
    except (RetryableGitLabError, GitLabRefused, MalformedResponse) as exc:
        return _fail(f"GitLab at {cfg.gitlab_url} could not be used: {exc}", 1)
    finally:
        for chart in charts:
            chart.close()
    return 0
