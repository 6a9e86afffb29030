"""What a sync pass hands the queue: the events a webhook would have brought, rebuilt from what GitLab
lists (notes, resource label and state events), for one issue. Pure.

Handled-ness comes from GitLab: a command note the bot already answered (its marker names the note) is
left out here, and whatever is handed on is still checked by the processor against the incident's
handled keys and the bot's markers (sync deliveries always read the markers), so a webhook and a sync for
the same note, or two passes, answer once. An issue event is keyed by GitLab's time of the change, as the
webhook's is (bot/issue_claims.py), so both land on the same handled key.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from .commands import has_command
from .config import Config
from .events import Actor, IssueEvent, IssueRef, NoteEvent, event_to_dict
from .markers import parse_note_marker
from .records import Issue, Note, ResourceEvent
from .timeutil import iso, utcnow
from .wiring import ROUTER

_ANSWERED = re.compile(r"^note-(\d+)-")


@dataclass(frozen=True)
class SyncItem:
    at: datetime
    order: tuple
    dedupe_key: str
    event: IssueEvent | NoteEvent

    def describe(self) -> str:
        ref = self.event.issue
        what = (f"note {self.event.note_id}" if isinstance(self.event, NoteEvent)
                else ", ".join(_triggers(self.event)))
        return f"#{ref.iid} {what} at {iso(self.at)}"


def _triggers(event: IssueEvent) -> list[str]:
    parts = [f"+{label}" for label in sorted(event.labels_added)]
    return parts + (["closed"] if event.closed else []) + (["reopened"] if event.reopened else [])


def issue_ref(issue: Issue) -> IssueRef:
    return IssueRef(issue.project_id, issue.iid, issue.id, issue.title, tuple(issue.labels), issue.confidential,
                    issue.state, None)


def _is_bot(user_id: int | None, username: str | None, bot: dict) -> bool:
    return (user_id is not None and user_id == bot.get("id")) or (username is not None and username == bot.get("username"))


def answered_notes(notes: list[Note], bot: dict) -> set[int]:
    """Ids of the notes the bot's own notes say it answered (a person's pasted marker does not count)."""
    done = set()
    for note in notes:
        if note.system or not _is_bot(note.author_id, note.author, bot):
            continue
        found = parse_note_marker(note.body) or {}
        m = _ANSWERED.match(found.get("key") or "")
        if m:
            done.add(int(m.group(1)))
    return done


def note_items(issue: Issue, notes: list[Note], since: datetime | None, bot: dict, cfg: Config) -> list[SyncItem]:
    answered = answered_notes(notes, bot)
    ref = issue_ref(issue)
    items = []
    for note in notes:
        if (note.system or note.id in answered or _is_bot(note.author_id, note.author, bot)
                or (since is not None and note.created_at is not None and note.created_at < since)
                or not has_command(note.body, cfg.prefix, bot.get("username"))):
            continue
        name = "Confidential Note Hook" if issue.confidential or note.internal else "Note Hook"
        event = NoteEvent(name, Actor(note.author_id, note.author), ref, note.id, note.body, "create",
                          note.internal, note.created_at)
        items.append(SyncItem(note.created_at, (2, note.id), f"sync:note:{note.id}", event))
    return items


def issue_items(issue: Issue, label_events: list[ResourceEvent], state_events: list[ResourceEvent],
                since: datetime | None, bot: dict, cfg: Config) -> list[SyncItem]:
    """Label additions (those made together, by one person at one time, as one event: one webhook) and
    closes and reopens, since `since`, by people; only those a trigger reacts to."""
    def recent(e: ResourceEvent) -> bool:
        user = e.user or {}
        return (since is None or e.created_at is None or e.created_at >= since) and \
            not _is_bot(user.get("id"), user.get("username"), bot)

    ref = issue_ref(issue)
    name = "Confidential Issue Hook" if issue.confidential else "Issue Hook"
    groups: dict[tuple, list[ResourceEvent]] = {}
    for e in label_events:
        if e.action == "add" and e.label and recent(e):
            groups.setdefault((e.created_at, (e.user or {}).get("id")), []).append(e)
    items = []
    for (at, _), events in groups.items():
        actor = Actor((events[0].user or {}).get("id"), (events[0].user or {}).get("username"))
        event = IssueEvent(name, actor, ref, "update", at, labels_added=frozenset(e.label for e in events))
        items.append(SyncItem(at, (0, events[0].id), f"sync:label:{issue.id}:{events[0].id}", event))
    for e in state_events:
        if e.action in ("closed", "reopened") and recent(e):
            actor = Actor((e.user or {}).get("id"), (e.user or {}).get("username"))
            event = IssueEvent(name, actor, ref, "close" if e.action == "closed" else "reopen", e.created_at,
                               closed=e.action == "closed", reopened=e.action == "reopened")
            items.append(SyncItem(e.created_at, (1, e.id), f"sync:state:{e.id}", event))
    return [item for item in items if ROUTER.triggers_for(item.event, cfg)]


def ordered(items: list[SyncItem]) -> list[SyncItem]:
    """In GitLab's order of the changes, as their webhooks would have come."""
    return sorted(items, key=lambda i: (i.at.timestamp() if i.at else 0.0, i.order))


def delivery(item: SyncItem) -> dict:
    """The stored delivery the queue keeps for it (as bot/webhook.py's `stored_delivery`)."""
    ref = item.event.issue
    return {"id": str(uuid.uuid4()), "dedupe_key": item.dedupe_key, "issue_key": f"{ref.project_id}:{ref.iid}",
            "event": item.event.event, "headers": {}, "parsed": event_to_dict(item.event),
            "received_at": iso(utcnow()), "source": "sync"}
