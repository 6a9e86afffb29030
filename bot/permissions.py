"""Issue events that stand for commands obey the same access level as the commands.

Adding the incident, a severity or a status label, closing or reopening an incident, adding or ticking
action items in a postmortem and closing a follow-up are `declare`, `severity`, `mitigate`/`resolve`,
`reopen`, `actions` by other means; taking the incident label off stops the tracking. Below the level the
bot does not act: it undoes what it can (puts the labels back, reopens or closes the issue) and says why in one note,
found again by its marker on a repeated delivery. An event the bot would not act on anyway is ignored
quietly, so a Reporter editing a postmortem's prose or relabelling a resolved incident hears nothing.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .access import level_name
from .events import IssueEvent
from .executor import label_changes, managed_labels
from .postmortem import parse_actions
from .routing import CommandRefused, Reply
from .timeutil import iso
from .wiring import ROUTER

if TYPE_CHECKING:  # pragma: no cover
    from .session import IncidentSession

def would_act(d: "IncidentSession", event: IssueEvent, trigger: str) -> bool:
    """Whether a handler of the trigger would change anything (handlers are pure, so this asks them)."""
    for handler in ROUTER.handlers(trigger):
        try:
            effects = handler(d.context(event.actor.username), event)
        except CommandRefused:
            continue
        if effects.replies or effects.state is not None or effects.close or effects.followups:
            return True
    return False


def undo(d: "IncidentSession", event: IssueEvent, refused: list[str]) -> tuple[dict, list[str]]:
    """The issue update that takes back what the person did, and its words for the note."""
    cfg, issue, changes, said = d.cfg, d.issue, {}, []
    if "incident_labeled" in refused:
        remove = sorted(event.labels_added & managed_labels(cfg) & set(issue.labels))
        if remove:
            changes["remove_labels"] = remove
            said.append("removed " + " ".join(f"~\"{label}\"" for label in remove))
    elif {"severity_labeled", "status_labeled"} & set(refused) and d.state is not None:
        add, remove = label_changes(issue.labels, d.state, cfg)
        if add or remove:
            changes.update({"add_labels": add, "remove_labels": remove})
            said.append("put the labels back as the incident has them")
    if "incident_unlabeled" in refused:
        back = sorted(event.labels_removed - set(issue.labels))
        if back:
            changes["add_labels"] = sorted(set(changes.get("add_labels", [])) | set(back))
            said.append("put back " + " ".join(f"~\"{label}\"" for label in back))
    if "closed" in refused and issue.state == "closed":
        changes["state_event"] = "reopen"
        said.append("reopened the issue")
    elif "reopened" in refused and issue.state == "opened":
        changes["state_event"] = "close"
        said.append("closed the issue again")
    return changes, said


def refusal_key(d: "IncidentSession", event: IssueEvent, refused: list[str]) -> str:
    """One note per refused change. Action items are named by their keys, not the edit's time, so
    further edits that leave the same items waiting do not repeat the note."""
    if refused == ["postmortem_edited"]:
        waiting = sorted(i.key for i in parse_actions(d.issue.description) if i.issue_iid is None and not i.done)
        return f"issue-{d.issue.id}-refused-actions-{hashlib.sha1(' '.join(waiting).encode()).hexdigest()[:12]}"
    return f"issue-{d.issue.id}-refused-{event.source or iso(event.updated_at) or '-'}"


def refuse_issue_event(d: "IncidentSession", event: IssueEvent, triggers: list[str]) -> str:
    refused = [t for t in triggers if would_act(d, event, t)]
    if not refused:
        return "ignored: below the access level, and nothing the bot would do"
    changes, said = undo(d, event, refused)
    reason = (", ".join(ROUTER.stands_for(t) for t in refused) + " needs at least "
              + level_name(d.cfg.min_access_level) + " access to this project")
    if said:
        reason += ", so I " + " and ".join(said)
    body = d.render("refusal.md.j2", reason=reason)
    # The reply first, as for a command; then the undo, which a retry repeats harmlessly.
    d.writer.post(Reply("refusal", body), refusal_key(d, event, refused))
    if changes:
        d.writer.issue = d.gl.update_issue(d.issue.project_id, d.issue.iid,
                                           **{k: v for k, v in changes.items() if v})
    return "refused: " + ", ".join(refused)
