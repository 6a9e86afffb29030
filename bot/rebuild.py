"""Rebuild an incident's state when its description block is missing or damaged. Pure.

The sources, in order of trust: the bot's own note markers (kind, n, role and user), then the labels
(status, severity, region), then the issue itself (author, created time, closed).
"""

from __future__ import annotations

from datetime import timedelta

from .config import Config
from .executor import parse_marker
from .gitlab import Issue, Note
from .state import IncidentState, Role


def _from_labels(mapping: dict, labels: list[str]):
    return [key for key, label in mapping.items() if label in labels]


def rebuild_state(issue: Issue, notes: list[Note], cfg: Config, bot_username: str | None) -> IncidentState:
    labels = issue.labels
    statuses = _from_labels(cfg.labels["status"], labels)
    severities = _from_labels(cfg.labels["severity"], labels)
    regions = _from_labels(cfg.labels["region"], labels)
    state = IncidentState(
        status=statuses[0] if statuses else ("resolved" if issue.state == "closed" else "active"),
        severity=min(severities) if severities else cfg.default_severity,
        region=regions[0] if regions else None,
        author=issue.author.get("username"),
        detected_at=issue.created_at,
    )
    for note in sorted(notes, key=lambda n: n.created_at or issue.created_at):
        if note.system or (bot_username and note.author != bot_username):
            continue
        mark = parse_marker(note.body)
        if not mark:
            continue
        kind, at = mark.get("kind"), note.created_at
        if kind == "initial":
            state.initial_update_at = state.initial_update_at or at
            state.last_update_at = at
        elif kind == "update":
            state.update_count = max(state.update_count, int(mark.get("n", 0) or 0))
            state.last_update_at = at
        elif kind == "role" and mark.get("role"):
            user = mark.get("user", "-")
            if user == "-":
                state.roles.pop(mark["role"], None)
            else:
                ids = {a["username"]: a["id"] for a in issue.assignees}
                state.roles[mark["role"]] = Role(user, ids.get(user))
        elif kind == "mitigated":
            state.mitigated_at = at
        elif kind == "resolved":
            state.resolved_at = at
    if state.status != "resolved":
        since = state.last_update_at or state.detected_at
        if since is not None:
            state.next_update_due = since + timedelta(minutes=cfg.cadence_minutes(state.status, state.severity))
    return state
