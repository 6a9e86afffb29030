"""`--post-issue`: one report issue per period, created or updated (labelled `incident-report`), with the
charts uploaded through GitLab's project uploads API and embedded. Running it again updates the same
issue: it is found by its period marker among the issues the bot wrote with that label."""

from __future__ import annotations

from datetime import date
from typing import Callable

from ..gitlab import GitLab
from ..markers import report_marker, report_period
from .charts import Chart

LABEL = "incident-report"


def post_report(gl: GitLab, project: str, since: date, until: date, charts: list[Chart],
                markdown: Callable[[dict[str, str]], str]) -> tuple[int, str | None, bool]:
    """(iid, web_url, created?). `markdown(images)` renders the report with the uploaded charts. The
    period is the days from `since` to `until`, both included."""
    me = gl.current_user()["username"]
    period = f"{since.isoformat()}..{until.isoformat()}"
    existing = next((i for i in gl.iter_issues(project, [LABEL], state="all")
                     if report_period(i.description) == period and i.author.get("username") == me), None)
    images = {c.name: gl.upload(project, f"{c.name}.png", c.png())["url"] for c in charts}
    body = markdown(images).rstrip() + "\n\n" + report_marker(since, until) + "\n"
    title = f"Incident report {since.isoformat()} to {until.isoformat()}"
    if existing is not None:
        issue = gl.update_issue(existing.project_id, existing.iid, description=body, title=title)
        return issue.iid, issue.web_url, False
    issue = gl.create_issue(project, title=title, description=body, labels=[LABEL])
    return issue.iid, issue.web_url, True
