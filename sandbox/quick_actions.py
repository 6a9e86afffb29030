"""GitLab quick actions in notes: extract `/command` lines, check they are available, apply them.

Like GitLab's extractor: a command is a line that starts with `/` at column 0, outside fenced
code blocks and `>>>` quote blocks. A command the author may not run, or that does not apply
(`/close` on a closed issue), is not extracted and stays in the text. Unknown words stay too.
"""

from __future__ import annotations

import re
from typing import Any

from . import issues
from .store import Store

COMMAND_LINE = re.compile(r"^/([a-zA-Z_]+)(?:[ \t]+(.*))?$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
LABEL_ARG = re.compile(r'~"([^"]+)"|~(\S+)|(\S+)')
NAMES = {"close", "reopen", "title", "label", "labels", "unlabel", "remove_label", "relabel", "assign",
         "unassign", "confidential", "due", "remove_due_date"}


def split(body: str) -> tuple[list[tuple[str, str, int]], list[str]]:
    """Return ([(command, args, line index)], lines) for the command-looking lines of a note."""
    lines = body.replace("\r\n", "\n").split("\n")
    found, fence, quote = [], None, False
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if m and not quote:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if line.startswith(">>>") and fence is None:
            quote = not quote
            continue
        if fence or quote:
            continue
        cm = COMMAND_LINE.match(line.rstrip())
        if cm and cm.group(1).lower() in NAMES:
            found.append((cm.group(1).lower(), (cm.group(2) or "").strip(), i))
    return found, lines


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


def execute(store: Store, issue: dict[str, Any], actor: dict[str, Any], body: str,
            record: list[dict[str, Any]]) -> tuple[str, dict[str, Any], list[str]]:
    """Run the available commands in `body`. Returns (body without them, params applied, summaries)."""
    found, lines = split(body)
    params: dict[str, Any] = {}
    summaries, drop = [], set()
    for name, args, index in found:
        summary = _plan(store, issue, actor, name, args, params)
        if summary is None:
            continue
        drop.add(index)
        summaries.append(summary)
        record.append({"user": actor["username"], "command": name, "args": args,
                       "project_id": issue["project_id"], "iid": issue["iid"]})
    if params:
        issues.update_issue(store, issue, actor, params)
    rest = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
    return rest, params, summaries
