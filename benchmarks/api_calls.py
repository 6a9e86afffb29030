"""GitLab API reads and writes the bot makes for each command, counted in the sandbox.

    PYTHONPATH=.:tests .venv/bin/python benchmarks/api_calls.py [--latency 0.1]

Each row is one comment (or person action) on an incident in a steady state, processed as a worker's
first attempt would (`process_event(..., retry=False)`); a retry adds one read (the recent notes, for
the markers a crash may have left). Counts are the bot user's calls only. "trips" is how many round
trips to GitLab the bot waited for before its first write (calls that overlap in time are one trip),
and "reply ms" is when the reply (the first write) was answered, from the start of processing, with
GitLab answering every call after `--latency` seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from world import World  # noqa: E402

from sandbox import DEVELOPER  # noqa: E402

STEPS = [
    ("declare (command)", "/incident declare sev2\nsummary: logins fail\n"),
    ("severity sev1", "/incident severity sev1"),
    ("cmoc me", "/incident cmoc me"),
    ("smoc @bob", "/incident smoc @bob"),
    ("imoc @carol", "/incident imoc @carol"),
    ("update", "/incident update\nsummary: narrowing\ntickets: 10\n"),
    ("handoff <region>", None),
    ("resources", "/incident resources\ntickets: 12\n"),
    ("impact", "/incident impact\nsummary: many\n"),
    ("activate-cmoc", "/incident activate-cmoc"),
    ("tech-handoff", "/incident tech-handoff\nsummary: cache\n"),
    ("exec", "/incident exec\nsummary: outage\n"),
    ("status", "/incident status"),
    ("help", "/incident help"),
    ("unknown verb (error reply)", "/incident frobnicate"),
    ("cmoc release", "/incident cmoc release"),
    ("mitigate", "/incident mitigate"),
    ("resolve", "/incident resolve\nsummary: fixed\n"),
]


def round_trips(calls: list[dict]) -> int:
    """Groups of calls that overlap in time, before the first write."""
    trips, end = 0, None
    for call in sorted(calls, key=lambda c: c["started"]):
        if end is None or call["started"] >= end:
            trips += 1
            end = call["ts"]
        else:
            end = max(end, call["ts"])
    return trips


def measure(w: World, name: str, act) -> None:
    start = len(w.sb.deliveries)
    act()
    w.sb.wait_idle(20)
    w.sb.reset_calls()
    began = time.time()
    w.process(start)
    with w.sb.lock:
        calls = [c for c in w.sb.calls if c["user"] == "incident-bot"]
    reads = sum(1 for c in calls if c["method"] == "GET")
    writes = [c for c in calls if c["method"] != "GET"]
    first = min((c["started"] for c in writes), default=None)
    before = [c for c in calls if first is None or c["started"] < first]
    reply = f"{(min(c['ts'] for c in writes) - began) * 1000:.0f}" if writes else "-"
    print(f"{name:30} {reads:>5} {len(writes):>6} {round_trips(before):>5} {reply:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds GitLab takes per call")
    args = parser.parse_args()
    w = World(tempfile.mkdtemp())
    try:
        iid = w.create_issue()
        w.comment(iid, "warming up: the bot reads its own user once per process")
        w.comment(iid, "/incident help")
        w.deliver_by_hand()
        w.sb.latency = args.latency
        print(f"GitLab latency {args.latency * 1000:.0f} ms per call; first attempts")
        print(f"{'command':30} {'reads':>5} {'writes':>6} {'trips':>5} {'reply ms':>8}")
        for name, text in STEPS:
            if text is None:
                region = w.state(iid).region
                text = "/incident handoff " + ("apac" if region != "APAC" else "emea")
            measure(w, name, lambda text=text: w.comment(iid, text))
        other = w.create_issue(title="second")
        measure(w, "declare (person adds label)", lambda: w.edit_issue(other, labels=["incident", "severity::2"]))
        measure(w, "resolve (person closes)", lambda: w.edit_issue(other, state_event="close"))
        dana = w.sb.add_user("dana")
        w.sb.add_member(w.pid, dana["id"], DEVELOPER)
        measure(w, "status (level not cached)", lambda: w.comment(other, "/incident status", who="dana"))
        measure(w, "plain comment", lambda: w.comment(other, "just a comment, no command"))
        measure(w, "refused (Reporter)", lambda: w.comment(other, "/incident status", who="rita"))
        third = w.create_issue(title="third", who="rita")
        measure(w, "refused label (Reporter)", lambda: w.edit_issue(third, who="rita", labels=["incident"]))
    finally:
        w.close()


if __name__ == "__main__":
    main()
