"""`incident-bot report`: incidents played through the sandbox with the clock moved, then reported in every
format, and the figures checked against what was played."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.cadence_run import run_checks
from bot.cli import main
from bot.gitlab import GitLab
from bot.render import Renderer
from bot.report.run import build
from bot.statekey import ensure_state_key

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)  # a Monday, in EMEA's shift (07:00-15:00)
REPORT_AT = T0 + timedelta(days=10)


class Clock:
    """GitLab's and the bot's time, moved by the test."""

    def __init__(self, start: datetime):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, at: datetime) -> None:
        with self._lock:
            self.now = at


class Played:
    """The world and a clock; `at(day, minute)` moves time to T0 + day days + minute minutes."""

    def __init__(self, world, clock):
        self.w, self.clock = world, clock

    def at(self, day: int, minute: int) -> None:
        self.clock.set(T0 + timedelta(days=day, minutes=minute))

    def say(self, day, minute, iid, text, who="alice"):
        self.at(day, minute)
        self.w.comment(iid, text, who=who)

    def cadence(self, day, minute):
        self.at(day, minute)
        w = self.w
        gl = GitLab(w.cfg.gitlab_url, w.cfg.gitlab_token)
        report = run_checks(gl, w.cfg, Renderer(w.cfg.templates_dir), [str(w.pid)], self.clock(), dry_run=False)
        w.settle()
        return report


def _followups(world):
    return sorted((i for i in world.sb.issues(world.pid) if "postmortem::action" in i["labels"]),
                  key=lambda i: i["iid"])


def play(world, clock) -> dict:
    p = Played(world, clock)
    w = world
    ids = {}
    # A: SEV1, every update on time, a handoff before EMEA's shift ends, mitigated, resolved, two CSAT scores,
    # and a postmortem with four action items (one done on time, one done late, one overdue, one open).
    p.at(0, 0)
    a = ids["a"] = w.create_issue(title="SSO logins failing")
    p.say(0, 0, a, "/incident declare sev1")
    p.say(0, 3, a, "/incident cmoc me\n/incident smoc @bob")
    p.say(0, 9, a, "/incident update\nsummary: narrowing\ntickets: 12\n")
    p.say(0, 18, a, "/incident update\nsummary: fix rolling\ntickets: 30\n")
    p.say(0, 25, a, "/incident handoff amer\nsummary: stable\n")
    p.say(0, 27, a, "/incident update\nsummary: recovering\ntickets: 20\n")
    p.say(0, 35, a, "/incident mitigate")
    p.say(0, 50, a, "/incident resolve\nsummary: rolled back\n")
    p.say(0, 60, a, "/incident csat 4")
    p.say(0, 61, a, "/incident csat 100%\ncomment: quick and clear")
    pm = w.state(a).postmortem_iid
    desc = w.issue(pm)["description"]
    head, rest = desc.split("### Follow-up Actions\n", 1)
    rest = re.sub(r"^_to be filled in: add each action.*\n", "", rest, count=1, flags=re.M)
    p.at(0, 70)
    w.edit_issue(pm, description=head + "### Follow-up Actions\n- [ ] Roll the cache @bob due:2026-11-05\n"
                 "- [ ] Alert on certificates due:2026-11-04\n- [ ] Write a runbook due:2026-11-10\n"
                 "- [ ] Review paging\n" + rest)
    done_on_time, done_late = _followups(w)[:2]
    p.at(2, 0)
    w.edit_issue(done_on_time["iid"], state_event="close")
    p.at(4, 0)
    w.edit_issue(done_late["iid"], state_event="close")

    # B: SEV2 a day later: one late update, after the cadence run escalated to the SMOC.
    p.at(1, 0)
    b = ids["b"] = w.create_issue(title="Slow pipelines")
    p.say(1, 0, b, "/incident declare sev2")
    p.say(1, 2, b, "/incident smoc @bob")
    p.say(1, 10, b, "/incident update\nsummary: looking\n")  # due at 15: on time
    p.cadence(1, 41)  # due at 25, escalates at 40
    p.say(1, 47, b, "/incident update\nsummary: found it\n", who="bob")  # late; answers the escalation in 6 min
    p.say(1, 70, b, "/incident resolve\nsummary: fixed\n")

    # C: a SEV3 drill declared by carol, nobody in a role: the overdue reminder pages nobody.
    p.at(2, 0)
    c = ids["c"] = w.create_issue(title="Game day: status page down", who="carol")
    p.say(2, 0, c, "/incident declare sev3\ndrill: true\n", who="carol")
    ids["drill_reminders"] = p.cadence(2, 20)
    p.say(2, 30, c, "/incident resolve\nsummary: exercise over\n", who="carol")

    # D: SEV2 the next week, resolved, then reopened.
    p.at(7, 0)
    d = ids["d"] = w.create_issue(title="Webhooks delayed")
    p.say(7, 0, d, "/incident declare sev2")
    p.say(7, 10, d, "/incident update\nsummary: queue draining\n")
    p.say(7, 20, d, "/incident resolve\nsummary: drained\n")
    p.at(7, 30)
    w.edit_issue(d, state_event="reopen")

    # E: SEV3 whose block a person deleted: rebuilt from the bot's notes, reported as partial.
    p.at(8, 0)
    e = ids["e"] = w.create_issue(title="Search results stale")
    p.say(8, 0, e, "/incident declare sev3")
    p.say(8, 30, e, "/incident resolve\nsummary: reindexed\n")
    p.at(8, 40)
    w.edit_issue(e, description="Reported by customers.")
    p.at(10, 0)
    return ids


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    from world import World

    clock = Clock(T0)
    w = World(str(tmp_path_factory.mktemp("report")), clock=clock)
    try:
        ids = play(w, clock)
        yield w, clock, ids
    finally:
        w.close()


def _report(w, since=T0 - timedelta(days=1), until=REPORT_AT):
    gl = GitLab(w.cfg.gitlab_url, w.cfg.gitlab_token)
    return build(gl, w.cfg, str(w.pid), since, until, REPORT_AT)


def _rows(report):
    return {r.iid: r for r in report["rows"]}


def test_per_incident_figures_match_what_was_played(played):
    w, _, ids = played
    report = _report(w)
    rows = _rows(report)
    assert set(rows) == {ids["a"], ids["b"], ids["c"], ids["d"], ids["e"]}
    a, b, c, d, e = (rows[ids[k]] for k in "abcde")
    assert (a.severity, a.ttfc_min, a.ttm_min, a.ttr_min) == (1, 0.0, 35.0, 50.0)
    assert (a.updates, a.updates_on_time, a.updates_timed) == (3, 3, 3)
    assert (a.longest_gap_min, a.gap_over_cadence) == (15.0, False)  # mitigated at 35, resolved at 50
    assert (a.handoffs, a.handoffs_before_shift_end) == (1, 1) and a.regions == ["AMER", "EMEA"]
    assert a.cmoc_engaged and a.smoc_engaged and a.peak_tickets == 30
    assert (a.csat_pct, a.csat_count) == (90.0, 2)
    assert a.postmortem_iid and (a.actions_done_on_time, a.actions_done_late, a.actions_overdue, a.actions_open) \
        == (1, 1, 1, 1)
    assert (b.severity, b.ttr_min, b.updates, b.updates_on_time) == (2, 70.0, 2, 1)
    assert (b.longest_gap_min, b.gap_over_cadence) == (37.0, True)  # from 10 to 47, cadence 15
    assert (b.escalations, b.escalation_answer_min) == (1, [6.0])
    assert c.drill and not a.drill and c.ttr_min == 30.0
    # D was resolved at 20 and reopened at 30: active again, so not resolved; the stretch while it was
    # resolved is under no cadence, and the time since the reopening is a gap against the SEV2 cadence.
    assert d.reopened and d.status == "active" and (d.resolved, d.ttr_min) == (None, None) and not d.partial
    day7 = T0 + timedelta(days=7)
    assert d.timeline["resolved"] == [day7 + timedelta(minutes=20)]
    assert d.timeline["reopened"] == [day7 + timedelta(minutes=30)]
    assert [(g.start - day7, g.end - day7) for g in d.timeline["gaps"]] == [
        (timedelta(0), timedelta(minutes=10)), (timedelta(minutes=10), timedelta(minutes=20)),
        (timedelta(minutes=30), REPORT_AT - day7)]
    assert d.gap_over_cadence and not any(r.reopened for r in (a, b, c, e))
    assert e.partial and "no state block" in e.partial_reason and e.ttr_min == 30.0
    assert report["skipped"] == []


def test_summary_counts_drills_apart_and_measures_the_targets(played):
    w, _, ids = played
    s = _report(w)["summary"]
    assert (s.incidents, s.drills, s.partial) == (4, 1, 1)
    assert s.by_severity["SEV1"]["count"] == 1 and s.by_severity["SEV2"]["count"] == 2
    # D (SEV2) was reopened and is active again: it has no time to resolve yet, B's alone counts.
    assert s.by_severity["SEV2"]["ttr_min"] == {"n": 1, "median": 70.0, "p90": 70.0, "worst": 70.0}
    assert s.response_target_met_pct == 100.0
    assert s.cadence_kept_pct == round(100 * 5 / 6, 1)  # A 3/3, B 1/2, D 1/1 (the drill's are apart)
    assert s.actions_on_time_pct == round(100 / 3, 1)
    assert (s.csat_avg_pct, s.csat_met) == (90.0, False)  # the target is above 90%
    assert [wk["week"] for wk in s.weekly] == ["2026-W45", "2026-W46"]
    assert [wk["count"] for wk in s.weekly] == [2, 2] and s.drill_weeks == [{"week": "2026-W45", "drills": 1}]
    assert s.escalation_answer["worst"] == 6.0


def test_drill_notes_say_drill_and_its_reminder_pages_nobody_outside(played):
    w, _, ids = played
    notes = w.bot_notes(ids["c"])
    assert notes and all(n["body"].lstrip("\u200b").startswith("## DRILL") for n in notes), \
        [n["body"][:60] for n in notes]
    reminder = [n["body"] for n in notes if "kind=reminder" in n["body"]]
    assert reminder and "@carol" not in reminder[0]
    assert not any("DRILL" in n["body"] for n in w.bot_notes(ids["a"]))


def test_period_and_partial_incidents(played):
    w, _, ids = played
    week2 = _report(w, since=T0 + timedelta(days=7), until=REPORT_AT)
    assert set(_rows(week2)) == {ids["d"], ids["e"]}


def test_a_missing_block_whose_notes_cannot_be_read_is_skipped_with_the_reason(played):
    w, _, ids = played
    w.sb.inject_fault("GET", rf"/issues/{ids['e']}/notes", status=500, times=None)
    try:
        report = _report(w)
    finally:
        w.sb.clear_faults()
    assert ids["e"] not in _rows(report) and len(report["rows"]) == 4
    assert [s["iid"] for s in report["skipped"]] == [ids["e"]] and "500" in report["skipped"][0]["reason"]


def _cli(w, monkeypatch, *args) -> int:
    monkeypatch.setenv("GITLAB_URL", w.cfg.gitlab_url)
    monkeypatch.setenv("GITLAB_TOKEN", w.cfg.gitlab_token)
    monkeypatch.setenv("INCIDENT_BOT_STATE_KEY", ensure_state_key(w.cfg))
    return main(["report", "--project", "support/incidents", "--since", "2026-11-01", "--until", "2026-11-11",
                 "--now", REPORT_AT.isoformat(), *args])


def test_every_format_from_the_command(played, monkeypatch, tmp_path, capsys):
    w, _, ids = played
    assert _cli(w, monkeypatch, "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["iid"] for r in data["incidents"]} == {ids[k] for k in "abcde"}
    assert data["summary"]["drills"] == 1 and data["calls"] == {"listing": 2, "reads": 2}  # e: user + notes

    assert _cli(w, monkeypatch, "--format", "csv") == 0
    head, tail = capsys.readouterr().out.split("\n\n", 1)
    rows = list(csv.DictReader(io.StringIO(head)))
    assert {int(r["iid"]) for r in rows} == {ids[k] for k in "abcde"}
    assert [r["ttr_min"] for r in rows if int(r["iid"]) == ids["b"]] == ["70.0"]
    assert "cadence_kept_pct,83.3" in tail and "SEV2 ttr_min p90,70.0" in tail

    out = tmp_path / "report.md"
    assert _cli(w, monkeypatch, "--format", "md", "--out", str(out)) == 0
    md = out.read_text()
    assert "| Cadence kept (updates on time) | 83.3% | 100% |" in md
    assert f"#{ids['e']} Search results stale (partial)" in md and "(reopened)" in md
    assert "## Drills (simulation exercises)" in md
    for name in ("ttfc", "ttr", "cadence", "trend", "timeline"):
        assert f"](report-{name}.png)" in md
        assert (tmp_path / f"report-{name}.png").read_bytes().startswith(b"\x89PNG")

    html = tmp_path / "report.html"
    assert _cli(w, monkeypatch, "--format", "html", "--out", str(html)) == 0
    text = html.read_text()
    assert text.count("<svg") == 5  # inline: nothing is fetched when the file is viewed
    assert not re.search(r"\bsrc=|<link|@import|url\((?!#)|<script", text)
    assert "Game day: status page down" in text


def test_post_issue_is_idempotent_and_embeds_uploaded_charts(played, monkeypatch, capsys):
    w, _, _ = played
    before = len(w.sb.store.uploads)
    assert _cli(w, monkeypatch, "--post-issue", "--out", "/dev/null") == 0
    assert _cli(w, monkeypatch, "--post-issue", "--out", "/dev/null") == 0
    reports = [i for i in w.sb.issues(w.pid) if "incident-report" in i["labels"]]
    assert len(reports) == 1 and reports[0]["title"] == "Incident report 2026-11-01 to 2026-11-11"
    uploads = w.sb.store.uploads[before:]
    assert len(uploads) == 10 and all(u["content"].startswith(b"\x89PNG") for u in uploads)
    assert all(f"]({u['url']})" in reports[0]["description"] for u in uploads[5:])
    err = capsys.readouterr().err
    assert "created report issue" in err and "updated report issue" in err


def test_csat_refuses_what_is_not_a_score(played):
    w, _, ids = played
    w.comment(ids["d"], "/incident csat great")
    assert "is not a CSAT score" in w.last_reply(ids["d"]) and "1 to 5" in w.last_reply(ids["d"])
    assert w.state(ids["d"]).csat == []


# -- the HTML as a person sees it: a real headless browser ---------------------------------------
CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
PROBE = """<script>
// What the browser drew: per chart, its size on the page and the drawn elements of each kind matplotlib
// writes (scatter points, lines, bars and patches), counting only those with a non-empty box.
const drawn = (svg, prefix) => [...svg.querySelectorAll(`g[id^="${prefix}"] path, g[id^="${prefix}"] use`)]
  .filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length;
const charts = [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg'); const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {id: f.id, width: r.width, height: r.height, points: svg ? drawn(svg, 'PathCollection') : 0,
          lines: svg ? drawn(svg, 'line2d') : 0, patches: svg ? drawn(svg, 'patch') : 0};
});
const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(charts);
document.body.appendChild(pre);
</script>"""


def _chromium(*args: str) -> str:
    run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--virtual-time-budget=5000", *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _probe(w, monkeypatch, tmp_path, name: str, *args: str) -> dict[str, dict]:
    page = tmp_path / f"{name}.html"
    assert _cli(w, monkeypatch, "--format", "html", "--out", str(page), *args) == 0
    probed = tmp_path / f"{name}-probed.html"  # the report as it is, and a script after it that measures
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium("--dump-dom", probed.as_uri())
    charts = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1))
    assert [c["id"] for c in charts] == ["chart-ttfc", "chart-ttr", "chart-cadence", "chart-trend", "chart-timeline"]
    return {c["id"]: c for c in charts}


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_every_chart_is_drawn_in_a_real_browser(played, monkeypatch, tmp_path):
    w, _, _ = played
    by = _probe(w, monkeypatch, tmp_path, "report")
    # The same charts for a period without incidents: axes and a "no incident" text, nothing else.
    empty = _probe(w, monkeypatch, tmp_path, "empty", "--since", "2026-10-01", "--until", "2026-10-02")
    for name, c in by.items():
        assert c["width"] > 200 and c["height"] > 100, c
        drawn = c["points"] + c["lines"] + c["patches"]
        assert drawn > empty[name]["points"] + empty[name]["lines"] + empty[name]["patches"], (c, empty[name])
    assert by["chart-ttfc"]["points"] >= 4 and by["chart-ttr"]["points"] >= 4, by  # one per real incident
    assert by["chart-cadence"]["patches"] >= empty["chart-cadence"]["patches"] + 3, by  # a bar per incident
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,1900", (tmp_path / "report.html").as_uri())
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[1] == 1200 and (pixels[..., :3].mean(axis=2) < 0.9).mean() > 0.02  # not a blank page
    if os.environ.get("REPORT_SCREENSHOT"):  # how docs/report-screenshot.png was made
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])


def test_a_tampered_block_is_rebuilt_from_notes_and_marked_partial(played):
    w, _, ids = played
    with w.sb.lock:
        issue = w.sb.store.issue_by_iid(w.pid, ids["a"])
        before = issue["description"]
        issue["description"] = before.replace('"severity":1', '"severity":3')  # the signature no longer matches
    try:
        rows = _rows(_report(w))
    finally:
        with w.sb.lock:
            issue["description"] = before
    a = rows[ids["a"]]
    assert a.partial and "does not verify" in a.partial_reason
    assert a.severity == 1 and a.ttr_min == 50.0  # from the bot's notes and labels, not the edited block
    assert len(rows) == 5


def test_scores_and_percentiles():
    from bot.exercise import csat_percent
    from bot.report.summary import percentile, stats

    assert csat_percent("4") == (80.0, "4/5") and csat_percent("4/5") == (80.0, "4/5")
    assert csat_percent("92%") == (92.0, "92%") and csat_percent("92") == (92.0, "92%")
    assert csat_percent("0") is None and csat_percent("101%") is None and csat_percent("great") is None
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile(list(range(1, 11)), 90) == 9
    assert stats([None, 10.0]) == {"n": 1, "median": 10.0, "p90": 10.0, "worst": 10.0}
    assert stats([]) == {"n": 0, "median": None, "p90": None, "worst": None}


def test_a_confidential_incident_is_counted_but_its_title_is_not_shown(played, monkeypatch, tmp_path, capsys):
    w, _, ids = played
    with w.sb.lock:
        issue = w.sb.store.issue_by_iid(w.pid, ids["b"])
        issue["confidential"] = True
    try:
        for fmt in ("md", "html", "json", "csv"):
            assert _cli(w, monkeypatch, "--format", fmt) == 0
            out = capsys.readouterr().out
            assert "Slow pipelines" not in out and "(confidential issue)" in out, fmt
            assert "SSO logins failing" in out
    finally:
        with w.sb.lock:
            issue["confidential"] = False
