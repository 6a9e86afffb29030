"""`make demo` (`python -m sandbox.demo`): a whole SEV1 incident, played as people would, against a local GitLab sandbox.

The sandbox and the bot run in this process on free loopback ports; the people use python-gitlab
with their own tokens, so every step goes through real HTTP and real webhooks.
"""

from __future__ import annotations

import secrets
import textwrap
import threading
from datetime import timedelta

from bot.config import load_config
from bot.state import read_block
from bot.timeutil import utcnow

from . import DEVELOPER, MAINTAINER, Sandbox
from .demo_report import write_demo_report
from .local import LocalBot

PEOPLE = {"alice": "Alice Ng (CMOC)", "bob": "Bob Ortiz (SMOC)", "carol": "Carol Sato (IMOC)"}

# (minutes after detection, who, comment)
SCRIPT = [
    (0, "alice", "Customers report SSO logins failing. Declaring.\n\n"
              "/incident declare sev1\n"
              "summary: SAML SSO logins fail for customers on GitLab.com\n"
              "services: SSO, web sign-in\n"
              "impact_type: feature unavailability\n"
              "customers: about 120 organisations\n"
              "actions:\n  - Collecting failing tenant IDs\n  - Paging infrastructure on-call\n"),
    (3, "alice", "/incident cmoc me\n/incident smoc @bob\n/incident imoc @carol"),
    (9, "alice", "/incident update\n"
              "summary: Root cause narrowed to an expired IdP certificate cache\n"
              "progress:\n  - Identified the failing certificate cache\n  - Drafted the status page entry\n"
              "impact:\n  - All SAML tenants affected\n"
              "tickets: 48\n"
              "patterns: reports cluster in EMEA business hours\n"
              "next_steps:\n  - Roll the cache\n"),
    (18, "alice", "/incident update\n"
              "summary: Cache rolled; sign-ins recovering\n"
              "progress:\n  - Rolled the certificate cache on all nodes\n"
              "tickets: 73\n"
              "next_steps:\n  - Watch error rates for 30 minutes\n"
              "next: 20m\n"),
    (31, "alice", "/incident handoff apac\n"
              "summary: Sign-ins recovering after a cache roll; watching error rates.\n"
              "active_tickets: 61\npending_responses: 12\nescalated: 2\n"
              "priorities:\n  - Confirm recovery with the three largest tenants\n  - Send the resolution update\n"),
    (34, "bob", "/incident resources\n"
            "request_type: Update\ntickets: 61\nqueue_health: Strained\n"
            "amer: 4\nemea: 6\napac: 1\n"),
    (52, "alice", "/incident resolve\n"
              "summary: The IdP certificate cache was rolled; SSO sign-ins work again.\n"
              "tickets: 88\n"),
]


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

    def at(self, minutes: int) -> None:
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
            alice = sb.client("alice").projects.get(project["id"])
            issue = alice.issues.create({"title": "SSO logins failing",
                                         "description": "Reported by several customers via Zendesk."})
            print(f"incident-bot demo: sandbox {sb.url}, bot {bot.url}, issue #{issue.iid}\n")
            for minutes, who, text in SCRIPT:
                clock.at(minutes)
                first_line = next(line for line in text.splitlines() if line.startswith("/incident"))
                print(f"  +{minutes:2d} min  @{who}: {first_line}")
                sb.client(who).projects.get(project["id"], lazy=True).issues.get(issue.iid, lazy=True) \
                    .notes.create({"body": text})
                _settle(sb, bot)
            print()
            _print_issue(sb, project["id"], issue.iid)
            postmortem = read_block(sb.issue(project["id"], issue.iid)["description"], None).postmortem_iid
            if postmortem:
                print("\nThe postmortem the resolve opened:\n")
                _print_issue(sb, project["id"], postmortem)
            counts = sb.count_calls(user="incident-bot")
            print(f"\nGitLab API calls by the bot: {counts['reads']} reads, {counts['writes']} writes; "
                  f"webhooks delivered: {len(sb.deliveries)}; quick actions run by the bot: "
                  f"{sum(1 for q in sb.quick_actions if q.get('user') == 'incident-bot')}")
            write_demo_report(cfg, project["path_with_namespace"], clock)
    return 0


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
