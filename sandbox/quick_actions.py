"""GitLab quick actions in notes and issue descriptions: find them, check they are available, apply them.

Which lines are commands is :mod:`sandbox.extractor`'s answer, for the GitLab generation the store is set
to (``store.quick_action_generation``: "regex" up to 16.6, "commonmark" from 16.7). A command the author
may not run, or that does not apply (`/close` on a closed issue), stays in the text, and so do the
commands this sandbox does not model; every command found is in ``store.commands_found``, applied or not,
so a test can see what GitLab would have tried to run.
"""

from __future__ import annotations

import re
from typing import Any

from . import extractor, issues
from .store import Store

LABEL_ARG = re.compile(r'~"([^"]+)"|~(\S+)|(\S+)')
NAMES = {"close", "reopen", "title", "label", "labels", "unlabel", "remove_label", "relabel", "assign",
         "unassign", "confidential", "due", "remove_due_date"}


def generation(store: Store) -> str:
    return getattr(store, "quick_action_generation", "commonmark")


def found(store: Store, text: str | None) -> list[extractor.Command]:
    return extractor.extract(text, generation(store))


def _labels(store: Store, pid: int, args: str) -> list[str]:
    # Quick actions use existing labels only (unlike the API, they never create one).
    titles = [a or b or c for a, b, c in LABEL_ARG.findall(args)]
    return [lb["title"] for t in titles if (lb := store.find_label(pid, t))]


def _users(store: Store, actor: dict[str, Any], args: str) -> list[int]:
    ids = []
    for word in args.split():
        user = actor if word == "me" else store.user_by_name(word)
        if user:
            ids.append(user["id"])
    return ids


def _union(a: list[Any], b: list[Any]) -> list[Any]:
    return a + [x for x in b if x not in a]


def _plan(store: Store, issue: dict[str, Any], actor: dict[str, Any], name: str, args: str,
          params: dict[str, Any]) -> str | None:
    """Fold one command into update params; return its summary, or None when not available."""
    pid = issue["project_id"]
    admin = store.can_admin_issue(pid, actor)
    update = store.can_update_issue(issue, actor)
    labels = params.get("labels", list(issue["labels"]))
    assignees = params.get("assignee_ids", list(issue["assignee_ids"]))
    if name == "close" and update and issue["state"] == "opened":
        params["state_event"] = "close"
        return "Closed this issue."
    if name == "reopen" and update and issue["state"] == "closed":
        params["state_event"] = "reopen"
        return "Reopened this issue."
    if name == "title" and update and args:
        params["title"] = args
        return f"Changed the title to \"{args}\"."
    if name in ("label", "labels") and admin and args:
        found = _labels(store, pid, args)
        if found:
            params["add_labels"] = _union(params.get("add_labels", []), found)
            return "Added " + " ".join(issues.label_ref(t) for t in found) + " label(s)."
    if name in ("unlabel", "remove_label") and admin and labels:
        found = _labels(store, pid, args) if args else list(labels)
        if found:
            params["remove_labels"] = _union(params.get("remove_labels", []), found)
            return "Removed " + " ".join(issues.label_ref(t) for t in found) + " label(s)."
    if name == "relabel" and admin and args:
        found = _labels(store, pid, args)
        if found:
            params["labels"] = found
            return "Replaced all labels with " + " ".join(issues.label_ref(t) for t in found) + " label(s)."
    if name == "assign" and admin and args:
        found = _users(store, actor, args)
        if found:
            # Free allows one assignee, so /assign replaces; Premium adds.
            params["assignee_ids"] = found if store.assignee_limit == 1 else _union(assignees, found)
            return "Assigned " + " ".join("@" + store.users[i]["username"] for i in found) + "."
    if name == "unassign" and admin and assignees:
        found = _users(store, actor, args) if args and store.assignee_limit != 1 else list(assignees)
        params["assignee_ids"] = [i for i in assignees if i not in found]
        return "Removed assignee(s)."
    if name == "confidential" and admin and not issue["confidential"]:
        params["confidential"] = True
        return "Made this issue confidential."
    if name == "due" and admin and re.fullmatch(r"\d{4}-\d{2}-\d{2}", args):
        params["due_date"] = args
        return f"Set the due date to {args}."
    if name == "remove_due_date" and admin and issue["due_date"]:
        params["due_date"] = None
        return "Removed the due date."
    return None


def plan(store: Store, issue: dict[str, Any], actor: dict[str, Any], body: str, record: list[dict[str, Any]],
         where: str = "note", old_text: str | None = None) -> tuple[str, dict[str, Any], list[str]]:
    """The available commands in `body` as update params. Returns (body without them, params, summaries).

    With `old_text` (a description being updated), only commands not already in the old text count, as
    in GitLab's IssuableBaseService.
    """
    commands = found(store, body)
    if old_text is not None:
        before = [(c.name, c.args) for c in found(store, old_text)]
        fresh = []
        for c in commands:
            if (c.name, c.args) in before:
                before.remove((c.name, c.args))
            else:
                fresh.append(c)
        commands = fresh
    params: dict[str, Any] = {}
    summaries, applied = [], []
    log = store.__dict__.setdefault("commands_found", [])
    for cmd in commands:
        summary = _plan(store, issue, actor, cmd.name, cmd.args, params) if cmd.name in NAMES else None
        log.append({"user": actor["username"], "command": cmd.name, "args": cmd.args, "where": where,
                    "project_id": issue["project_id"], "iid": issue["iid"], "applied": summary is not None})
        if summary is None:
            continue
        applied.append(cmd)
        summaries.append(summary)
        record.append({"user": actor["username"], "command": cmd.name, "args": cmd.args,
                       "project_id": issue["project_id"], "iid": issue["iid"]})
    rest = extractor.remove(body, applied) if applied else body
    return rest, params, summaries


def execute(store: Store, issue: dict[str, Any], actor: dict[str, Any], body: str,
            record: list[dict[str, Any]]) -> tuple[str, dict[str, Any], list[str]]:
    """Run the available commands in a note's `body`. Returns (body without them, params applied, summaries)."""
    rest, params, summaries = plan(store, issue, actor, body, record)
    if params:
        issues.update_issue(store, issue, actor, params)
    return rest.strip() if summaries else rest, params, summaries
