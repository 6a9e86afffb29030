"""Read the period's incidents and their follow-ups from GitLab (through bot/gitlab.py) into rows.

Calls: one listing per 100 incidents (label `incident`, open and closed, updated since the period
began), one listing per 100 follow-up issues (label `postmortem::action`), and one read of the notes per
incident whose block is missing or does not verify (its figures are rebuilt from the bot's notes and
the row is marked partial). Anything that cannot be read is a skipped row with the reason: one bad
incident never fails the report.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime

from ..config import Config
from ..gitlab import GitLab, Issue
from ..markers import action_of
from ..rebuild import rebuild_state
from ..state import BlockError, UnverifiedState, read_block, state_scope
from ..statekey import key_path
from ..timeutil import iso, parse_day
from .figures import Action, IncidentRow, incident_row

PAGE = 100
CONFIDENTIAL = "(confidential issue)"


@dataclass
class Collected:
    rows: list[IncidentRow] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"iid", "reason"}
    calls: dict[str, int] = field(default_factory=lambda: {"listing": 0, "reads": 0})
    verified: bool = True  # False: no state key, blocks were read without checking their signature


def state_key(cfg: Config) -> str | None:
    """The bot's key if this machine has it (environment, or the file a keyless bot generated); the
    report never generates one."""
    if cfg.state_key:
        return cfg.state_key
    path = key_path(cfg)
    if os.path.exists(path):
        with open(path) as fh:
            return fh.read().strip() or None
    return None


def _listing(gl: GitLab, out: Collected, project: str, labels: list[str], **query) -> list[Issue]:
    malformed: list = []
    issues = list(gl.iter_issues(project, labels, malformed=malformed, **query))
    out.calls["listing"] += max(1, math.ceil((len(issues) + len(malformed)) / PAGE))
    for iid, reason in malformed:
        out.skipped.append({"iid": iid, "reason": f"GitLab sent it in a shape the report cannot read: {reason}"})
    return issues


def _actions(followups: list[Issue]) -> dict[int, list[Action]]:
    """Follow-up issues by the postmortem they came from (their marker names it)."""
    by_postmortem: dict[int, list[Action]] = {}
    for issue in followups:
        ref = action_of(issue.description)
        if ref is None:
            continue
        due = parse_day(issue.due_date) if issue.due_date else None
        closed = issue.closed_at if issue.state == "closed" else None
        by_postmortem.setdefault(ref[1], []).append(Action(issue.iid, due, closed))
    return by_postmortem


class _Notes:
    """The bot's username, read once, only when an incident has to be rebuilt from its notes."""

    def __init__(self, gl: GitLab, out: Collected):
        self.gl, self.out, self._me = gl, out, None

    def rebuild(self, cfg: Config, issue: Issue):
        if self._me is None:
            self._me = self.gl.current_user()["username"]
            self.out.calls["reads"] += 1
        notes = self.gl.all_notes(issue.project_id, issue.iid)
        self.out.calls["reads"] += 1
        return rebuild_state(issue, notes, cfg, self._me)


def collect(gl: GitLab, cfg: Config, project: str, since: datetime, until: datetime, now: datetime) -> Collected:
    out = Collected()
    key = state_key(cfg)
    out.verified = key is not None
    incidents = _listing(gl, out, project, [cfg.labels["incident"]], state="all", updated_after=iso(since))
    actions = _actions(_listing(gl, out, project, [cfg.labels["postmortem_action"]], state="all"))
    notes = _Notes(gl, out)
    for issue in incidents:
        try:
            row = _row(cfg, issue, key, notes, actions, now)
        except Exception as exc:  # one incident must not fail the report
            out.skipped.append({"iid": issue.iid, "reason": f"{exc.__class__.__name__}: {exc}"})
            continue
        if row is None or row.detected is None or not since <= row.detected < until:
            continue
        out.rows.append(row)
    out.rows.sort(key=lambda r: (r.detected, r.iid))
    return out


def _row(cfg: Config, issue: Issue, key: str | None, notes: _Notes, actions: dict, now: datetime):
    partial = None
    try:
        state = read_block(issue.description, key, state_scope(issue.id))
        if state is None:
            partial = "no state block (declared before the bot, or by hand): rebuilt from the bot's notes"
    except UnverifiedState as exc:
        partial = f"the block does not verify ({exc}): rebuilt from the bot's notes"
    except BlockError as exc:
        partial = f"the block is damaged ({exc}): rebuilt from the bot's notes"
    if partial:
        state = notes.rebuild(cfg, issue)
        if state.initial_update_at is None and not state.handled:
            return None  # the bot never wrote on it: labelled, but not an incident it ran
    if state.detected_at is None:
        raise ValueError("no detection time is recorded")
    pm_actions = actions.get(state.postmortem_iid, []) if state.postmortem_iid else []
    # A report goes where the confidential issue's readers may not (a report issue, Pages): its figures
    # are counted, its title is not shown; the link leads to GitLab, which asks who is reading.
    title = CONFIDENTIAL if issue.confidential else issue.title
    return incident_row(cfg, state, iid=issue.iid, title=title, url=issue.web_url, labels=issue.labels,
                        actions=pm_actions, now=now, partial=partial)
