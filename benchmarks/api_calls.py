"""GitLab API reads and writes the bot makes for each command, counted in the sandbox.

    PYTHONPATH=.:tests .venv/bin/python benchmarks/api_calls.py

Each row is one comment (or person action) on an incident in a steady state; the counts are the
bot user's calls only, from the webhook to the last write.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from world import World  # noqa: E402

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


def main() -> None:
    w = World(tempfile.mkdtemp())
    try:
        iid = w.create_issue()
        print(f"{'command':30} {'reads':>5} {'writes':>6}")
        for name, text in STEPS:
            if text is None:
                region = w.state(iid).region
                text = "/incident handoff " + ("apac" if region != "APAC" else "emea")
            w.sb.reset_calls()
            w.comment(iid, text)
            counts = w.sb.count_calls(user="incident-bot")
            print(f"{name:30} {counts['reads']:>5} {counts['writes']:>6}")
        other = w.create_issue(title="second")
        w.sb.reset_calls()
        w.edit_issue(other, labels=["incident", "severity::2"])
        counts = w.sb.count_calls(user="incident-bot")
        print(f"{'declare (person adds label)':30} {counts['reads']:>5} {counts['writes']:>6}")
        w.sb.reset_calls()
        w.edit_issue(other, state_event="close")
        counts = w.sb.count_calls(user="incident-bot")
        print(f"{'resolve (person closes)':30} {counts['reads']:>5} {counts['writes']:>6}")
        w.sb.reset_calls()
        w.comment(other, "just a comment, no command")
        counts = w.sb.count_calls(user="incident-bot")
        print(f"{'plain comment':30} {counts['reads']:>5} {counts['writes']:>6}")
        w.sb.reset_calls()
        w.comment(other, "/incident status", who="rita")
        counts = w.sb.count_calls(user="incident-bot")
        print(f"{'refused (Reporter)':30} {counts['reads']:>5} {counts['writes']:>6}")
    finally:
        w.close()


if __name__ == "__main__":
    main()
