"""`incident-bot sync [--project P ...] [--since ISO8601] [--dry-run]`: one catch-up pass, then the
queued events are processed here (or by a `serve`/`worker` sharing the queue) before it exits.

Exit codes: 0 after a pass; 1 when GitLab cannot be reached or refuses the token; 2 for bad arguments
or configuration."""

from __future__ import annotations

from .cli_common import fail, load_or_fail
from .compose import build_queue
from .gitlab import GitLabRefused, RetryableGitLabError
from .session import Services
from .sync_run import run_pass, wait_finished
from .timeutil import UTC, iso, parse_time


def _fail(message: str, code: int) -> int:
    return fail("sync", message, code)


def run_sync(args) -> int:
    cfg = load_or_fail("sync", args.config)
    if isinstance(cfg, int):
        return cfg
    since = None
    if args.since:
        try:
            since = parse_time(args.since)
        except ValueError:
            since = None
        if since is None:
            return _fail(f"--since {args.since!r} is not an ISO 8601 time (e.g. 2026-11-27T10:00:00Z)", 2)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    projects = [str(p) for p in (args.project or cfg.projects)]
    if not projects:
        return _fail("no projects: pass --project or set `projects` in the config", 2)
    if not cfg.gitlab_token:
        return _fail("GITLAB_TOKEN is not set (the bot user's token with the api scope)", 2)
    services = Services.from_config(cfg)
    queue = None if args.dry_run else build_queue(cfg, services)
    try:
        return _run(args, services, queue, projects, since)
    finally:
        if queue is not None:
            queue.close()


def _run(args, services, queue, projects, since) -> int:
    try:
        results = run_pass(services, queue, projects, since=since,
                           webhook_url=services.cfg.data["sync"]["webhook_url"])
    except RetryableGitLabError as exc:
        return _fail(f"GitLab at {services.cfg.gitlab_url} cannot be reached: {exc}", 1)
    except GitLabRefused as exc:
        return _fail(f"GitLab refused: {exc} (check GITLAB_TOKEN and the project)", 1)
    for r in results:
        hook = ("cannot read hooks (needs Maintainer)" if not r.hook_readable
                else "no hook" if not r.hook.found else f"hook {r.hook.alert_status}")
        verb = "would handle" if args.dry_run else "queued"
        print(f"{r.project}: since {iso(r.since)}, {r.listed} issues changed, {verb} {len(r.items)}; {hook}")
        for item in r.items:
            print(f"  {'would handle' if args.dry_run else 'handle'} {item.describe()}")
    if queue is None:
        return 0
    queue.start_workers()
    pending = wait_finished(queue, [i for r in results for i in r.submitted], args.wait)
    if pending:
        print(f"{len(pending)} still pending after {args.wait:g}s (retried by the queue; run sync or serve again)")
    return 0
