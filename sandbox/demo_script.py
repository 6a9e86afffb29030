"""The SEV1 the demo plays (`sandbox/demo.py`): who does what, and when, in minutes after the declare.

Customers reported the failure five minutes before the declare (the issue is opened then, and the
declare says `detected: 5m ago`), so the time to first communication is 5 minutes, not 0.

Each step is (minute after the declare, who, action, text). Actions: `comment` (a note on the incident),
`cadence` (one pass of `incident-bot cadence`, as the scheduled pipeline would run it), `reopen` (the
person reopens the issue in GitLab), `actions` (the person writes action items into the postmortem),
`tick` (the person ticks the first action item there).
"""

from __future__ import annotations

REPORTED = -5  # the customers' reports open the issue, five minutes before the declare

DECLARE = ("Customers report SSO logins failing. Declaring.\n\n"
           "/incident declare sev1\n"
           "summary: SAML SSO logins fail for customers on GitLab.com\n"
           "detected: 5m ago\n"
           "services: SSO, web sign-in\n"
           "impact_type: feature unavailability\n"
           "customers: about 120 organisations\n"
           "actions:\n  - Collecting failing tenant IDs\n  - Paging infrastructure on-call\n")

SCRIPT: list[tuple[float, str, str, str]] = [
    (0, "alice", "comment", DECLARE),
    # One second later, before the bot has labelled the issue: its webhook carries the labels from before
    # the declare, and the bot must still answer it (issue 15, item 1).
    (1 / 60, "alice", "comment", "/incident cmoc me"),
    (3, "bob", "comment", "/incident smoc me\n/incident imoc @carol"),
    (6, "bob", "comment", "/incident impact\n"
                          "summary: SAML tenants cannot sign in; password sign-in works.\n"
                          "customers: 120\nsegments: Enterprise (SAML SSO)\nregions: AMER and EMEA\n"
                          "issues:\n  - SSO redirect loops - 31 reports\n"),
    (9, "alice", "comment", "/incident update\n"
                            "summary: Root cause narrowed to an expired IdP certificate cache\n"
                            "progress:\n  - Identified the failing certificate cache\n"
                            "impact:\n  - All SAML tenants affected\n"
                            "tickets: 48\n"
                            "next_steps:\n  - Roll the cache\n"),
    (12, "carol", "comment", "/incident tech-handoff\n"
                             "summary: An expired certificate cache breaks SAML assertions.\n"
                             "workaround: Sign in with a personal access token for Git and API use\n"
                             "scope: broad\n"),
    # The next update is due at +19 (SEV1: every 10 minutes); the CMOC is late until +42. The scheduled
    # check runs every five minutes: a reminder at +20, an escalation at +30 and again at +40, once each.
    (20, "-", "cadence", ""),
    (25, "-", "cadence", ""),
    (30, "-", "cadence", ""),
    (35, "-", "cadence", ""),
    (40, "-", "cadence", ""),
    (42, "alice", "comment", "/incident update\n"
                             "summary: Cache rolled; sign-ins recovering\n"
                             "progress:\n  - Rolled the certificate cache on all nodes\n"
                             "tickets: 73\n"
                             "next_steps:\n  - Watch error rates for 30 minutes\n"),
    (45, "-", "cadence", ""),
    (46, "alice", "comment", "/incident handoff apac\n"
                             "summary: Sign-ins recovering after a cache roll; watching error rates.\n"
                             "active_tickets: 61\npending_responses: 12\nescalated: 2\n"
                             "priorities:\n  - Confirm recovery with the three largest tenants\n"),
    (48, "bob", "comment", "/incident resources\n"
                           "request_type: Update\ntickets: 61\nqueue_health: Strained\n"
                           "amer: 4\nemea: 6\napac: 1\n"),
    (52, "alice", "comment", "/incident resolve\n"
                             "summary: The IdP certificate cache was rolled; SSO sign-ins work again.\n"
                             "tickets: 88\n"),
    (60, "bob", "actions", "- [ ] Alert on IdP certificate expiry @carol due:2026-12-15\n"
                           "- [ ] Add a runbook for certificate cache rolls @alice\n"),
    (65, "carol", "tick", ""),
    # Sign-ins fail again for some tenants: the incident is reopened, and resolved again.
    (70, "bob", "reopen", ""),
    (74, "alice", "comment", "/incident update\nsummary: A second cache node kept the old certificate; rolling it.\n"
                             "tickets: 91\n"),
    (81, "alice", "comment", "/incident resolve\n"
                             "summary: Every cache node now holds the new certificate; SSO sign-ins work.\n"
                             "tickets: 95\n"),
]
