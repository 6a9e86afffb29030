"""Benchmark `incident-bot sync`: the calls of one catch-up pass over 1,000 open incidents, 10 changed.

    PYTHONPATH=. .venv/bin/python benchmarks/sync_calls.py [--incidents 1000] [--changed 10]

Creates N open incidents (signed blocks, as benchmarks/cadence.py does) last updated two hours ago, then
a person comments `/incident update` on `--changed` of them while the bot is down (no hook). Runs
`incident-bot sync --since <1 hour ago>` in-process, then a second plain `sync`, and prints from the
sandbox's call log what each made: the listing (target ceil(changed/100)), the pass's reads per changed
incident (notes, label and state events, in one round trip), and the processing of what it queued.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from benchmarks.cadence import PROJECT, STATE_KEY, add_project, populate
from bot.cli import main as cli_main
from bot.timeutil import iso
from sandbox import Sandbox

LISTING = re.compile(r"^/api/v4/projects/[^/]+/issues$")
PASS_READS = re.compile(r"/issues/\d+/(notes|resource_label_events|resource_state_events)$")


def run_once(sb: Sandbox, label: str, args: list[str]) -> dict:
    sb.reset_calls()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(["sync", "--project", PROJECT, *args])
    sb.wait_quiet(quiet=0.3)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"sync exited {code}")
    calls = [c for c in sb.calls if c["user"] == "incident-bot"]
    listing = [c for c in calls if c["method"] == "GET" and LISTING.match(c["path"])]
    # The pass reads each changed issue's notes and events once, before anything is queued; the
    # processing's own reads (a retry-style marker check included) come after.
    first_process = next((i for i, c in enumerate(calls) if c["method"] == "GET" and re.search(r"/issues/\d+$", c["path"])),
                         len(calls))
    pass_reads = [c for c in calls[:first_process] if c["method"] == "GET" and PASS_READS.search(c["path"])]
    other = [c for c in calls if c not in listing and c not in pass_reads]
    return {"label": label, "wall": wall, "listing": len(listing), "pass_reads": len(pass_reads),
            "hooks": sum(1 for c in other if c["path"].endswith("/hooks")),
            "process_reads": sum(1 for c in other if c["method"] == "GET" and not c["path"].endswith("/hooks")),
            "writes": sum(1 for c in other if c["method"] != "GET")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--changed", type=int, default=10)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="sync-bench-")
    config = os.path.join(tmp, "sync.yml")
    with open(config, "w") as fh:
        fh.write(f"queue:\n  sqlite_path: {os.path.join(tmp, 'queue.db')}\n")

    with Sandbox() as sb:
        bot, project = add_project(sb)
        os.environ.update(GITLAB_URL=sb.url, GITLAB_TOKEN=bot["token"], INCIDENT_BOT_STATE_KEY=STATE_KEY,
                          INCIDENT_BOT_CONFIG=config)
        populate(sb, args.incidents, 0)
        long_ago = datetime.now(timezone.utc) - timedelta(hours=2)
        with sb.lock:
            for issue in sb.store.issues.values():
                issue["updated_at"] = long_ago
            for event in sb.store.label_events:
                event["created_at"] = long_ago
        project_api = sb.client("alice").projects.get(project["id"], lazy=True)
        step = max(1, args.incidents // max(args.changed, 1))
        for iid in range(1, args.incidents + 1, step)[:args.changed]:
            project_api.issues.get(iid, lazy=True).notes.create({"body": "/incident update\nsummary: still on it\n"})
        since = iso(datetime.now(timezone.utc) - timedelta(hours=1))
        print(f"{args.incidents} open incidents in {PROJECT}, {args.changed} with a command the bot missed")
        results = [run_once(sb, f"sync --since {since}", ["--since", since]), run_once(sb, "sync again", [])]

    head = f"{'':38} {'listing':>7} {'pass reads':>10} {'hooks':>5} {'processing reads':>16} {'writes':>6} {'wall s':>6}"
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['label']:38} {r['listing']:>7} {r['pass_reads']:>10} {r['hooks']:>5} {r['process_reads']:>16} "
              f"{r['writes']:>6} {r['wall']:>6.2f}")
    first, second = results
    print()
    print(f"listing: {first['listing']} call(s), target ceil({args.changed}/100) = {math.ceil(args.changed / 100)} "
          f"(the {args.incidents - args.changed} unchanged incidents cost nothing)")
    print(f"pass reads: {first['pass_reads']} = 3 per changed incident (notes, label events, state events, "
          "in one round trip)")
    print(f"second pass: {second['writes']} writes (the replies it finds answer every command)")
    return 0 if second["writes"] == 0 and first["listing"] <= max(1, math.ceil(args.changed / 100)) else 1


if __name__ == "__main__":
    sys.exit(main())
