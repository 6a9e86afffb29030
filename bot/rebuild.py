"""Rebuild an incident's state when its description block is missing or damaged. Pure.

Also used when the block's signature does not verify (someone else wrote it). The sources, in order
of trust: the bot's own note markers (kind, n, role and user; status, severity and region after the change;
reminder and command keys; the time detected the declare and `detected` replies carry), then the labels (only where no note of the bot says: a Reporter can set
labels), then the issue itself (author, created time, closed). Only notes the
bot user wrote count: a person can paste a marker into a comment, and without the bot's username
no note is trusted at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .config import Config
from .exercise import says_drill
from .markers import parse_note_marker as parse_marker
from .records import Issue, Note
from .state import ROLES, IncidentState, Role, valid_username
from .timeutil import iso, parse_time


def _time(text: str) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


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
    ids = {a["username"]: a["id"] for a in issue.assignees}
    for note in sorted(notes, key=lambda n: n.created_at or issue.created_at):
        if note.system or not bot_username or note.author != bot_username:
            continue
        mark = parse_marker(note.body)
        if not mark:
            continue
        kind, at = mark.get("kind"), note.created_at
        key = mark.get("key", "")
        if mark.get("status") in ("active", "mitigated", "resolved") and mark.get("sev") in ("1", "2", "3"):
            state.status, state.severity = mark["status"], int(mark["sev"])
        if "detected" in mark:  # the declare's and each correction's: the last one stands
            state.detected_at = _time(mark["detected"]) or state.detected_at
        if "region" in mark:
            region = mark["region"]
            state.region = region if region in cfg.labels["region"] else None
        if kind == "reminder":
            for part in key.split("+"):
                if part:
                    state.reminders[part] = iso(at) or ""
        elif key:
            # A reply exists for this command or event: it was handled (`.N` marks its further replies).
            state.mark_handled(key.split(".", 1)[0] if key.rsplit(".", 1)[-1].isdigit() else key)
        if kind == "initial":
            state.initial_update_at = state.initial_update_at or at
            state.drill = state.drill or says_drill(note.body)  # the state is drill's one source
            state.last_update_at = at
        elif kind == "update":
            n = mark.get("n", "")
            state.update_count = max(state.update_count, int(n) if n.isdigit() else 0)
            state.last_update_at = at
        elif kind == "role":  # one reply may carry several changes: role=cmoc,smoc user=alice,bob
            pairs = zip(mark.get("role", "").split(","), mark.get("user", "-").split(","), strict=False)
            for role, user in pairs:
                if role not in ROLES:
                    continue
                if user == "-":
                    state.roles.pop(role, None)
                elif valid_username(user):
                    state.roles[role] = Role(user, ids.get(user))
        elif kind == "mitigated":
            state.mitigated_at = at
        elif kind == "resolved":
            state.resolved_at = at
        elif kind == "postmortem" and mark.get("postmortem", "").isdigit():
            state.postmortem_iid = int(mark["postmortem"])
    if state.status != "resolved":
        since = state.last_update_at or state.detected_at
        if since is not None:
            state.next_update_due = since + timedelta(minutes=cfg.cadence_minutes(state.status, state.severity))
    return state
