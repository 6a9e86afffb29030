"""Property: whatever a person writes, nothing the bot posts holds a quick action, for either GitLab extractor.

Generated person text (fences of every kind, HTML blocks, `>>>`, inline code, CR/LF/Unicode separators,
the bot's markers, `/` lines) goes through every framework template (the `given`, `bullets`, `numbered`
filters), the error replies, the description block writer and the title sanitiser; both extractor
generations (sandbox.extractor, ported from GitLab) then run on the result. Pure: no HTTP. The four
tests draw 10,500 texts in all with PROPERTY_SCALE=1 (`make property`), 3% in `make test`.
"""

import os
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.commands import parse_commands
from bot.fields import FieldError, fields_for, validate_fields
from bot.neutralize import neutralize, no_quick_actions, one_line
from bot.render import TEMPLATE_FOR_VERB, Renderer, incident_context
from bot.state import IncidentState, Role, render_block, write_block
from sandbox.extractor import GENERATIONS, extract

KEY = "k" * 32  # the state key the blocks in these tests are signed with

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
RENDERER = Renderer()

PIECES = [
    "```", "````", "~~~", "~~~~", "```x```", "```python", "  ```", "   ```", "    ```", "``` ", "`", "``",
    "<div>", "</div>", "<p>", "</p>", "</x>", "<x>", "<!--", "-->", "<!-- incident-bot:begin -->",
    "<!-- incident-bot:end -->", "<!-- incident-bot:state {} -->", ">>>", ">>>>", "> ", "- ", "1. ",
    "/close", "/label ~x", "/title t", "/confidential", "/reopen", " /close", "\t/assign @a", "/shrug",
    "x", "text `code`", "a <b>", "", " ", "|", "\\", "#",
]
SEPARATORS = ["\n", "\n", "\n\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", ""]

person_text = st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), min_size=1,
                       max_size=14).map(lambda parts: "".join(p + s for p, s in parts))

FAST = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# `make test` draws 3% of the texts (each test stays under 3 s); `make property` draws them all.
SCALE = float(os.environ.get("PROPERTY_SCALE", "0.03"))


def examples(full: int) -> int:
    return max(50, int(full * SCALE))


def commands(text):
    return {g: [(c.name, c.args) for c in extract(text, g)] for g in GENERATIONS}


def assert_no_commands(text):
    assert commands(text) == {g: [] for g in GENERATIONS}, text


def fields_for_text(verb, text, other):
    values = {}
    for f in fields_for(verb):
        if f.kind == "list":
            values[f.name] = [text, other]
        elif f.kind == "text":
            values[f.name] = text if len(values) % 2 == 0 else other
        else:
            values[f.name] = None
    return values


def state(**kw):
    base = dict(status="active", severity=2, detected_at=NOW - timedelta(hours=1), roles={"cmoc": Role("alice", 1)},
                region="emea", last_update_at=NOW, next_update_due=NOW + timedelta(minutes=15), update_count=1)
    base.update(kw)
    return IncidentState(**base)


@settings(max_examples=examples(4000), **FAST)
@given(verb=st.sampled_from(sorted(TEMPLATE_FOR_VERB)), text=person_text, other=person_text)
def test_framework_templates_hold_no_quick_action(verb, text, other):
    ctx = dict(incident=incident_context(state(), iid=7, title=text, now=NOW), f=fields_for_text(verb, text, other),
               now=NOW)
    if verb == "handoff":
        ctx.update(handoff_from="EMEA", handoff_to="apac")
    if verb == "postmortem":
        ctx["summary"] = {"detected": text, "resolved": None, "duration": other, "time_to_first_update": None,
                          "updates_total": 1, "updates_on_time": 1, "peak_tickets": None,
                          "handoffs": [text], "resources": [other]}
    assert_no_commands(RENDERER.render(TEMPLATE_FOR_VERB[verb], **ctx))


def error_reply(verb, given_fields):
    try:
        validate_fields(verb, given_fields)
    except FieldError as exc:
        return RENDERER.render("error.md.j2", message=str(exc), valid=getattr(exc, "valid", None),
                               prefix="/incident")
    return None


@settings(max_examples=examples(2500), **FAST)
@given(text=person_text)
def test_error_replies_hold_no_quick_action(text):
    replies = [error_reply("update", {text or "x": 1}),  # unknown field name, echoed
               error_reply("update", {"tickets": text or "x"}),  # bad value, echoed
               error_reply("resources", {"queue_health": text or "x"}),
               error_reply("severity", {text or "x": text})]
    # The grammar's own errors (bad YAML...) and an unknown verb, as bot.process words them.
    replies += [RENDERER.render("error.md.j2", message=cmd.error, valid=None, prefix="/incident")
                for cmd in parse_commands("/incident update\n" + text) if cmd.error]
    replies.append(RENDERER.render("error.md.j2", message=f"'{text}' is not a command", valid=["declare"],
                                   prefix="/incident"))
    assert any(replies)
    for reply in filter(None, replies):
        assert_no_commands(reply)


@settings(max_examples=examples(2500), **FAST)
@given(description=person_text, name=person_text)
@example(description="/label ~x\r<!-- incident-bot:begin -->\n</x>\n/close", name="a")  # found by a run
def test_block_writer_adds_no_quick_action_to_a_description(description, name):
    """The description the bot sends (block written, then the adapter's last pass) holds no command at
    all: a person's line that GitLab did not run before might run once the bot's edit changes how
    GitLab reads the text around it, so none may be left."""
    s = state(roles={"cmoc": Role(one_line(name) or "a", 1)})
    table = RENDERER.render("state_table.md.j2", incident=incident_context(s, iid=7, title=name, now=NOW))
    first = no_quick_actions(write_block(description, render_block(s, table, KEY)))
    second = no_quick_actions(write_block(first, render_block(state(update_count=2), table, KEY)))
    for g in GENERATIONS:
        for text in (first, second):
            assert not extract(text, g), (g, text)


@settings(max_examples=examples(1500), **FAST)
@given(title=person_text)
def test_titles_are_one_line_and_hold_no_quick_action(title):
    clean = neutralize(one_line(title))
    assert not any(sep in clean for sep in ("\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"))
    assert_no_commands(clean)
    assert_no_commands(f"## Incident #7 - {clean}\n\n{clean}")
