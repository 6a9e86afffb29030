"""What an Issue Hook claims, checked against what GitLab holds now. Pure.

A webhook payload says who changed an issue and what changed, and anyone who learns the webhook secret
can write one. So a trigger the payload claims is kept only when the issue, read through the API,
agrees (a close: the issue is closed; a label: the issue carries it), and its actor is the one GitLab
recorded: `closed_by` for a close, the newest state event for a reopen, the newest label event that
added the label, the newest "changed the description" system note for an edit. The event handed on
carries that actor, the labels GitLab confirms, and GitLab's time of the change (the handled key and
the refusal's key come from it, so a replay under a new time is still the same change).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from .config import Config
from .events import Actor, IssueEvent
from .records import Issue, Note, ResourceEvent

CHECKLIST_NOTE = "marked the checklist item"
DESCRIPTION_NOTE = "changed the description"  # GitLab's system note for an edit (SystemNoteService)


@dataclass(frozen=True)
class Confirmed:
    trigger: str
    event: IssueEvent  # the payload's event with GitLab's actor, labels and time


@dataclass
class Records:
    """What GitLab holds now, read in one round trip (only what the claimed triggers need)."""

    issue: Issue
    label_events: list[ResourceEvent] | None = None
    state_events: list[ResourceEvent] | None = None
    notes: list[Note] | None = None  # the newest first


LABEL_TRIGGERS = {"incident_labeled", "severity_labeled", "status_labeled"}
UNLABEL_TRIGGERS = {"incident_unlabeled"}


def reads_needed(triggers: list[str]) -> set[str]:
    """Which records the triggers need besides the issue: label_events, state_events, notes."""
    needed = set()
    if (LABEL_TRIGGERS | UNLABEL_TRIGGERS) & set(triggers):
        needed.add("label_events")
    if {"closed", "reopened", "action_state"} & set(triggers):
        needed.add("state_events")
    if "postmortem_edited" in triggers:
        needed.add("notes")
    return needed


def _actor(user: dict | None) -> Actor | None:
    return Actor(user.get("id"), user.get("username")) if user else None


def _newest(events: list[ResourceEvent], match) -> ResourceEvent | None:
    found = [e for e in events if match(e)]
    return max(found, key=lambda e: e.id) if found else None


def _labels_of(trigger: str, cfg: Config) -> set[str]:
    if trigger in ("incident_labeled", "incident_unlabeled"):
        return {cfg.labels["incident"]}
    if trigger == "status_labeled":
        return {cfg.labels["status"][s] for s in ("mitigated", "resolved")}
    return set(cfg.labels["severity"].values())


def _label_claim(event: IssueEvent, trigger: str, rec: Records, cfg: Config) -> tuple[IssueEvent | None, str]:
    def newest_add(label: str) -> ResourceEvent | None:
        found = _newest(rec.label_events or [], lambda e: e.action == "add" and e.label == label)
        return found if found is not None and found.user else None

    carried = {label for label in event.labels_added & _labels_of(trigger, cfg) if label in rec.issue.labels}
    if not carried:
        return None, "the issue does not carry the label the payload says was added"
    adds = [e for e in map(newest_add, carried) if e is not None]
    if not adds:
        return None, "GitLab has no record of who added the label"
    newest = max(adds, key=lambda e: e.id)
    # Every claimed label the same person added, as GitLab records it: what an undo may take back.
    confirmed = frozenset(label for label in event.labels_added if label in rec.issue.labels
                          and (e := newest_add(label)) is not None and e.user["id"] == newest.user["id"])
    return _with(event, newest.user, newest.created_at, f"label-event-{newest.id}", labels_added=confirmed), ""


def _unlabel_claim(event: IssueEvent, trigger: str, rec: Records, cfg: Config) -> tuple[IssueEvent | None, str]:
    """A label taken off: the issue no longer carries it, and GitLab's newest event for it is a removal."""
    gone = {label for label in event.labels_removed & _labels_of(trigger, cfg) if label not in rec.issue.labels}
    if not gone:
        return None, "the issue still carries the label the payload says was removed"
    removals = [e for label in gone
                if (e := _newest(rec.label_events or [], lambda e, label=label: e.label == label)) is not None
                and e.action == "remove" and e.user]
    if not removals:
        return None, "GitLab has no record of who removed the label"
    newest = max(removals, key=lambda e: e.id)
    return _with(event, newest.user, newest.created_at, f"label-event-{newest.id}", labels_removed=frozenset(gone)), ""


def _state_claim(event: IssueEvent, closed: bool, rec: Records) -> tuple[IssueEvent | None, str]:
    issue = rec.issue
    if closed:
        if issue.state != "closed":
            return None, "the payload says the issue was closed, but it is open"
        last = _newest(rec.state_events or [], lambda e: e.action == "closed")
        user = issue.closed_by or (last.user if last else None)
        if not user:
            return None, "GitLab has no record of who closed the issue"
        return _with(event, user, last.created_at if last else None, f"state-event-{last.id}" if last else None), ""
    if issue.state != "opened":
        return None, "the payload says the issue was reopened, but it is closed"
    last = _newest(rec.state_events or [], lambda e: True)
    if last is None or last.action != "reopened" or not last.user:
        return None, "GitLab has no record of who reopened the issue"
    return _with(event, last.user, last.created_at, f"state-event-{last.id}"), ""


def _edit_claim(event: IssueEvent, rec: Records, bot_id: int | None) -> tuple[IssueEvent | None, str]:
    # The bot's own edits (linking items it opened) are skipped: one made meanwhile must not hide the
    # person's edit that this delivery is about.
    # GitLab notes an edit that ticks or unticks a task item as "marked the checklist item ...", with
    # no "changed the description" note, whatever else the edit changed: both kinds record an edit.
    edits = [n for n in rec.notes or [] if n.system and n.body.startswith((DESCRIPTION_NOTE, CHECKLIST_NOTE))
             and (bot_id is None or n.author_id != bot_id)]
    last = max(edits, key=lambda n: n.id) if edits else None
    if last is None or last.author_id is None:
        return None, "GitLab has no record of who changed the description"
    return _with(event, {"id": last.author_id, "username": last.author}, last.created_at, f"note-{last.id}",
                 checklist_changed=last.body.startswith(CHECKLIST_NOTE)), ""


def _with(event: IssueEvent, user: dict, at: datetime | None, source: str | None, **changes) -> IssueEvent:
    return dataclasses.replace(event, actor=_actor(user), updated_at=at or event.updated_at, source=source,
                               **changes)


def confirm(event: IssueEvent, triggers: list[str], rec: Records, cfg: Config,
            bot_id: int | None = None) -> tuple[list[Confirmed], list[str]]:
    """The triggers GitLab confirms, each with its event as GitLab has it; and why the others were dropped."""
    kept, dropped = [], []
    for trigger in triggers:
        if trigger in LABEL_TRIGGERS:
            confirmed, why = _label_claim(event, trigger, rec, cfg)
        elif trigger in UNLABEL_TRIGGERS:
            confirmed, why = _unlabel_claim(event, trigger, rec, cfg)
        elif trigger == "reopened":
            confirmed, why = _state_claim(event, False, rec)
        elif trigger == "closed" or (trigger == "action_state" and event.closed):
            confirmed, why = _state_claim(event, True, rec)
        elif trigger == "action_state":
            confirmed, why = _state_claim(event, False, rec)
        elif trigger == "postmortem_edited":
            confirmed, why = _edit_claim(event, rec, bot_id)
        else:
            confirmed, why = None, f"no way to confirm {trigger} with GitLab"
        if confirmed is None:
            dropped.append(f"{trigger}: {why}")
        else:
            kept.append(Confirmed(trigger, confirmed))
    return kept, dropped


def by_actor(confirmed: list[Confirmed]) -> list[list[Confirmed]]:
    """Confirmed triggers grouped by who GitLab says made the change (one person, as a rule)."""
    groups: dict[tuple, list[Confirmed]] = {}
    for c in confirmed:
        groups.setdefault((c.event.actor.id, c.event.actor.username), []).append(c)
    return list(groups.values())


def merged(group: list[Confirmed]) -> IssueEvent:
    """One event for a group (a refusal names and undoes them together): every confirmed label."""
    labels = frozenset().union(*(c.event.labels_added for c in group))
    removed = frozenset().union(*(c.event.labels_removed for c in group))
    return dataclasses.replace(group[0].event, labels_added=labels, labels_removed=removed)
