"""Drills and CSAT: what a simulation exercise changes in what the bot writes, and CSAT scores. Pure.

A drill behaves exactly like an incident, except that every note says DRILL in its heading and reminders
page only the people holding a role in it (never the issue's author or anyone else outside it).
"""

from __future__ import annotations

import re
from dataclasses import replace

from .state import IncidentState

DRILL_LABEL = "drill"
_HEADING = re.compile(r"^(#{1,6} )(?!DRILL)", re.MULTILINE)
CSAT_SCALE = "1 to 5 (5 = 100%, 4 = 80%, ...) or a percentage such as 92%"
_SCORE = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*(%|/\s*5)?\s*$")


def is_drill(state: IncidentState | None, labels) -> bool:
    """The state decides once there is one: the label counts only when a Developer declares, since
    anyone who may label (a Reporter) could otherwise silence a live incident's pages."""
    if state is not None:
        return bool(state.drill)
    return DRILL_LABEL in (labels or ())


def mark_drill(body: str) -> str:
    """DRILL in the note's first heading, or a DRILL heading before a note that has none."""
    if _HEADING.search(body):
        return _HEADING.sub(r"\1DRILL - ", body, count=1)
    if body.lstrip().startswith(("## DRILL", "# DRILL")):
        return body
    return "## DRILL\n\n" + body


def says_drill(body: str) -> bool:
    """Whether a note the bot wrote was a drill's: its first heading is one `mark_drill` made (person
    text comes after the heading, so it cannot make the first one)."""
    first = next((line for line in (body or "").split("\n") if line.startswith("#")), "")
    return bool(re.match(r"#{1,6} DRILL\b", first))


def csat_percent(text: str) -> tuple[float, str] | None:
    """(percentage, as given) for '4', '4/5', '92%' or '92'; None when it is not a score. A bare number
    from 1 to 5 is the 1-5 scale; a bare number above 5 up to 100 is a percentage."""
    m = _SCORE.match(text or "")
    if not m:
        return None
    value, unit = float(m.group(1)), (m.group(2) or "").replace(" ", "")
    if unit == "/5" or (not unit and value <= 5):
        if not (1 <= value <= 5):
            return None
        return round(value / 5 * 100, 1), f"{value:g}/5"
    if not 0 <= value <= 100:
        return None
    return round(value, 1), f"{value:g}%"


def csat_average(state: IncidentState) -> float | None:
    scores = [c["pct"] for c in state.csat]
    return round(sum(scores) / len(scores), 1) if scores else None


def drill_reminders(state: IncidentState, reminders: list) -> list:
    """A drill's reminders mention only the people holding a role in it: nobody outside is paged."""
    holders = {r.username for r in state.roles.values() if r.username}
    return [replace(r, mentions=tuple(m for m in r.mentions if m in holders)) for r in reminders]
