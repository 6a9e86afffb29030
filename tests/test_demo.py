"""`make demo` plays a whole SEV1 incident and prints the issue readably."""

from sandbox.demo import run_demo


def test_demo_plays_a_whole_incident(capsys):
    assert run_demo() == 0
    out = capsys.readouterr().out
    for heading in ("## Incident #1 - SSO logins failing\n", " - UPDATE #1", " - UPDATE #2", " - HANDOFF",
                    " - SUPPORT RESOURCES", " - RESOLVED", " - SUPPORT SUMMARY"):
        assert heading in out, heading
    assert "[closed]" in out and "| Status | Resolved |" in out
    assert "0 hours 52 minutes" in out  # the demo's own clock: detection to resolution
    assert "quick actions run by the bot: 0" in out
