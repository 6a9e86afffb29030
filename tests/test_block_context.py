"""Rewriting the state block must not change how GitLab reads the person's text around it.

Found by tests/test_quick_actions_property.py (a random example, so it failed one run in several): a
person's `<div>` line just above the block opens an HTML block that hides their `/close` below it;
the bot's block holds blank lines, which end that HTML block, and GitLab 16.7+ then ran `/close`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from bot.render import Renderer, incident_context
from bot.state import IncidentState, render_block, write_block
from sandbox.extractor import GENERATIONS, extract

KEY = "k" * 32
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def block(update_count: int = 1) -> str:
    s = IncidentState(status="active", severity=2, detected_at=NOW, update_count=update_count)
    table = Renderer(None).render("state_table.md.j2", incident=incident_context(s, iid=7, title="t", now=NOW))
    return render_block(s, table, KEY)


def new_commands(before: str, after: str) -> dict:
    return {g: dict(Counter((c.name, c.args) for c in extract(after, g))
                    - Counter((c.name, c.args) for c in extract(before, g))) for g in GENERATIONS}


def test_a_block_inside_a_persons_html_block_is_not_rewritten_in_place():
    description = "<div>\n<!-- incident-bot:begin -->\n<!-- incident-bot:end -->\n/close\n"
    first = write_block(description, block())
    assert new_commands(description, first) == {g: {} for g in GENERATIONS}
    second = write_block(first, block(2))
    assert new_commands(description, second) == {g: {} for g in GENERATIONS}


def test_a_block_after_a_blank_line_is_still_replaced_in_place():
    description = write_block("Reported by customers.\n", block())
    again = write_block(description, block(2))
    assert again.count("incident-bot:begin") == 1 and again.endswith("Reported by customers.\n")
