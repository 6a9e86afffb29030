"""Follow-up jobs with I/O, run by `IncidentSession.apply` after a handler's state is written (Effects.followups).

Each job is `job(delivery, key)` and is safe to run again: after a crash, on a repeated delivery, or
twice at once on one issue (the queue keeps one issue's deliveries in order).

* `postmortem`: a resolved incident gets one postmortem issue. Before creating it the job lists the
  bot's issues carrying the postmortem label opened since the incident (every page) and looks for the
  hidden marker naming the incident, so a retry after a crash or a lost answer between "create" and
  "record the iid" finds the first one. A job with `pending(delivery)` is
  also run when a repeated delivery skips a handled key (see `IncidentSession.resume`): that finishes a job a
  crash cut short after the state was written.
* `postmortem_actions` (`_reply`): each new action item of a postmortem becomes a follow-up issue; the
  bot then appends ` → #iid` to that item's line and changes nothing else. Follow-ups carry a marker
  naming the postmortem and the item's key, found again the same way before creating.
* `action_state`: a follow-up closed or reopened ticks or unticks its line in the postmortem.
* `action_ticks`: the other way round: a person ticked or unticked a line, its follow-up closes or reopens.
* `postmortem_status`: `/incident status` on a postmortem: its action items, open, overdue and done.

Reads and writes per flow are listed in tests/test_postmortem_flow.py (test_api_calls_per_flow).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import TYPE_CHECKING, Iterator

from .exercise import is_drill, mark_drill
from .gitlab import GitLabRefused, Issue
from .markers import action_marker, action_of, postmortem_marker, postmortem_of
from .neutralize import neutralize, one_line
from .postmortem import (
    ActionItem,
    action_status,
    link_items,
    parse_actions,
    postmortem_assignee,
    support_summary,
    tick_item,
)
from .render import incident_context
from .routing import Reply
from .timeutil import iso

if TYPE_CHECKING:  # pragma: no cover
    from .session import IncidentSession as Delivery

log = logging.getLogger("incident_bot")

TITLE_MAX = 255


def _title(text: str) -> str:
    text = neutralize(one_line(text))
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


# -- the postmortem issue --------------------------------------------------------------------------
def own_issues(d: "Delivery", project_id: int, label: str, since) -> Iterator[Issue]:
    """Issues the bot opened with `label` since `since`, every page. GitLab's `search` is full-text search,
    which never indexes HTML comments, so it cannot find a marker: exact filters find the candidates and
    the caller reads the marker. Only an issue the bot opened counts: a person pasting the marker cannot
    stand in for it."""
    bot_id = d.bot.get("id")
    for issue in d.gl.iter_issues(project_id, [label], state="all", author_id=bot_id, created_after=iso(since)):
        if bot_id is None or issue.author.get("id") == bot_id:
            yield issue


def find_postmortem(d: "Delivery", incident: Issue) -> Issue | None:
    """The incident's postmortem, opened after the incident was."""
    found = [i for i in own_issues(d, incident.project_id, d.cfg.labels["postmortem"], incident.created_at)
             if postmortem_marker(incident.project_id, incident.iid) in (i.description or "")]
    return min(found, key=lambda i: i.iid, default=None)


def postmortem_pending(d: "Delivery") -> bool:
    state = d.state
    return state is not None and state.status == "resolved" and state.postmortem_iid is None


def create_postmortem(d: "Delivery", key: str) -> None:
    if not postmortem_pending(d):
        return
    state, incident, gl = d.state, d.issue, d.gl
    role = postmortem_assignee(state)
    holder = state.roles.get(role) if role else None
    assignee_id = holder.id if holder else None
    if holder and assignee_id is None:
        member = d.lookup_member(holder.username)
        assignee_id = member.id if member else None

    pm = find_postmortem(d, incident)
    if pm is None:
        body = d.render("support_summary.md.j2",
                        incident=incident_context(state, iid=incident.iid, title=incident.title, now=d.now),
                        summary=support_summary(state), now=d.now, f={})
        description = body + "\n\n" + postmortem_marker(incident.project_id, incident.iid) + "\n"
        pm = gl.create_issue(incident.project_id,
                             title=_title(f"Postmortem: Incident #{incident.iid} - {incident.title}"),
                             description=description, labels=[d.cfg.labels["postmortem"]],
                             confidential=True if incident.confidential else None,
                             assignee_ids=[assignee_id] if assignee_id else None)
        log.info("postmortem #%s opened for incident #%s", pm.iid, incident.iid)
    gl.link_issues(pm.project_id, pm.iid, incident.project_id, incident.iid)
    note = d.render("postmortem_opened.md.j2", postmortem_iid=pm.iid,
                    assignee=holder.username if holder and assignee_id else None)
    if is_drill(state, incident.labels):
        note = mark_drill(note)
    d.writer.post(Reply("postmortem", note, extra={"postmortem": str(pm.iid)}), f"postmortem-{pm.iid}", internal=d.internal)
    new = copy.deepcopy(state)
    new.postmortem_iid = pm.iid
    d.writer.write_state(new, None)
    d.state = new


create_postmortem.pending = postmortem_pending  # type: ignore[attr-defined]


# -- action items -> follow-up issues -------------------------------------------------------------
def _is_postmortem(d: "Delivery") -> bool:
    return d.cfg.labels["postmortem"] in d.issue.labels


def _incident_of(d: "Delivery", pm: Issue) -> Issue | None:
    ref = postmortem_of(pm.description)
    if ref is None or ref[0] != pm.project_id:
        return None  # a marker naming another project would have the bot probe an issue it may not show
    try:
        return d.gl.get_issue(ref[0], ref[1])
    except GitLabRefused as exc:
        if exc.status in (403, 404):
            return None
        raise


def _existing_followups(d: "Delivery", pm: Issue) -> dict[str, int]:
    """Item key -> the follow-up the bot opened for it (the first), among its follow-ups opened since the
    postmortem was."""
    found: dict[str, int] = {}
    issues = own_issues(d, pm.project_id, d.cfg.labels["postmortem_action"], pm.created_at)
    for issue in sorted(issues, key=lambda i: i.iid):
        ref = action_of(issue.description)
        if ref and ref[:2] == (pm.project_id, pm.iid):
            found.setdefault(ref[2], issue.iid)
    return found


def _open_followup(d: "Delivery", pm: Issue, incident: Issue | None, item: ActionItem, owner_id: int | None,
                   confidential: bool) -> Issue:
    description = d.render("postmortem_action.md.j2", item=item.text, owner=item.owner,
                           owner_unresolved=bool(item.owner) and owner_id is None,
                           due=item.due if item.due_valid else None, postmortem_iid=pm.iid,
                           incident_iid=incident.iid if incident else "?")
    description += "\n\n" + action_marker(pm.project_id, pm.iid, item.key) + "\n"
    return d.gl.create_issue(pm.project_id, title=_title(item.text), description=description,
                             labels=[d.cfg.labels["postmortem_action"]],
                             assignee_ids=[owner_id] if owner_id else None,
                             due_date=item.due if item.due_valid else None,
                             confidential=True if confidential else None)


def sync_actions(d: "Delivery", key: str, *, reply: bool = False) -> None:
    if not _is_postmortem(d):
        return
    pm, gl = d.issue, d.gl
    items = [i for i in parse_actions(pm.description) if i.issue_iid is None and not i.done]
    # Each item costs about five API calls: cap the fan-out of one edit; the rest wait for the next run.
    cap = d.cfg.max_action_items_per_edit
    new, waiting, items = len(items), items[cap:], items[:cap]
    opened: dict[str, int] = {}
    problems: list[dict] = []
    if items:
        incident = _incident_of(d, pm)
        confidential = pm.confidential or bool(incident and incident.confidential)
        existing = _existing_followups(d, pm)
        for item in items:
            member = d.lookup_member(item.owner) if item.owner else None
            owner_id = member.id if member else None
            iid = existing.get(item.key)
            if iid is None:
                iid = _open_followup(d, pm, incident, item, owner_id, confidential).iid
            gl.link_issues(pm.project_id, iid, pm.project_id, pm.iid)
            if incident is not None:
                gl.link_issues(pm.project_id, iid, incident.project_id, incident.iid)
            opened[item.key] = iid
            if (item.owner and owner_id is None) or (item.due and not item.due_valid):
                problems.append({"owner": item.owner if item.owner and owner_id is None else None,
                                 "due": item.due if item.due and not item.due_valid else None,
                                 "item": item.text, "iid": iid})
        if problems:
            # One note per set of items with problems; the key makes a retry find it.
            digest = hashlib.sha1(" ".join(sorted(p["item"] for p in problems)).encode()).hexdigest()[:12]
            body = d.render("postmortem_owners.md.j2", owners=[p for p in problems if p["owner"]],
                            dates=[p for p in problems if p["due"]])
            d.writer.post(Reply("action-problems", body), f"actions-{digest}", internal=d.internal)
        if waiting and not reply:
            # One note per set of waiting items, so a retry finds it; `actions` says it in its reply.
            digest = hashlib.sha1(" ".join(i.key for i in waiting).encode()).hexdigest()[:12]
            body = d.render("postmortem_actions_capped.md.j2", new=new, cap=cap, waiting=len(waiting),
                            prefix=d.cfg.prefix)
            d.writer.post(Reply("actions-capped", body), f"actions-capped-{digest}", internal=d.internal)
        # Re-read just before writing, so a person's edit made meanwhile is kept.
        fresh = gl.get_issue(pm.project_id, pm.iid)
        text = link_items(fresh.description, opened)
        if text != fresh.description:
            d.writer.issue = gl.update_issue(pm.project_id, pm.iid, description=text)
    if reply:
        status = action_status(parse_actions(d.writer.issue.description), d.now.date())
        body = d.render("postmortem_actions.md.j2", opened=sorted(set(opened.values())),
                        total=sum(len(v) for v in status.values()), waiting=len(waiting), cap=cap,
                        prefix=d.cfg.prefix)
        d.writer.post(Reply("actions", body), key, internal=d.internal)


def sync_actions_reply(d: "Delivery", key: str) -> None:
    sync_actions(d, key, reply=True)


# -- a follow-up closed or reopened ---------------------------------------------------------------
def action_state(d: "Delivery", key: str) -> None:
    issue = d.issue
    if d.cfg.labels["postmortem_action"] not in issue.labels:
        return
    ref = action_of(issue.description)
    if ref is None or ref[0] != issue.project_id or issue.author.get("id") != d.bot.get("id"):
        return
    pm = d.gl.get_issue(ref[0], ref[1])
    text = tick_item(pm.description, issue.iid, done=issue.state == "closed")
    if text != pm.description:
        d.gl.update_issue(pm.project_id, pm.iid, description=text)


# -- a line ticked or unticked in the postmortem -------------------------------------------------
def action_ticks(d: "Delivery", key: str) -> None:
    """Close the follow-ups whose lines are ticked, reopen those unticked. Only the bot's own follow-ups of
    this postmortem (one listing gives their states); their close and reopen come back as the bot's own
    changes, which tick nothing again."""
    if not _is_postmortem(d):
        return
    pm, gl = d.issue, d.gl
    wanted = {i.issue_iid: i.done for i in parse_actions(pm.description) if i.issue_iid is not None}
    for issue in own_issues(d, pm.project_id, d.cfg.labels["postmortem_action"], pm.created_at):
        ref = action_of(issue.description)
        done = wanted.get(issue.iid)
        if done is None or not ref or ref[:2] != (pm.project_id, pm.iid):
            continue
        if done != (issue.state == "closed"):
            gl.update_issue(pm.project_id, issue.iid, state_event="close" if done else "reopen")
            log.info("follow-up #%s %s from postmortem #%s", issue.iid, "closed" if done else "reopened", pm.iid)


# -- /incident status on a postmortem ------------------------------------------------------------
def postmortem_status(d: "Delivery", key: str) -> None:
    pm = d.issue
    today = d.now.date()
    ref = postmortem_of(pm.description)
    body = d.render("postmortem_status.md.j2", postmortem={"iid": pm.iid, "title": pm.title},
                    incident_iid=ref[1] if ref and ref[0] == pm.project_id else None, today=today.isoformat(),
                    status=action_status(parse_actions(pm.description), today))
    d.writer.post(Reply("status", body), key, internal=d.internal)


JOBS = {
    "postmortem": create_postmortem,
    "postmortem_actions": sync_actions,
    "postmortem_actions_reply": sync_actions_reply,
    "action_state": action_state,
    "action_ticks": action_ticks,
    "postmortem_status": postmortem_status,
}
