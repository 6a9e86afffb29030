"""An integration world: the GitLab sandbox and the bot, wired by a real webhook, over real HTTP.

People act through python-gitlab with their own tokens; the sandbox sends webhooks to the bot as
GitLab does; assertions read the sandbox's state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import requests

from bot.config import load_config
from bot.events import parse_delivery
from bot.markers import parse_note_marker as parse_marker
from bot.process import process_event
from bot.state import read_block, state_scope
from bot.statekey import ensure_state_key
from bot.webhook import triggers_nothing
from sandbox import DEVELOPER, GUEST, MAINTAINER, REPORTER, Sandbox
from sandbox.hooks import sign
from sandbox.local import LocalBot

SECRET = "s3cret-token"
PEOPLE = {"alice": DEVELOPER, "bob": DEVELOPER, "carol": MAINTAINER, "rita": REPORTER, "gus": GUEST}
TROUBLE = ("dead", "failed", "retrying")  # a delivery that went wrong, or has not finished going right
MADE: list["World"] = []  # every World not yet checked: conftest asserts none of them has TROUBLE


class World:
    def __init__(self, tmp_path, *, config_yaml: str | None = None, assignee_limit=1, object_kind="issue",
                 signing_key: str | None = None, env: dict | None = None, clock=None):
        # `clock`: one time source for GitLab and the bot, for tests that move time (None: the real clock).
        extra = {"clock": clock} if clock is not None else {}
        self.sb = Sandbox(assignee_limit=assignee_limit, object_kind=object_kind, **extra).start()
        self.bot_user = self.sb.add_user("incident-bot", name="Incident Bot", bot=True)
        self.project = self.sb.add_project("support/incidents")
        self.pid = self.project["id"]
        self.sb.add_member(self.pid, self.bot_user["id"], MAINTAINER)
        self.users = {}
        for name, level in PEOPLE.items():
            self.users[name] = self.sb.add_user(name)
            self.sb.add_member(self.pid, self.users[name]["id"], level)
        self.users["outsider"] = self.sb.add_user("outsider")
        config_path = None
        if config_yaml:
            config_path = os.path.join(tmp_path, "config.yml")
            with open(config_path, "w") as fh:
                fh.write(config_yaml)
        base_env = {"GITLAB_URL": self.sb.url, "GITLAB_TOKEN": self.bot_user["token"],
                    "INCIDENT_BOT_WEBHOOK_SECRET": SECRET}
        base_env.update(env or {})
        self.cfg = load_config(config_path, env=base_env)
        self.cfg.data["queue"]["sqlite_path"] = os.path.join(tmp_path, "queue.db")
        self.cfg.data["queue"]["retry_base_seconds"] = 0.05
        self.cfg.data["queue"]["retry_max_seconds"] = 0.5
        # The sandbox limits nothing unless a test says so (sb.limit_rate): neither does the bot's pacing.
        if "gitlab_rate_limits" not in (config_yaml or ""):
            self.cfg.data["gitlab_rate_limits"] = {"notes": None, "issues": None, "per_seconds": 60}
        self.bot = LocalBot(self.cfg, clock=clock).start()
        self.sb.add_hook(self.pid, self.bot.webhook_url, token=SECRET, signing_key=signing_key)
        self.closed, self._last_rows, self.reported = False, [], set()
        MADE.append(self)

    def close(self):
        try:
            self._last_rows = self.bot.queue.list()  # for the end-of-test check, after the store is closed
        finally:
            self.closed = True
            self.bot.stop()
            self.sb.stop()

    def troubled_deliveries(self) -> list[dict]:
        """The bot's deliveries that are dead, failed or still retrying."""
        rows = self._last_rows if self.closed else self.bot.queue.list()
        return [r for r in rows if r["status"] in TROUBLE]

    def worker_process(self, tmp_dir: str) -> subprocess.Popen:
        """A separate `incident-bot worker` process on this world's queue (short leases and retries, so
        a SIGKILLed one is replaced quickly). Stop the in-process workers first (`bot.queue.stop()`)."""
        config = os.path.join(tmp_dir, "worker.yml")
        with open(config, "w") as fh:
            fh.write(f"queue:\n  sqlite_path: {self.cfg.queue['sqlite_path']}\n  lease_seconds: 2\n"
                     f"  poll_seconds: 0.1\n  retry_base_seconds: 0.05\n")
        env = dict(os.environ, GITLAB_URL=self.sb.url, GITLAB_TOKEN=self.bot_user["token"],
                   INCIDENT_BOT_WEBHOOK_SECRET=SECRET, PYTHONPATH=os.pathsep.join(sys.path))
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--config", config], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def bot_commands(self) -> list[dict]:
        """The quick actions GitLab (the sandbox) found in what the bot wrote: there must be none."""
        return [c for c in getattr(self.sb.store, "commands_found", []) if c["user"] == "incident-bot"]

    # -- people act ---------------------------------------------------------------------
    def gl(self, who: str):
        return self.sb.client(who)

    def create_issue(self, who: str = "alice", title: str = "SSO logins failing", labels=(),
                     confidential: bool = False, description: str = "Reported by customers.") -> int:
        project = self.gl(who).projects.get(self.pid, lazy=True)
        issue = project.issues.create({"title": title, "description": description,
                                       "labels": ",".join(labels), "confidential": confidential})
        self.settle()
        return issue.iid

    def comment(self, iid: int, body: str, who: str = "alice", internal: bool = False):
        issue = self.gl(who).projects.get(self.pid, lazy=True).issues.get(iid, lazy=True)
        data = {"body": body}
        if internal:
            data["internal"] = True
        note = issue.notes.create(data)
        self.settle()
        return note

    def edit_issue(self, iid: int, who: str = "alice", **changes):
        issue = self.gl(who).projects.get(self.pid, lazy=True).issues.get(iid)
        for key, value in changes.items():
            setattr(issue, key, value)
        issue.save()
        self.settle()

    def declare(self, iid: int | None = None, sev: str = "sev1", who: str = "alice", fields: str = "") -> int:
        iid = iid or self.create_issue(who)
        self.comment(iid, f"/incident declare {sev}\n{fields}", who=who)
        return iid

    # -- the bot's worker, by hand (to count what one attempt of one delivery costs) ---------------
    def deliver_by_hand(self):
        """GitLab's webhooks stop reaching the bot (they are still recorded); run them with `process`."""
        for hook in self.sb.store.hooks[self.pid]:
            hook["url"] = "http://127.0.0.1:9/webhook"  # the discard port: refused at once
            hook["by_hand"] = True  # a harness switch, not GitLab's: these failures do not disable the hook

    def process(self, start: int, *, retry: bool = False) -> list[str]:
        """Process the deliveries recorded from index `start` on, as a worker's attempt would."""
        outcomes, index = [], start
        self.sb.wait_idle(20)
        while index < len(self.sb.deliveries):  # grows with the deliveries the bot's own writes cause
            delivery = self.sb.deliveries[index]
            event = parse_delivery(delivery["headers"], delivery["body"])
            index += 1
            reason = triggers_nothing(event, self.cfg)  # the door's guards: such a delivery is never stored
            if reason:
                outcomes.append(f"ignored: {reason}")
                continue
            outcomes.append(process_event(event, self.bot.services, retry=retry,
                                          event_uuid=delivery["headers"].get("X-Gitlab-Event-UUID")))
            self.sb.wait_idle(20)
        return outcomes

    def deliver_again(self, index: int, *, payload: dict | None = None, headers: dict | None = None) -> dict:
        """Send recorded delivery `index` to the bot again as a new delivery: the same event (its Event
        UUID too) under a new Idempotency-Key, as a second hook or a GitLab before 17.4 sends it. It
        passes the door's dedupe, so the processor meets it; the test then asserts it changed nothing.
        `payload` and `headers` replace the recorded ones (another GitLab version's shape of the event).
        Returns the bot's answer (status and JSON) after the bot settled."""
        old = dict(self.sb.deliveries[index])
        if payload is not None:
            old["body"] = json.dumps(payload).encode()
        headers = dict(old["headers"], **(headers or {}), **{"Idempotency-Key": str(uuid.uuid4())})
        if "webhook-signature" in headers:  # a signed hook signs the new message id
            (hook,) = [h for h in self.sb.store.hooks[self.pid] if h["id"] == old["hook_id"]]
            ts = int(time.time())
            headers.update({"webhook-id": headers["Idempotency-Key"], "webhook-timestamp": str(ts),
                            "webhook-signature": sign(hook["signing_key"], headers["Idempotency-Key"], ts,
                                                      old["body"])})
        resp = requests.post(self.bot.webhook_url, data=old["body"], headers=headers, timeout=10)
        self.settle()
        return {"status": resp.status_code, "json": resp.json() if resp.content else None}

    def settle(self, timeout: float = 20.0):
        """Wait until GitLab has no webhook left to send and the bot's queue is empty; fail if it never is.

        Read in this order nothing in flight is missed: a webhook counts as unanswered until the bot has
        stored it, and the bot's writes queue their webhooks before its delivery finishes; an API call
        still being answered (a slow one whose client gave up) may queue more; a webhook queued
        meanwhile changes the count read first."""
        deadline = time.monotonic() + timeout
        while True:
            queued, _ = self.sb.webhooks
            if (self.sb.in_flight == 0 and self.sb.webhooks[1] == 0 and self.bot.queue.depth() == 0
                    and self.sb.webhooks[0] == queued):
                return
            if time.monotonic() > deadline:
                pending = [r for r in self.bot.queue.list() if r["status"] not in ("done", "failed", "dead")]
                raise AssertionError(f"the bot did not settle in {timeout}s: {self.sb.webhooks[1]} webhooks"
                                     f" unanswered, deliveries not finished: {pending}")
            time.sleep(0.005)

    # -- what GitLab holds ---------------------------------------------------------------
    def issue(self, iid: int) -> dict:
        return self.sb.issue(self.pid, iid)

    def state(self, iid: int):
        """The block's state, verified with the bot's key (raises UnverifiedState if it does not). The key
        is the one the bot generated beside its queue file, as a bot without INCIDENT_BOT_STATE_KEY does."""
        issue = self.issue(iid)
        return read_block(issue["description"], ensure_state_key(self.cfg), state_scope(issue["id"]))

    def bot_notes(self, iid: int) -> list[dict]:
        return [n for n in self.sb.notes(self.pid, iid)
                if n["author"]["username"] == "incident-bot" and not n["system"]]

    def kinds(self, iid: int) -> list[str]:
        return [parse_marker(n["body"])["kind"] for n in self.bot_notes(iid)]

    def last_reply(self, iid: int) -> str:
        return self.bot_notes(iid)[-1]["body"]

    def reply(self, iid: int, kind: str) -> str:
        """The newest bot note of that kind."""
        return [n["body"] for n in self.bot_notes(iid) if parse_marker(n["body"])["kind"] == kind][-1]
