"""`make demo` plays a whole SEV1 incident and prints the issue readably."""

from sandbox.demo import run_demo


def test_demo_plays_a_whole_incident(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_BOT_DEMO_REPORT_DIR", str(tmp_path))
    assert run_demo() == 0
    out = capsys.readouterr().out
    for heading in ("## Incident #1 - SSO logins failing\n", " - UPDATE #1", " - UPDATE #2", " - HANDOFF",
                    " - SUPPORT RESOURCES", " - RESOLVED", " - SUPPORT SUMMARY"):
        assert heading in out, heading
    assert "[closed]" in out and "| Status | Resolved |" in out
    assert "0 hours 52 minutes" in out  # the demo's own clock: detection to resolution
    assert "quick actions run by the bot: 0" in out
    # It ends with the incident's report, in HTML and Markdown, and says where.
    assert f"  {tmp_path / 'report.html'}\n  {tmp_path / 'report.md'}" in out
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert "| SEV1 | 1 |" in (tmp_path / "report.md").read_text()
