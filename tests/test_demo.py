"""`make demo` plays a whole SEV1 incident and prints the issue readably."""

import re

from sandbox.demo import run_demo


def test_demo_plays_a_whole_incident(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_BOT_DEMO_REPORT_DIR", str(tmp_path))
    assert run_demo() == 0
    out = capsys.readouterr().out
    for heading in ("## Incident #1 - SSO logins failing\n", " - UPDATE #1", " - UPDATE #2", " - UPDATE #3",
                    " - HANDOFF", " - SUPPORT RESOURCES", " - RESOLVED", " - SUPPORT SUMMARY",
                    " - CUSTOMER IMPACT REPORT", " - TECHNICAL TO SUPPORT HANDOFF"):
        assert heading in out, heading
    assert "[closed]" in out and "| Status | Resolved |" in out
    # The claim one second after the declare, its webhook built before the bot labelled the issue, is answered.
    assert "  + 0:01  @alice: /incident cmoc me\n" in out
    assert "answered all the same: CMOC @alice\n" in out
    assert "@alice is now the CMOC" in out and "DROPPED" not in out and "claiming again" not in out
    # The CMOC is late from +19 to +42: one reminder in each missed interval, none twice, none after the update.
    checks = re.findall(r"^  \+(\d+):00  \(scheduled check\) (reminded: [^\n]*|nothing due)", out, re.M)
    assert checks == [("20", "reminded: overdue"), ("25", "nothing due"),
                      ("30", "reminded: escalation (2 intervals missed)"), ("35", "nothing due"),
                      ("40", "reminded: escalation (3 intervals missed)"), ("45", "nothing due")]
    for missed, again in (("2", "14:44"), ("3", "14:54")):  # to the SMOC, the IMOC named, each interval
        assert (f"({missed} intervals of 10 minutes missed). Escalating to @bob. The IMOC is @carol. "
                f"Please post one with `/incident update`, or hand the CMOC role to someone who can. "
                f"Without an update this escalates again at ") in out and f" {again} UTC." in out
    # The region hands off.
    assert "  +46:00  @alice: /incident handoff apac\n" in out and "region::apac" in out
    # Ticking the action item closed its follow-up at once; the other stays open.
    assert "  +65:00  @carol ticks in the postmortem: Alert on IdP certificate expiry" in out
    assert "          -> follow-up #3 is closed\n" in out
    assert "follow-up #3 [closed] Alert on IdP certificate expiry" in out
    assert "follow-up #4 [opened] Add a runbook" in out
    # The postmortem was filled from what the incident recorded.
    assert "- Common workarounds provided: Sign in with a personal access token" in out
    # Reopened, active again with its history, and resolved again.
    assert "  +70:00  @bob reopens the issue\n          -> the incident is active again, its history kept\n" in out
    assert "**Incident #1 is active again** (reopened by @bob); it had been resolved at " in out
    assert "  +81:00  @alice: /incident resolve\n" in out
    # Measured on the demo's own clock: reported at -5 (`detected: 5m ago`), Initial Status Update at the
    # declare (0:00, or 0:01 when the bot answers it after the claim), resolved again at +81.
    assert ("\nTime to first communication: 0 hours 5 minutes; time to resolve: 1 hour 26 minutes\n") in out
    counts = re.search(r"On the incident: (\d+) bot notes, (\d+) description edits", out)
    assert counts and int(counts.group(1)) > 0 and int(counts.group(2)) > 0
    assert "quick actions run by the bot: 0" in out
    # It ends with the incident's report, in HTML and Markdown, and says where.
    assert f"  {tmp_path / 'report.html'}\n  {tmp_path / 'report.md'}" in out
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert "| SEV1 | 1 |" in (tmp_path / "report.md").read_text()
