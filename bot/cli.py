"""The `incident-bot` command: serve, worker, cadence, sync, check, setup, deliveries."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .config import ConfigError, load_config
from .logs import LEVELS

log = logging.getLogger("incident_bot")


def _config(args):
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"incident-bot: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _refused(cfg) -> bool:
    """Say in one line why this setup cannot run (bot/preflight.py), if it cannot."""
    from .preflight import start_problem

    problem = start_problem(cfg)
    if problem:
        print(f"incident-bot: {problem}", file=sys.stderr)
    return problem is not None


def cmd_serve(args) -> int:
    from .compose import serve
    from .logs import setup_logging

    cfg = _config(args)
    if not cfg.webhook_secret and not args.insecure:
        print("incident-bot: INCIDENT_BOT_WEBHOOK_SECRET is not set. Set it (and the same secret token on the "
              "GitLab webhook), or pass --insecure to run without one.", file=sys.stderr)
        return 2
    if _refused(cfg):
        return 2
    setup_logging(args.log_level, fmt=args.log_format)
    serve(cfg, host=args.host, port=args.port, threads=args.threads, workers=not args.no_worker,
          insecure=args.insecure)
    return 0


def cmd_worker(args) -> int:
    from .compose import work
    from .logs import setup_logging

    cfg = _config(args)
    if _refused(cfg):
        return 2
    setup_logging(args.log_level, fmt=args.log_format)
    work(cfg)
    return 0


def cmd_deliveries(args) -> int:
    from .compose import build_queue

    queue = build_queue(_config(args))
    try:
        queue.check()
        return _deliveries(queue, args)
    finally:
        queue.close()


def _deliveries(queue, args) -> int:
    if args.action == "list":
        rows = queue.list(dead_only=args.dead)
        if args.format == "json":
            print(json.dumps(rows, indent=2, default=str))
        else:
            print(f"{'ID':38} {'RECEIVED':20} {'STATUS':9} {'TRIES':5} {'EVENT':22} {'ISSUE':10} LAST ERROR")
            for r in rows:
                print(f"{r['id']:38} {str(r.get('received_at') or '-'):20} {r['status']:9} {r.get('attempts', 0):<5} "
                      f"{str(r.get('event')):22} {str(r.get('issue_key')):10} {r.get('last_error') or ''}")
        return 0
    if args.all_dead:
        print(f"replayed {queue.replay_all_dead()} dead deliveries")
        return 0
    if not args.id:
        print("incident-bot deliveries replay: give a delivery ID or --all-dead", file=sys.stderr)
        return 2
    if not queue.replay(args.id):
        print(f"no finished delivery {args.id} (unknown, or still pending)", file=sys.stderr)
        return 1
    print(f"replayed {args.id}")
    return 0


def cmd_cadence(args) -> int:
    from .cadence_run import run_cadence

    return run_cadence(args)


def cmd_sync(args) -> int:
    from .logs import setup_logging
    from .sync_command import run_sync

    setup_logging(args.log_level)
    return run_sync(args)


def cmd_check(args) -> int:
    from .setup import run_check

    return run_check(args)


def cmd_setup(args) -> int:
    from .setup import run_setup

    return run_setup(args)


def cmd_report(args) -> int:
    from .report.run import run_report

    return run_report(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="incident-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--config", help="YAML config file (default: $INCIDENT_BOT_CONFIG)")
        sp.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS)
        sp.add_argument("--log-format", default="json", choices=["json", "text"],
                        help="json: one object a line (default); text: lines for a person")

    s = sub.add_parser("serve", help="serve the webhook (and, by default, the worker threads)")
    common(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--threads", type=int, default=8)
    s.add_argument("--insecure", action="store_true", help="run without a webhook secret (testing only)")
    s.add_argument("--no-worker", action="store_true", help="web only; run `incident-bot worker` elsewhere")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="process queued deliveries (scale-out with INCIDENT_BOT_QUEUE=redis://)")
    common(w)
    w.set_defaults(func=cmd_worker)

    c = sub.add_parser("cadence", help="check open incidents once and post the reminders that are due")
    common(c)
    c.add_argument("--project", action="append", help="project id or path (repeatable; default: config)")
    c.add_argument("--dry-run", action="store_true", help="change nothing; print what would be posted")
    c.add_argument("--now", help="evaluate at this ISO 8601 time instead of now")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.set_defaults(func=cmd_cadence)

    sy = sub.add_parser("sync", help="catch up on what webhooks did not bring: handle it once, in order")
    common(sy)
    sy.add_argument("--project", action="append", help="project id or path (repeatable; default: config)")
    sy.add_argument("--since", help="look back to this ISO 8601 time (default: the last pass; 24 h the first time)")
    sy.add_argument("--dry-run", action="store_true", help="queue nothing; print what would be handled")
    sy.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the queued events (default 120)")
    sy.set_defaults(func=cmd_sync)

    for name, func, text in (("check", cmd_check, "read-only: is the project set up for the bot? (exit 1: no)"),
                             ("setup", cmd_setup, "create the labels and the webhook the bot needs")):
        sp = sub.add_parser(name, help=text)
        common(sp)
        sp.add_argument("--project", action="append", help="project id or path (repeatable; default: config)")
        sp.add_argument("--webhook-url", help="the address GitLab reaches the bot at (default: sync.webhook_url)")
        if name == "setup":
            sp.add_argument("--dry-run", action="store_true", help="write nothing; say what would be done")
        sp.set_defaults(func=func)

    r = sub.add_parser("report", help="the framework's measures over a period (md, html, json or csv)")
    common(r)
    r.add_argument("--project", help="project id or path (default: the first in the config)")
    r.add_argument("--since", help="start date (YYYY-MM-DD or ISO time; default: 30 days before --until)")
    r.add_argument("--until", help="end date, included (default: now)")
    r.add_argument("--format", choices=["md", "html", "json", "csv"], default="md")
    r.add_argument("--now", help="report as at this ISO 8601 time (open incidents, overdue follow-ups)")
    r.add_argument("--out", help="write to this file instead of stdout (md: charts as PNG files beside it)")
    r.add_argument("--post-issue", action="store_true",
                   help="create or update the period's report issue (label incident-report) with the charts")
    r.set_defaults(func=cmd_report)

    dl = sub.add_parser("deliveries", help="list or replay stored deliveries")
    common(dl)
    dl.add_argument("action", choices=["list", "replay"])
    dl.add_argument("id", nargs="?")
    dl.add_argument("--dead", action="store_true", help="list only deliveries that will not be retried (dead or failed)")
    dl.add_argument("--all-dead", action="store_true", help="replay every delivery --dead lists")
    dl.add_argument("--format", choices=["text", "json"], default="text")
    dl.set_defaults(func=cmd_deliveries)
    return p


def main(argv: list[str] | None = None) -> int:
    from .queue import QueueUnavailable
    from .serving import CannotServe

    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (QueueUnavailable, CannotServe) as exc:  # one line, not a traceback: the operator can act on it
        print(f"incident-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) before serve or worker got to their own clean stop
        return 130
    except BrokenPipeError:  # `incident-bot deliveries list | head`: the reader has all it wants
        # Python would complain again when it flushes stdout at exit; point it at nothing instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
