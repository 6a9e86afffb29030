"""Reply latency: how soon a person sees the bot's answer, against what GitLab's own latency allows
(a script, not a test). Plays comments against the sandbox, with every API call answered after
--latency seconds, through a real bot (the web app on waitress, the queue, its workers, over HTTP):

1. one `/incident update` at a time: the time from the comment to the bot's reply (both as GitLab
   records them), p50, against two sequential GitLab calls made directly (read the issue, post a
   note); goal: ratio <= 1.25;
2. a burst of 24 updates over 6 incidents, sent at once: the p50 reply time against the same work
   done by 4 threads with no waits (each command's GitLab calls in sequence, one incident per thread
   at a time); goal: ratio <= 2;
3. the bot's GitLab calls per command (reads and writes);
4. the same burst with the work done by an `incident-bot worker` process that is SIGKILLed mid-burst
   and started again: replies lost and duplicated (goal: 0 and 0).

    PYTHONPATH=. .venv/bin/python benchmarks/reply_latency.py [--latency 0.1] [--updates 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from world import World  # noqa: E402

from bot.markers import parse_note_marker as parse_marker  # noqa: E402

UPDATE = "/incident update\nsummary: still investigating\n"


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bot_calls(w: World, since: float) -> list[dict]:
    return [c for c in list(w.sb.calls) if c["user"] == "incident-bot" and c["ts"] >= since]


def note_posts(w: World, user: str, since: float) -> list[dict]:
    return [c for c in list(w.sb.calls) if c["user"] == user and c["method"] == "POST"
            and c["path"].endswith("/notes") and c["ts"] >= since]


def direct_two_calls(w: World, iid: int, n: int) -> list[float]:
    """Read the issue, post a note: what the bot cannot avoid for a reply."""
    project = w.gl("incident-bot").projects.get(w.pid, lazy=True)
    out = []
    for _ in range(n):
        started = time.monotonic()
        issue = project.issues.get(iid)
        issue.notes.create({"body": "baseline"})
        out.append(time.monotonic() - started)
    return out


def single_updates(w: World, iid: int, n: int) -> tuple[list[float], dict]:
    latencies, reads, writes = [], 0, 0
    for _ in range(n):
        w.settle()
        since = time.time()
        w.comment(iid, UPDATE)
        comment = note_posts(w, "alice", since)[0]["ts"]
        reply = note_posts(w, "incident-bot", since)[0]["ts"]
        latencies.append(reply - comment)
        calls = bot_calls(w, since)
        reads += sum(1 for c in calls if c["method"] == "GET")
        writes += sum(1 for c in calls if c["method"] != "GET")
    return latencies, {"reads": reads / n, "writes": writes / n}


def send_burst(w: World, iids: list[int], per_incident: int) -> float:
    """Every comment at once, one thread per comment; returns when the first was sent."""
    barrier = threading.Barrier(len(iids) * per_incident)

    def person(iid: int) -> None:
        project = w.gl("alice").projects.get(w.pid, lazy=True)
        barrier.wait()
        project.issues.get(iid, lazy=True).notes.create({"body": UPDATE})

    threads = [threading.Thread(target=person, args=(iid,)) for iid in iids for _ in range(per_incident)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started


def burst_latencies(w: World, iids: list[int], since: float) -> list[float]:
    """Reply time of each comment: the k-th comment on an incident is answered by the bot's k-th note
    on it (GitLab's call log: when each note was created)."""
    out = []
    for iid in iids:
        path = f"/issues/{iid}/notes"
        comments = sorted(c["ts"] for c in note_posts(w, "alice", since) if c["path"].endswith(path))
        replies = sorted(c["ts"] for c in note_posts(w, "incident-bot", since) if c["path"].endswith(path))
        out += [r - c for c, r in zip(comments, replies, strict=True)]
    return out


def no_wait_burst(w: World, iids: list[int], per_incident: int, calls_per_command: int) -> list[float]:
    """The same work with 4 workers and no waits: each command's calls in sequence, an incident's
    commands in order, four incidents at a time."""
    todo = list(iids)
    lock = threading.Lock()
    done: list[float] = []
    started = time.monotonic()

    def worker() -> None:
        project = w.gl("incident-bot").projects.get(w.pid, lazy=True)
        while True:
            with lock:
                if not todo:
                    return
                iid = todo.pop(0)
            for _ in range(per_incident):
                for _ in range(calls_per_command):
                    project.issues.get(iid)
                with lock:
                    done.append(time.monotonic() - started)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def killed_worker_burst(w: World, iids: list[int], per_incident: int, tmp: str) -> tuple[int, int, int]:
    """The burst processed by a worker process, SIGKILLed after a few replies and started again."""
    w.bot.queue.stop()  # the in-process workers step aside

    def start():
        return w.worker_process(tmp)

    before = {iid: len(w.sb.notes(w.pid, iid)) for iid in iids}
    worker = start()
    since = send_burst(w, iids, per_incident)
    deadline = time.monotonic() + 60
    while len(note_posts(w, "incident-bot", since)) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(5)
    worker = start()
    try:
        w.sb.wait_idle(30)
        deadline = time.monotonic() + 120
        while w.bot.queue.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        w.sb.wait_quiet(0.5, 30)
    finally:
        worker.kill()
    comments, keys, replies = set(), set(), 0
    for iid in iids:
        for n in w.sb.notes(w.pid, iid)[before[iid]:]:
            if n["author"]["username"] == "alice":
                comments.add(n["id"])
            elif (parse_marker(n["body"]) or {}).get("kind") == "update":
                replies += 1
                keys.add(parse_marker(n["body"]).get("key"))
    answered = {c for c in comments if any(k and k.startswith(f"note-{c}-") for k in keys)}
    return len(comments), len(comments - answered), replies - len(keys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.1, help="seconds GitLab takes per API call")
    ap.add_argument("--updates", type=int, default=10, help="single updates to time")
    args = ap.parse_args()
    incidents, per_incident = 6, 4
    with tempfile.TemporaryDirectory() as tmp:
        w = World(tmp)
        try:
            iids = [w.declare() for _ in range(incidents)]
            w.sb.latency = args.latency
            base = direct_two_calls(w, iids[0], args.updates)
            single, calls = single_updates(w, iids[0], args.updates)
            ratio1 = statistics.median(single) / statistics.median(base)
            print(f"GitLab latency per call: {args.latency * 1000:.0f} ms")
            print(f"one /incident update:  reply p50 {statistics.median(single) * 1000:.0f} ms "
                  f"(p90 {p(single, 0.9) * 1000:.0f} ms); two sequential calls p50 "
                  f"{statistics.median(base) * 1000:.0f} ms; ratio {ratio1:.2f} (goal <= 1.25)")
            print(f"calls per command:     {calls['reads']:.1f} reads, {calls['writes']:.1f} writes")

            w.settle()
            since = send_burst(w, iids, per_incident)
            w.settle()
            burst = burst_latencies(w, iids, since)
            ideal = no_wait_burst(w, iids, per_incident, round(calls["reads"] + calls["writes"]))
            ratio2 = statistics.median(burst) / statistics.median(ideal)
            print(f"burst of {incidents * per_incident} over {incidents} incidents: reply p50 "
                  f"{statistics.median(burst):.2f} s, p99 {p(burst, 0.99):.2f} s; 4 workers, no waits: p50 "
                  f"{statistics.median(ideal):.2f} s, p99 {p(ideal, 0.99):.2f} s; ratio {ratio2:.2f} (goal <= 2)")

            sent, lost, duplicated = killed_worker_burst(w, iids, per_incident, tmp)
            print(f"worker SIGKILLed mid-burst: {sent} comments, {lost} lost, {duplicated} duplicated")
        finally:
            w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
