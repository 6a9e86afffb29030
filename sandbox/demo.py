"""`make demo` (`python -m sandbox.demo`): a whole SEV1 incident, played as people would, against a local GitLab sandbox.

The script (sandbox/demo_script.py): a role claimed one second after the declare, a CMOC late once with
the scheduled check reminding at every interval until the update, a regional handoff, an action item
ticked in the postmortem (its follow-up closes), the incident reopened and resolved again. At the end
the demo prints the measured time to first communication and time to resolve, and how many notes and
description edits the bot made on the incident.

The sandbox and the bot run in this process on free loopback ports; the people use python-gitlab
with their own tokens, so every step goes through real HTTP and real webhooks.
"""

from __future__ import annotations

import re
import secrets
import textwrap
import threading
from datetime import timedelta

from bot.cadence_run import run_checks
from bot.config import load_config
from bot.gitlab import GitLab
from bot.render import Renderer
from bot.state import read_block, state_scope
from bot.statekey import ensure_state_key
from bot.timeutil import format_duration, utcnow

from . import DEVELOPER, MAINTAINER, Sandbox
from .demo_report import write_demo_report
from .demo_script import REPORTED, SCRIPT
from .local import LocalBot

PEOPLE = {"alice": "Alice Ng (CMOC)", "bob": "Bob Ortiz (SMOC)", "carol": "Carol Sato (IMOC)"}

def _world(sb: Sandbox, secret: str):
    bot = sb.add_user("incident-bot", name="Incident Bot", bot=True)
    project = sb.add_project("support/incidents", name="Support incidents")
    sb.add_member(project["id"], bot["id"], MAINTAINER)
    for username, name in PEOPLE.items():
        user = sb.add_user(username, name=name)
        sb.add_member(project["id"], user["id"], DEVELOPER)
    return bot, project


class DemoClock:
    """The incident plays out over an hour of its own time, in a few seconds of ours."""

    def __init__(self):
        self.start = utcnow().replace(hour=14, minute=5, second=0, microsecond=0)  # AMER's shift
        self.offset = timedelta()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self.start + self.offset

    def at(self, minutes: float) -> None:
        with self._lock:
            self.offset = timedelta(minutes=minutes)


def run_demo() -> int:
    secret = secrets.token_hex(16)
    clock = DemoClock()
    with Sandbox(clock=clock) as sb:
        bot_user, project = _world(sb, secret)
        cfg = load_config(env={"GITLAB_URL": sb.url, "GITLAB_TOKEN": bot_user["token"],
                               "INCIDENT_BOT_WEBHOOK_SECRET": secret})
        # Shifts that put the incident in AMER at first, whatever the real time is.
        cfg.data["regions"] = {"APAC": {"start": "22:00", "end": "06:00"}, "EMEA": {"start": "06:00", "end": "14:00"},
                               "AMER": {"start": "14:00", "end": "22:00"}}
        with LocalBot(cfg, clock=clock) as bot:
            sb.add_hook(project["id"], bot.webhook_url, token=secret)
            play = Play(sb, bot, cfg, clock, project["id"], bot_user["token"])
            play.run()
            play.report()
            write_demo_report(cfg, project["path_with_namespace"], clock)
    return 0


class Play:
    """The demo's incident, step by step (sandbox/demo_script.py), and what it measured."""

    def __init__(self, sb: Sandbox, bot: LocalBot, cfg, clock: DemoClock, project_id: int, token: str):
        self.sb, self.bot, self.cfg, self.clock, self.pid = sb, bot, cfg, clock, project_id
        self.gl = GitLab(sb.url, token)
        clock.at(REPORTED)
        self.iid = sb.client("alice").projects.get(project_id).issues.create(
            {"title": "SSO logins failing", "description": "Reported by several customers via Zendesk."}).iid
        print(f"incident-bot demo: sandbox {sb.url}, bot {bot.url}, issue #{self.iid}\n")
        print(f"  -{-REPORTED:2d}:00  @alice opens #{self.iid} from customers' reports")

    def issue(self, who: str, iid: int):
        return self.sb.client(who).projects.get(self.pid, lazy=True).issues.get(iid)

    def state(self):
        issue = self.sb.issue(self.pid, self.iid)
        return read_block(issue["description"], ensure_state_key(self.cfg), state_scope(issue["id"]))

    def run(self) -> None:
        no_settle = {0}  # the claim one second after the declare is posted before the bot answers it
        for minutes, who, action, text in SCRIPT:
            self.clock.at(minutes)
            when = f"+{int(minutes):2d}:{round(minutes % 1 * 60):02d}"
            getattr(self, "do_" + action)(when, who, text)
            if minutes not in no_settle:
                _settle(self.sb, self.bot)
            if who == "alice" and text == "/incident cmoc me":
                self.check_claim()

    def do_comment(self, when: str, who: str, text: str) -> None:
        first = next(line for line in text.splitlines() if line.startswith("/incident"))
        print(f"  {when}  @{who}: {first}")
        self.issue(who, self.iid).notes.create({"body": text})

    def check_claim(self) -> None:
        """The claim's webhook was built before the bot labelled the issue; the bot decides from the issue
        as it is when the delivery runs, so the claim is answered all the same."""
        hook = next(d for d in reversed(self.sb.deliveries)
                    if d["payload"].get("object_attributes", {}).get("note") == "/incident cmoc me")
        carried = [label["title"] for label in hook["payload"].get("labels", [])]
        before = "sent before the bot labelled the issue" if "incident" not in carried else "sent after the labels"
        print(f"          -> its webhook was {before} (labels: {', '.join(carried) or 'none'}); "
              f"answered all the same: CMOC @{self.state().holder('cmoc')}")

    def do_cadence(self, when: str, who: str, text: str) -> None:
        report = run_checks(self.gl, self.cfg, Renderer(self.cfg.templates_dir), [str(self.pid)], self.clock(),
                            dry_run=False)
        row = next((r for r in report.rows if r.iid == self.iid), None)
        if row and row.reminded:
            missed = re.search(r"\((\d+) intervals of \d+ minutes missed\)", row.note or "")
            print(f"  {when}  (scheduled check) reminded: {', '.join(row.reminded)}"
                  f"{f' ({missed.group(1)} intervals missed)' if missed else ''}")
            return
        reasons = [s["reason"] for s in (row.skipped if row else []) if s["kind"] in ("overdue", "escalation")]
        # "already reminded" says this interval's reminder went out; otherwise say when the next falls due
        why = next((r for r in reasons if r.startswith("already reminded")), reasons[0] if reasons else "")
        print(f"  {when}  (scheduled check) nothing due{f': {why}' if why else ''}")

    def do_reopen(self, when: str, who: str, text: str) -> None:
        print(f"  {when}  @{who} reopens the issue")
        issue = self.issue(who, self.iid)
        issue.state_event = "reopen"
        issue.save()
        _settle(self.sb, self.bot)
        print(f"          -> the incident is {self.state().status} again, its history kept")

    def postmortem_iid(self) -> int | None:
        state = self.state()
        return state.postmortem_iid if state else None

    def do_actions(self, when: str, who: str, text: str) -> None:
        print(f"  {when}  @{who} writes two action items into the postmortem #{self.postmortem_iid()}")
        pm = self.issue(who, self.postmortem_iid())
        head, rest = pm.description.split("### Follow-up Actions\n", 1)
        rest = rest.split("\n", 3)[3] if rest.startswith("<!--") else rest  # after the two hint comments
        rest = rest.split("\n", 1)[1]  # the "to be filled in" line
        pm.description = head + "### Follow-up Actions\n" + text + "\n" + rest
        pm.save()

    def do_tick(self, when: str, who: str, text: str) -> None:
        pm = self.issue(who, self.postmortem_iid())
        line = next(line for line in pm.description.split("\n") if line.startswith("- [ ] "))
        print(f"  {when}  @{who} ticks in the postmortem: {line[6:]}")
        pm.description = pm.description.replace(line, "- [x] " + line[6:], 1)
        pm.save()
        _settle(self.sb, self.bot)
        followup = int(re.search(r"→ #(\d+)", line).group(1))
        print(f"          -> follow-up #{followup} is {self.sb.issue(self.pid, followup)['state']}")

    def report(self) -> None:
        print()
        _print_issue(self.sb, self.pid, self.iid)
        pm = self.postmortem_iid()
        if pm:
            print("\nThe postmortem the resolve opened:\n")
            _print_issue(self.sb, self.pid, pm)
        for issue in self.sb.issues(self.pid):
            if "postmortem::action" in issue["labels"]:
                print(f"follow-up #{issue['iid']} [{issue['state']}] {issue['title']}")
        state = self.state()
        print(f"\nTime to first communication: {_span(state.detected_at, state.initial_update_at)}; "
              f"time to resolve: {_span(state.detected_at, state.resolved_at)}")
        notes = self.sb.notes(self.pid, self.iid)
        bot_notes = sum(1 for n in notes if not n["system"] and n["author"]["username"] == "incident-bot")
        edits = sum(1 for n in notes if n["system"] and n["body"] == "changed the description")
        print(f"On the incident: {bot_notes} bot notes, {edits} description edits (\"changed the description\")")
        counts = self.sb.count_calls(user="incident-bot")
        print(f"GitLab API calls by the bot: {counts['reads']} reads, {counts['writes']} writes; "
              f"webhooks delivered: {len(self.sb.deliveries)}; quick actions run by the bot: "
              f"{sum(1 for q in self.sb.quick_actions if q.get('user') == 'incident-bot')}")


def _span(start, end) -> str:
    return format_duration(end - start) if start and end else "unknown"


def _settle(sb: Sandbox, bot: LocalBot) -> None:
    for _ in range(3):  # the bot's own changes send webhooks too; wait until both sides are quiet
        sb.wait_idle(15)
        bot.wait_idle(15)
    sb.wait_quiet(quiet=0.2, timeout=15)
    bot.wait_idle(15)


def _print_issue(sb: Sandbox, project_id: int, iid: int) -> None:
    issue = sb.issue(project_id, iid)
    rule = "=" * 78
    print(rule)
    print(f"#{iid} {issue['title']}  [{issue['state']}]  labels: {', '.join(sorted(issue['labels']))}")
    print(f"assignees: {', '.join('@' + a['username'] for a in issue['assignees']) or '-'}")
    print(rule)
    print(issue["description"])
    for note in sb.notes(project_id, iid):
        if note["system"]:
            print(f"\n  · {note['author']['username']} {note['body']}")
            continue
        print(f"\n--- @{note['author']['username']} at {note['created_at']}{' (internal)' if note.get('internal') else ''}")
        print(textwrap.indent(note["body"].rstrip(), "  "))
    print(rule)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_demo())
