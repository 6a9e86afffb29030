"""Every hidden marker the bot writes (``<!-- incident-bot:... -->``): how it is built and how it is read.

Pure. Markers let the bot find its own writing again: the note markers stop a retried delivery or a
second scheduled run from posting twice; the state block's markers delimit what the bot owns in a
description; the postmortem and follow-up markers link issues to each other. Person text can never
forge one (bot/neutralize.py escapes ``<!--``), and callers still check who wrote what they find.
"""

from __future__ import annotations

import re
from datetime import date

from .timeutil import parse_day

# -- reply and reminder notes: `<!-- incident-bot:note kind=update n=3 key=... -->` -------------------
_NOTE = re.compile(r"<!-- incident-bot:note ([^<>]*?) -->")


def note_marker(kind: str, key: str, n: int | None = None, **extra: str) -> str:
    parts = [f"kind={kind}"]
    if n is not None:
        parts.append(f"n={n}")
    parts += [f"{k}={v}" for k, v in extra.items()]
    parts.append(f"key={key}")
    return f"<!-- incident-bot:note {' '.join(parts)} -->"


def parse_note_marker(body: str) -> dict[str, str] | None:
    m = _NOTE.search(body or "")
    if not m:
        return None
    return dict(part.split("=", 1) for part in m.group(1).split() if "=" in part)


# -- the state block in an incident's description ---------------------------------------------------
BEGIN = "<!-- incident-bot:begin -->"
END = "<!-- incident-bot:end -->"
# The state comment reads `<!-- incident-bot:state hmac-sha256=<hex> {json} -->`.
STATE_PREFIX = "<!-- incident-bot:state "
STATE_SUFFIX = " -->"
SIG_PREFIX = "hmac-sha256="
# The marker lines start with an invisible zero-width space: a line that starts with `<` opens an HTML
# block for GitLab's quick-action extractor (up to 16.6: from `<tag>` to any later `</tag>` line), and
# a person's `</x>` line would end it, changing what GitLab reads as code in the person's text. Blocks
# written before (markers at column 0) are still read and replaced.
LEAD = "\u200b"

# -- a postmortem names its incident; a follow-up issue names its postmortem and action item ----------
_POSTMORTEM_OF = re.compile(r"<!-- incident-bot:postmortem-of project=(\d{1,18}) iid=(\d{1,18}) -->")
_ACTION_OF = re.compile(r"<!-- incident-bot:action-of project=(\d{1,18}) postmortem=(\d{1,18}) "
                        r"key=([\w\-]{1,64}) -->")


# GitLab's issue search never finds these (full-text search does not index HTML comments): the bot lists
# its own issues by exact filters and reads the marker itself (bot/followups.py).
def postmortem_marker(project_id: int, incident_iid: int) -> str:
    return f"<!-- incident-bot:postmortem-of project={project_id} iid={incident_iid} -->"


def postmortem_of(description: str | None) -> tuple[int, int] | None:
    """(project id, incident iid) from a postmortem's marker. Only the first marker counts."""
    m = _POSTMORTEM_OF.search(description or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def action_marker(project_id: int, postmortem_iid: int, key: str) -> str:
    return f"<!-- incident-bot:action-of project={project_id} postmortem={postmortem_iid} key={key} -->"


def action_of(description: str | None) -> tuple[int, int, str] | None:
    """(project id, postmortem iid, item key) from a follow-up issue's marker."""
    m = _ACTION_OF.search(description or "")
    return (int(m.group(1)), int(m.group(2)), m.group(3)) if m else None


# -- the last day an overdue follow-up issue was reminded, kept in its description ------------------
_REMINDED = re.compile(r"<!-- incident-bot:action-reminded (\d{4}-\d{2}-\d{2}) -->")


def reminded_on(description: str | None) -> date | None:
    """The last day a follow-up issue was reminded (kept in its description, so the check reads nothing else)."""
    m = _REMINDED.search(description or "")
    return parse_day(m.group(1)) if m else None  # anyone who can edit the follow-up can write 2026-99-99


def mark_reminded(description: str | None, today: date) -> str:
    """Record today's reminder in the follow-up's description; only the bot's marker line changes."""
    text = description or ""
    line = f"<!-- incident-bot:action-reminded {today.isoformat()} -->"
    if _REMINDED.search(text):
        return _REMINDED.sub(line, text, count=1)
    return text.rstrip("\n") + "\n\n" + line + "\n"


# -- the period report issue (`incident-bot report --post-issue`) names its period ----------------------
_REPORT = re.compile(r"<!-- incident-bot:report period=(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2}) -->")


def report_marker(since: date, until: date) -> str:
    return f"<!-- incident-bot:report period={since.isoformat()}..{until.isoformat()} -->"


def report_period(description: str | None) -> str | None:
    """'YYYY-MM-DD..YYYY-MM-DD' from a report issue's marker."""
    m = _REPORT.search(description or "")
    return f"{m.group(1)}..{m.group(2)}" if m else None


# The names the rest of the bot knows these by.
marker, parse_marker = note_marker, parse_note_marker


# -- a release checklist in the block: `<!-- incident-bot:checklist role=cmoc -->` above its items -------
_CHECKLIST = re.compile(r"<!-- incident-bot:checklist role=(cmoc|smoc|imoc) -->")


def checklist_marker(role: str) -> str:
    return f"<!-- incident-bot:checklist role={role} -->"


def checklist_role(line: str) -> str | None:
    m = _CHECKLIST.search(line)
    return m.group(1) if m else None
