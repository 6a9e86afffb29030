"""Release checklists in the description block, ticked by people. Pure.

A released role's checklist is written into the block (the role holder can edit the description, and
so tick its task items; a note's items only its author and Maintainers can tick). The bot rewrites the
block on every write, so it first reads which items are ticked in the description as it is now, and
writes them ticked again: an item is known by its role (the marker line above it) and its text.
"""

from __future__ import annotations

import re

from .markers import BEGIN, END, checklist_marker, checklist_role

# A task item as GitLab toggles it: `- [ ] text` <-> `- [x] text` (also `*`, `+`, `1.` lists).
_ITEM = re.compile(r"^(\s{0,3}(?:[-*+]|\d{1,9}[.)])\s+\[)([ xX])(\]\s+)(.*?)\s*$")


def ticked_items(description: str | None) -> set[tuple[str, str]]:
    """(role, item text) of every ticked item of a checklist in the block."""
    text = description or ""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return set()
    ticked, role = set(), None
    for line in text[start:end].split("\n"):
        role = checklist_role(line) or role
        m = _ITEM.match(line)
        if role and m and m.group(2) in "xX":
            ticked.add((role, m.group(4)))
    return ticked


def checklists(rendered: dict[str, str], ticked: set[tuple[str, str]]) -> str:
    """The checklists for the block: each role's rendered checklist under its marker line, with the
    items people ticked ticked again."""
    parts = []
    for role, text in rendered.items():
        lines = [checklist_marker(role)]
        for line in text.strip().split("\n"):
            m = _ITEM.match(line)
            if m and (role, m.group(4)) in ticked:
                line = f"{m.group(1)}x{m.group(3)}{m.group(4)}"
            lines.append(line)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
