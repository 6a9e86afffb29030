"""Benchmark `incident-bot report` against the GitLab sandbox over real HTTP.

    PYTHONPATH=. .venv/bin/python benchmarks/report.py [--incidents 1000] [--partial 0.05]

Creates N incidents in one project (mixed severities, open and closed, with updates, handoffs, CSAT and
postmortems) with their signed blocks written straight into the sandbox store; a share of them have no
block (declared before the bot, or the block was deleted) and only the bot's notes. Then runs the command
in-process (`bot.cli.main(["report", ...])`) in every format and prints, from the sandbox's call log, the
listing calls and the other reads of each run, and its wall time.

Target: incident listing calls = ceil(N/100), plus one read (the notes) per incident that lacks its
figures in the block, plus one read of the bot's own user when there is any such incident. The
follow-up listing (postmortem action items) is one more call per 100 follow-ups, printed apart.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import timedelta

from bot.cli import main as cli_main
from bot.markers import note_marker
from bot.state import IncidentState, Role, render_block, state_scope, write_block
from bot.timeutil import iso
from sandbox import Sandbox
from sandbox import issues as sb_issues
from sandbox import notes as sb_notes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cadence import LISTING, NOW, PROJECT, STATE_KEY, bot_project  # noqa: E402 - the same world as that benchmark


def make_state(i: int) -> IncidentState:
    severity = 1 + i % 3
    detected = NOW - timedelta(days=20) + timedelta(minutes=17 * i)
    state = IncidentState(status="resolved", severity=severity, detected_at=detected, author="alice",
                          initial_update_at=detected + timedelta(minutes=i % 20), region=("EMEA", "AMER", "APAC")[i % 3],
                          roles={"cmoc": Role("alice", 2)} if i % 2 else {})
    for n in range(1, 1 + i % 4):
        at = detected + timedelta(minutes=12 * n + i % 7)
        state.updates.append({"n": n, "at": iso(at), "due": iso(detected + timedelta(minutes=15 * n))})
    state.update_count = len(state.updates)
    state.mitigated_at = detected + timedelta(minutes=40 + i % 30)
    state.resolved_at = detected + timedelta(minutes=60 + i % 90)
    if i % 5 == 0:
        state.csat.append({"pct": 80 + i % 21, "given": f"{80 + i % 21}%", "at": iso(state.resolved_at), "by": "alice"})
    return state


def populate(sb: Sandbox, n: int, partial_share: float) -> int:
    every = max(1, round(1 / partial_share)) if partial_share > 0 else None
    partial = 0
    with sb.lock:
        st = sb.store
        project = st.project(PROJECT)
        bot = st.user_by_name("incident-bot")
        for i in range(n):
            state = make_state(i)
            labels = ["incident", f"severity::{state.severity}", "incident::resolved"]
            issue = sb_issues.create_issue(st, project, bot, {"title": f"Incident {i}", "labels": labels,
                                                              "description": "Customers report errors."})
            issue["created_at"] = state.detected_at
            if every is not None and i % every == 0:  # no block: only the bot's notes say what happened
                partial += 1
                for kind, key, at in (("initial", f"note-{i}-0", state.initial_update_at),
                                      ("resolved", f"note-{i}-1", state.resolved_at)):
                    sb_notes.create_note(st, issue, bot, f"## Incident\n\n{note_marker(kind, key)}", False, [],
                                         created_at=at)
            else:
                issue["description"] = write_block(issue["description"], render_block(
                    state, "(state table)", STATE_KEY, state_scope(issue["id"])))
            if i % 3 == 0:
                issue.update(state="closed", closed_at=state.resolved_at)
        st.take_events()  # no hooks: nothing to deliver
    return partial


def run_once(sb: Sandbox, fmt: str, out: str) -> dict:
    sb.reset_calls()
    started = time.perf_counter()
    code = cli_main(["report", "--project", PROJECT, "--since", "2026-11-01", "--now", iso(NOW), "--format", fmt,
                     "--out", out])
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"report exited {code}")
    calls = [c for c in sb.calls if c["user"] == "incident-bot"]
    listing = [c for c in calls if c["method"] == "GET" and LISTING.match(c["path"])]
    followup = [c for c in listing if "postmortem" in c["query"]]
    return {"format": fmt, "wall": wall, "listing": len(listing) - len(followup), "followup": len(followup),
            "reads": len([c for c in calls if c["method"] == "GET" and c not in listing]),
            "writes": len([c for c in calls if c["method"] != "GET"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--partial", type=float, default=0.05, help="share of incidents without a block (default 0.05)")
    args = ap.parse_args(argv)

    with Sandbox() as sb, tempfile.TemporaryDirectory() as tmp:
        bot_project(sb)
        started = time.perf_counter()
        partial = populate(sb, args.incidents, args.partial)
        print(f"{args.incidents} incidents in {PROJECT} ({partial} without a block), created in "
              f"{time.perf_counter() - started:.2f}s; --now {iso(NOW)}")
        results = [run_once(sb, fmt, os.path.join(tmp, f"report.{fmt}")) for fmt in ("json", "csv", "md", "html")]

    target = math.ceil(args.incidents / 100)
    head = f"{'format':8} {'listing':>7} {'follow-up listing':>17} {'reads':>5} {'writes':>6} {'wall s':>7}"
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['format']:8} {r['listing']:>7} {r['followup']:>17} {r['reads']:>5} {r['writes']:>6} {r['wall']:>7.2f}")
    print()
    print(f"target: listing ceil({args.incidents}/100) = {target}; reads = {partial} incidents without a block "
          f"+ 1 (the bot's user, read once to trust only its notes) = {partial + 1}")
    ok = all(r["listing"] == target and r["reads"] == partial + (1 if partial else 0) and r["writes"] == 0
             for r in results)
    print("as designed" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
