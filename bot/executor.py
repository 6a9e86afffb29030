"""Applies a handler's Effects to one issue, idempotently.

Replies are posted first, each with a hidden marker naming its cause (`key`); then one PUT writes the
description block, the labels and the assignees derived from the new state, and closes the issue when
asked. A repeated delivery finds the key among the state's handled keys and does nothing; a delivery
retried after a crash between the two steps finds the marker on the note and does not post it again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from .checklist import checklists, ticked_items
from .config import Config
from .gitlab import DESCRIPTION_MAX, GitLab, Issue
from .markers import note_marker as marker
from .markers import parse_note_marker as parse_marker
from .render import incident_context
from .routing import Effects, Reply
from .state import ROLES, IncidentState, remove_block, render_block, state_scope, write_block

log = logging.getLogger("incident_bot.executor")


def managed_labels(cfg: Config) -> set[str]:
    labels = cfg.labels
    return ({labels["incident"]} | set(labels["severity"].values()) | set(labels["status"].values())
            | set(labels["role"].values()) | set(labels["region"].values()))


def desired_labels(state: IncidentState, cfg: Config) -> set[str]:
    labels = cfg.labels
    wanted = {labels["incident"], labels["severity"][state.severity], labels["status"][state.status]}
    wanted |= {label for role, label in labels["role"].items() if role in state.roles}
    if state.region and state.region in labels["region"]:
        wanted.add(labels["region"][state.region])
    return wanted


def label_changes(current: list[str], state: IncidentState, cfg: Config) -> tuple[list[str], list[str]]:
    wanted = desired_labels(state, cfg)
    have = set(current)
    add = sorted(wanted - have)
    remove = sorted((have & managed_labels(cfg)) - wanted)
    return add, remove


def role_holder_ids(state: IncidentState | None) -> list[int]:
    """Role holders, CMOC first: GitLab Free keeps only the first assignee, and the CMOC matters most."""
    ids: list[int] = []
    for role in ROLES:
        holder = state.roles.get(role) if state is not None else None
        if holder and holder.id is not None and holder.id not in ids:
            ids.append(holder.id)
    return ids


def desired_assignees(state: IncidentState, current: list[int], former: set[int]) -> list[int]:
    """`assignee_ids` replaces the list: the role holders first, then whoever a person assigned by hand
    (the current assignees that are not a former role holder). Free keeps the first and drops the rest."""
    holders = role_holder_ids(state)
    return holders + [i for i in current if i not in former and i not in holders]


class IssueWriter:
    """One issue during one delivery."""

    def __init__(self, gl: GitLab, cfg: Config, render: Callable[..., str], issue: Issue,
                 bot_username: str | None, now: datetime, *, check_markers: bool = True,
                 since: datetime | None = None):
        self.gl, self.cfg, self.render, self.now = gl, cfg, render, now
        self.issue = issue
        self.bot_username = bot_username
        # A first attempt cannot have left a marker (a repeated delivery is stopped by the queue's dedupe and
        # the state's handled keys): only a retry reads the notes.
        self._keys: set[str] | None = None if check_markers else set()
        # How far back an earlier attempt's notes can be: the delivery's own note (or change), as GitLab
        # timed it. None: every note.
        self.since = since
        # Who held a role before this write (the session sets it from the state it loaded): assignees
        # among them are the bot's to remove; any other assignee was put there by a person.
        self.holders: set[int] = set()

    def existing_keys(self) -> set[str]:
        """Keys of the bot's notes since `since`, every page (read once per delivery, only when about to
        post, only on a retry): one page of 100 would miss the first replies of a note with 150 commands."""
        if self._keys is None:
            keys = set()
            for note in self.gl.notes_since(self.issue.project_id, self.issue.iid, self.since):
                if note.system or (self.bot_username and note.author != self.bot_username):
                    continue  # a person cannot make the bot skip a reply by pasting a marker
                found = parse_marker(note.body)
                if found and "key" in found:
                    keys.add(found["key"])
            self._keys = keys
        return self._keys

    def post(self, reply: Reply, key: str, *, internal: bool = False) -> bool:
        if key in self.existing_keys():
            return False
        body = reply.body.rstrip() + "\n\n" + marker(reply.kind, key, reply.n, **reply.extra)
        if self.gl.create_note(self.issue.project_id, self.issue.iid, body, internal=internal or reply.internal) is None:
            log.warning("GitLab kept no note for %s (answered 202: quick actions only)", reply.kind)
        self._keys.add(key)
        return True

    def apply(self, effects: Effects, key: str, *, internal: bool = False) -> None:
        for i, reply in enumerate(effects.replies):
            if effects.state is not None:  # what a rebuild trusts: the bot's notes, not labels people set
                reply.extra = {**reply.extra, "status": effects.state.status, "sev": str(effects.state.severity),
                               "region": effects.state.region or "-"}
            self.post(reply, key if i == 0 else f"{key}.{i}", internal=internal)
        if effects.state is not None:
            self.write_state(effects.state, key, close=effects.close, reopen=effects.reopen)

    def write_state(self, state: IncidentState, key: str | None, *, close: bool = False,
                    reread: bool = True, reopen: bool = False) -> None:
        """Write the block, labels and assignees on the issue as it is now. GitLab has no conditional
        update and `description`/`assignee_ids` replace: a person may have edited the issue while the
        bot posted its notes, so read it again (unless the caller just did) and change only our part."""
        if key:
            state.mark_handled(key)
        if reread:
            self.issue = self.gl.get_issue(self.issue.project_id, self.issue.iid)
        table = self.render("state_table.md.j2", incident=self._incident(state))
        if state.release_checks:  # where the holder can tick them; the ticks made so far are kept
            rendered = {role: self.render("release_checklist.md.j2", role=role.upper(), holder=holder)
                        for role, holder in sorted(state.release_checks.items(), key=lambda i: ROLES.index(i[0]))}
            table += "\n\n" + checklists(rendered, ticked_items(self.issue.description))
        description = write_block(self.issue.description,
                                  render_block(state, table, self.cfg.state_key, state_scope(self.issue.id)))
        add, remove = label_changes(self.issue.labels, state, self.cfg)  # deltas: people's labels stay
        changes: dict = {"description": description}
        if len(description) > DESCRIPTION_MAX:
            # No room for the block: labels, assignees and state still go in the same PUT. An older
            # block must not stay behind as the truth; without one, the bot rebuilds from its notes.
            self.post(Reply("too-long", self.render("description_too_long.md.j2", limit=DESCRIPTION_MAX)),
                      f"{key or 'state'}.too-long")
            changes["description"] = remove_block(self.issue.description)
            if changes["description"] == self.issue.description:
                del changes["description"]
        if add:
            changes["add_labels"] = add
        if remove:
            changes["remove_labels"] = remove
        current = self.issue.assignee_ids
        wanted = desired_assignees(state, current, self.holders | set(role_holder_ids(state)))
        if set(wanted) != set(current):
            changes["assignee_ids"] = wanted
        if close and self.issue.state == "opened":
            changes["state_event"] = "close"
        elif reopen and self.issue.state == "closed":
            changes["state_event"] = "reopen"
        self.issue = self.gl.update_issue(self.issue.project_id, self.issue.iid, **changes)
        self.holders = set(role_holder_ids(state))

    def _incident(self, state: IncidentState) -> dict:
        return incident_context(state, iid=self.issue.iid, title=self.issue.title, now=self.now)
