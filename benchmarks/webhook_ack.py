"""Webhook acknowledgement benchmark (a script, not a test).

Starts the GitLab sandbox (answering every API call after --latency seconds), a real
`incident-bot serve` process, and a bare endpoint on the same WSGI server settings that answers 202
and does nothing. Sends the same N deliveries at concurrency C from several client processes to
each, in rounds (a slice to the bare endpoint, the same slice to the bot, the bot's queue drained),
then prints p50/p99 ack latency, throughput, the server's CPU time per request, the p99 ratio, the
time until the bot had processed every delivery (summed over rounds), and the lost and duplicated
replies counted in the sandbox.

    PYTHONPATH=. .venv/bin/python benchmarks/webhook_ack.py --deliveries 1800
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.render import Renderer, incident_context  # noqa: E402
from bot.state import IncidentState, render_block, state_scope  # noqa: E402
from bot.timeutil import utcnow  # noqa: E402
from sandbox import DEVELOPER, MAINTAINER, Sandbox  # noqa: E402

SECRET = "bench-secret"
STATE_KEY = "bench-state-key-0123456789abcdef0123456789"  # the blocks are signed as the bot signs them
NOTE = json.loads((ROOT / "tests" / "fixtures" / "note_hook_issue.json").read_text())
BARE_APP = """
import sys, waitress
from flask import Flask
app = Flask("bare")
@app.post("/webhook")
def webhook():
    return "", 202
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), ident="bare",
               _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def make_world(sb: Sandbox, incidents: int):
    bot = sb.add_user("incident-bot", bot=True)
    alice = sb.add_user("alice")
    project = sb.add_project("support/incidents")
    sb.add_member(project["id"], bot["id"], MAINTAINER)
    sb.add_member(project["id"], alice["id"], DEVELOPER)
    cfg = load_config(env={})
    renderer = Renderer()
    gl = sb.client("incident-bot").projects.get(project["id"], lazy=True)
    iids = []
    for i in range(incidents):
        state = IncidentState(severity=1 + i % 3, detected_at=utcnow(), author="alice")
        table = renderer.render("state_table.md.j2", incident=incident_context(state, iid=i + 1, title="x", now=utcnow()))
        issue = gl.issues.create({"title": f"Incident {i}", "labels": "incident"})
        issue.description = render_block(state, table, STATE_KEY, state_scope(issue.id))
        issue.save()
        iids.append(issue.iid)
    return bot, alice, project, iids, cfg


def payloads(n: int, project_id: int, alice: dict, iids: list[int]) -> list[tuple[dict, str]]:
    out = []
    for i in range(n):
        p = json.loads(json.dumps(NOTE))
        iid = iids[i % len(iids)]
        p["user"].update(id=alice["id"], username="alice")
        p["project_id"] = p["project"]["id"] = project_id
        p["object_attributes"].update(id=10_000_000 + i, note="/incident status", project_id=project_id,
                                      noteable_id=iid, action="create")
        p["issue"].update(iid=iid, id=iid, project_id=project_id, state="opened",
                          labels=[{"id": 1, "title": "incident"}])
        headers = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": SECRET, "Content-Type": "application/json",
                   "Idempotency-Key": f"bench-{i}", "X-Gitlab-Event-UUID": f"uuid-{i}"}
        out.append((headers, json.dumps(p)))
    return out


_START = None  # a multiprocessing.Barrier shared by the client processes (set by _init_client)


def _init_client(barrier) -> None:
    global _START
    _START = barrier


def _client(args):
    """One client process: `threads` keep-alive connections sending its share of the deliveries. Plain
    http.client rather than requests: the client's own CPU time is inside every latency it measures, and on
    a 2-core machine it competes with the servers. Connections are opened first, and every client process
    starts sending at the same moment (the barrier), so that neither a process still starting up nor a
    connection being set up is inside the figures."""
    url, batch, threads = args
    parts = urlsplit(url)
    latencies: list[float] = []
    lock = threading.Lock()
    go = threading.Event()
    it = iter(batch)
    conns = [http.client.HTTPConnection(parts.hostname, parts.port, timeout=30) for _ in range(threads)]
    for conn in conns:
        conn.connect()

    def run(conn):
        go.wait()
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                conn.close()
                return
            headers, body = item
            t = time.perf_counter()
            conn.request("POST", parts.path, body=body, headers=headers)
            r = conn.getresponse()
            text = r.read()
            dt = time.perf_counter() - t
            if r.status not in (200, 202):
                raise RuntimeError(f"{url} answered {r.status}: {text[:200]!r}")
            with lock:
                latencies.append(dt)

    ts = [threading.Thread(target=run, args=(conn,)) for conn in conns]
    for t in ts:
        t.start()
    _START.wait(timeout=120)
    start = time.perf_counter()
    go.set()
    for t in ts:
        t.join()
    return latencies, start, time.perf_counter()


class Clients:
    """The client processes, started once for the whole run (spawned: a fresh interpreter each)."""

    def __init__(self, processes: int):
        self.processes = processes
        ctx = mp.get_context("spawn")
        self.pool = ctx.Pool(processes, initializer=_init_client, initargs=(ctx.Barrier(processes),))

    def close(self) -> None:
        self.pool.terminate()

    def blast(self, url: str, items, concurrency: int) -> dict:
        """Send `items` at `concurrency` from every client process at once. The wall time runs from the
        first send to the last answer. Each process blocks in the barrier until all have a share, so each
        takes exactly one."""
        per = max(1, concurrency // self.processes)
        batches = [items[i::self.processes] for i in range(self.processes)]
        results = self.pool.map(_client, [(url, b, per) for b in batches], chunksize=1)
        return {"latencies": [x for r in results for x in r[0]],
                "wall": max(r[2] for r in results) - min(r[1] for r in results)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(runs: list[dict]) -> dict:
    lat = sorted(x for r in runs for x in r["latencies"])
    wall = sum(r["wall"] for r in runs)
    return {"p50": lat[len(lat) // 2] * 1000, "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "throughput": len(lat) / wall, "n": len(lat), "cpu_ms": sum(r["cpu"] for r in runs) / len(lat) * 1000}


def wait_processed(sb: Sandbox, project_id: int, iids: list[int], expected: int, args) -> Counter:
    """The bot's replies by marker key, once `expected` deliveries have one (or at the timeout)."""
    deadline = time.monotonic() + args.timeout
    while True:
        keys: Counter = Counter()
        for iid in iids:
            for note in sb.notes(project_id, iid):
                if note["author"]["username"] == "incident-bot" and "key=note-" in note["body"]:
                    keys[note["body"].rsplit("key=", 1)[1].split()[0]] += 1
        if len(keys) >= expected or time.monotonic() > deadline:
            return keys
        time.sleep(0.2)


def run(args) -> dict:
    tmp = tempfile.mkdtemp(prefix="incident-bot-bench-")
    sb = Sandbox(latency=0.0).start()
    try:
        bot_user, alice, project, iids, _ = make_world(sb, args.incidents)
        sb.latency = args.latency
        bot_port, bare_port = free_port(), free_port()
        config = Path(tmp) / "bot.yml"
        config.write_text(f"queue:\n  sqlite_path: {tmp}/queue.db\n  workers: {args.workers}\n")
        env = dict(os.environ, GITLAB_URL=sb.url, GITLAB_TOKEN=bot_user["token"],
                   INCIDENT_BOT_WEBHOOK_SECRET=SECRET, INCIDENT_BOT_STATE_KEY=STATE_KEY, PYTHONPATH=str(ROOT))
        bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(bot_port), "--threads",
                                str(args.threads), "--config", str(config), "--log-level", "WARNING"]
                               + (["--no-worker"] if args.no_worker else []), env=env,
                               stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "bot.log", "w"))
        bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(bare_port), str(args.threads)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clients = None
        try:
            clients = Clients(args.processes)
            wait_for(f"http://127.0.0.1:{bot_port}/healthz")
            wait_for(f"http://127.0.0.1:{bare_port}/")
            items = payloads(args.deliveries, project["id"], alice, iids)
            # Rounds: bare then bot on each slice, and the bot's queue drained before the next bare slice, so
            # both endpoints see the same machine (the VM's neighbours drift within a minute) and the bare
            # endpoint is never measured while the bot processes in the background.
            bare_runs, bot_runs, processed, keys = [], [], 0.0, Counter()
            for r in range(args.rounds):
                chunk = items[r::args.rounds]
                cpu = cpu_seconds(bare.pid)
                bare_runs.append(clients.blast(f"http://127.0.0.1:{bare_port}/webhook", chunk, args.concurrency))
                bare_runs[-1]["cpu"] = cpu_seconds(bare.pid) - cpu
                sent, cpu = time.perf_counter(), cpu_seconds(bot.pid)
                bot_runs.append(clients.blast(f"http://127.0.0.1:{bot_port}/webhook", chunk, args.concurrency))
                bot_runs[-1]["cpu"] = cpu_seconds(bot.pid) - cpu
                expected_so_far = sum(len(items[i::args.rounds]) for i in range(r + 1))
                keys = wait_processed(sb, project["id"], iids, expected_so_far, args) if not args.no_worker \
                    else Counter()
                processed += time.perf_counter() - sent
        finally:
            if clients is not None:
                clients.close()
            bot.terminate()
            bare.terminate()
            bot.wait(30)
            bare.wait(10)
        expected = {f"note-{10_000_000 + i}-0" for i in range(args.deliveries)}
        return {"bare": summarize(bare_runs), "bot": summarize(bot_runs), "processed_seconds": processed,
                "lost": len(expected - set(keys)), "duplicated": sum(c - 1 for c in keys.values() if c > 1)}
    finally:
        sb.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deliveries", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--incidents", type=int, default=40)
    p.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.3],
                   help="sandbox answer delays to run with, in seconds")
    p.add_argument("--threads", type=int, default=8, help="WSGI threads, the same for both servers")
    p.add_argument("--workers", type=int, default=4, help="the bot's worker threads (queue.workers; 4 by default)")
    # More, shorter rounds spread the machine's own hiccups (a few ms now and then, on a shared 2-core VM)
    # over both endpoints; with 3 rounds one hiccup could decide a p99.
    p.add_argument("--rounds", type=int, default=6, help="bare/bot rounds the deliveries are split into")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--no-worker", action="store_true",
                   help="ack only: the bot stores deliveries and processes none (isolates the web path)")
    args = p.parse_args()
    print(f"{args.deliveries} deliveries in {args.rounds} rounds, concurrency {args.concurrency} from "
          f"{args.processes} client processes, "
          f"{args.incidents} incidents, waitress threads {args.threads}, bot workers {args.workers}")
    for latency in args.latency:
        args.latency = latency
        r = run(args)
        b, o = r["bare"], r["bot"]
        print(f"\nGitLab (sandbox) latency {latency * 1000:.0f} ms per API call")
        print(f"  {'':10} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'server CPU ms/req':>18}")
        print(f"  {'bare 202':10} {b['p50']:8.2f} {b['p99']:8.2f} {b['throughput']:8.0f} {b['cpu_ms']:18.2f}")
        print(f"  {'bot':10} {o['p50']:8.2f} {o['p99']:8.2f} {o['throughput']:8.0f} {o['cpu_ms']:18.2f}")
        print(f"  p99 ratio bot/bare: {o['p99'] / b['p99']:.2f}  (target <= 1.5)")
        print(f"  all processed after: {r['processed_seconds']:.1f} s (summed over rounds)")
        print(f"  lost: {r['lost']}  duplicated: {r['duplicated']}  (counted in the sandbox)")


if __name__ == "__main__":
    main()
