"""The end of `make demo`: the report of the incident it played, as HTML and Markdown, and where it is."""

from __future__ import annotations

import os
from datetime import timedelta

from bot.config import Config
from bot.gitlab import GitLab
from bot.report.run import build, charts_of, write_report

OUT_DIR = "demo-report"  # under the current directory; INCIDENT_BOT_DEMO_REPORT_DIR to put it elsewhere


def write_demo_report(cfg: Config, project: str, clock) -> list[str]:
    """Write report.html and report.md (with its PNG charts) for the day the demo played; print the paths."""
    folder = os.path.abspath(os.environ.get("INCIDENT_BOT_DEMO_REPORT_DIR", OUT_DIR))
    os.makedirs(folder, exist_ok=True)
    now = clock()
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    report = build(gl, cfg, project, now - timedelta(days=1), now + timedelta(minutes=1), now)
    charts = charts_of(report, cfg)
    paths = []
    try:
        for fmt in ("html", "md"):
            paths.append(os.path.join(folder, f"report.{fmt}"))
            write_report(report, fmt, paths[-1], charts)
    finally:
        for chart in charts:
            chart.close()
    s = report["summary"]
    print(f"\nThe incident report ({s.incidents} incident, cadence kept {s.cadence_kept_pct}%):")
    for path in paths:
        print(f"  {path}")
    return paths
