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
    assert "(scheduled check) reminded: overdue" in out  # the CMOC was late once
    assert "**Incident #1 is active again** (reopened by @bob)" in out
    # The ticked action item closed its follow-up; the other stays open.
    assert "follow-up #3 [closed] Alert on IdP certificate expiry" in out
    assert "follow-up #4 [opened] Add a runbook" in out
    # The postmortem was filled from what the incident recorded.
    assert "- Common workarounds provided: Sign in with a personal access token" in out
    # Measured on the demo's own clock: detection to the final resolution.
    assert "time to resolve: 1 hour 21 minutes" in out or "time to resolve: 1 hour 20 minutes" in out
    counts = re.search(r"On the incident: (\d+) bot notes, (\d+) description edits", out)
    assert counts and int(counts.group(1)) > 0 and int(counts.group(2)) > 0
    assert "quick actions run by the bot: 0" in out
    # It ends with the incident's report, in HTML and Markdown, and says where.
    assert f"  {tmp_path / 'report.html'}\n  {tmp_path / 'report.md'}" in out
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert "| SEV1 | 1 |" in (tmp_path / "report.md").read_text()
