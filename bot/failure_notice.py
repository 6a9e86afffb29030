"""When the bot gives up on a delivery (dead after an outage or a rate limit, or failed on a refused
call), one note on the issue says that the command was not carried out and why. The note is a delivery
of its own, queued after the one given up on (same lane): it waits for GitLab to answer again (and is
dropped if that delivery was replayed meanwhile), and its marker makes a retry post it once.
"""

from __future__ import annotations

import logging
import re
import uuid

from .events import NoteEvent, event_from_dict
from .executor import IssueWriter
from .gitlab_errors import GitLabRefused
from .routing import Reply
from .session import Services

log = logging.getLogger("incident_bot.worker")

NOTICE_EVENT = "Failure Notice"
# How long a notice waits for GitLab to answer (or to take a fixed token) before it too is given up.
NOTICE_WAIT_MINUTES = 24 * 60
_TAG = re.compile(r"^\[(?:429|outage) x\d+\] ")


def notice_for(delivery: dict, status: str, error: str | None) -> dict | None:
    """The notice delivery to queue after `delivery` was given up on; None for a notice itself (it
    would only say the same again) or a delivery without an issue."""
    if delivery.get("notice") or not delivery.get("parsed") or not delivery.get("issue_key"):
        return None
    # One notice per time it is given up on: a replay that fails again says so again.
    notice_id = f"{delivery['id']}.notice-{uuid.uuid4().hex[:8]}"
    return {"id": notice_id, "dedupe_key": f"notice:{notice_id}", "issue_key": delivery["issue_key"],
            "event": NOTICE_EVENT, "wait_minutes": NOTICE_WAIT_MINUTES, "follows": delivery["id"],
            "notice": {"id": notice_id, "of": delivery["id"], "status": status, "error": error,
                       "parsed": delivery["parsed"]}}


def reason(status: str, error: str | None) -> str:
    """The delivery's last error, said for the people on the issue."""
    text = _TAG.sub("", error or "")
    tries = _TAG.match(error or "")
    if "answered 401" in text:
        return "GitLab refused the bot's access token (401)"
    if "answered 429" in text:
        return "GitLab kept refusing the bot's calls as too many (429)"
    if tries or text.startswith("RetryableError"):
        return f"GitLab could not be reached, or kept failing, until the bot gave up ({_detail(text)})"
    if status == "failed":
        return f"GitLab refused a call the bot made ({_detail(text)})"
    return "the bot kept failing on it (its log says why)"  # a bug's message may hold person text: not here


def _detail(text: str) -> str:
    detail = text.split(": ", 1)[-1] if text.startswith(("RetryableError", "PermanentError")) else text
    return detail[:200].replace("\n", " ") or "no detail"


def post_notice(services: Services, notice: dict) -> str:
    """Post the note, once. Raises the GitLab adapter's errors (the queue retries them)."""
    event = event_from_dict(notice["parsed"])
    ref = event.issue
    gl = services.connect(None)
    try:
        issue = gl.get_issue(ref.project_id, ref.iid)
    except GitLabRefused as exc:
        if exc.status == 404:
            return "ignored: the issue is gone or hidden"
        raise
    bot = services.identity(gl)
    link, internal = None, False
    if isinstance(event, NoteEvent):
        note = gl.get_note(ref.project_id, ref.iid, event.note_id)
        internal = note.internal if note is not None else True
        link = f"{issue.web_url}#note_{event.note_id}" if issue.web_url else None
    body = services.renderer.render("not_carried_out.md.j2", what="command" if link else "change", link=link,
                                    reason=reason(notice["status"], notice.get("error")),
                                    delivery_id=notice["of"])
    writer = IssueWriter(gl, services.cfg, services.renderer.render, issue, bot.get("username"),
                         services.clock(), since=getattr(event, "created_at", None) or getattr(event, "updated_at", None))
    # A command's notice names its note (`note-<id>-`), as the bot's replies do: a sync pass then takes the
    # note as answered and does not run what the notice says the bot will not try again.
    key = (f"note-{event.note_id}-" if isinstance(event, NoteEvent) else "") + f"failed-{notice['id']}"
    posted = writer.post(Reply("not-carried-out", body), key, internal=internal)
    return "posted: not carried out" if posted else "already posted: not carried out"
