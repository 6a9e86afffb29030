"""Attacks on issue 12's guarantees found by a second security review (after the changes to issue-event
trust, the one Markdown reader, the rebuild's markers and `no_quick_actions`).

Each test asserts the secure outcome and fails on the code it was written against.
"""

from __future__ import annotations

import pytest
from test_attacks import add_to_actions, resolved_postmortem


# -- 1. A Reporter's postmortem edit is credited to the last Developer who edited it -------------------
# GitLab records no "changed the description" note for an edit that ticks or unticks any task item
# (Issuable::CommonSystemNotesService#handle_description_change_note: only "marked the checklist item
# ... as completed"), whatever else the edit changed. bot/issue_claims.py `_edit_claim` takes the newest
# "changed the description" note as the editor, so a Reporter who ticks one box and adds action items in
# the same edit is judged as the Developer who edited before: the bot opens, assigns and links the
# Reporter's follow-up issues (the Developer-only `actions`).
def test_reporter_edit_that_ticks_a_box_is_not_credited_to_a_developer(world):
    _, pm_iid = resolved_postmortem(world)
    add_to_actions(world, pm_iid, "- [ ] Add a runbook for SSO @alice\n", who="alice")
    desc = world.issue(pm_iid)["description"]
    assert "→ #" in desc  # alice's item got its follow-up
    ticked = desc.replace("- [ ] Add a runbook for SSO", "- [x] Add a runbook for SSO", 1)
    head, rest = ticked.split("### Follow-up Actions\n", 1)
    first, _, tail = rest.partition("\n")
    world.edit_issue(pm_iid, who="rita", description=head + "### Follow-up Actions\n" + first + "\n"
                     + "- [ ] Grant rita maintainer access @rita due:2026-12-31\n" + tail)
    notes = [n["body"] for n in world.sb.notes(world.pid, pm_iid) if n["system"]]
    assert any(b.startswith("marked the checklist item") for b in notes)  # GitLab's record of rita's edit
    pm = world.issue(pm_iid)
    assert "Grant rita" in pm["description"]
    line = next(ln for ln in pm["description"].splitlines() if "Grant rita" in ln)
    assert "→ #" not in line, "the bot opened a Reporter's follow-up as if a Developer had added it"


# -- 2. A Reporter moves the incident to another region (a Developer's `handoff`) ----------------------
# The region is recorded only in the signed state and the region label: no note marker of the bot names
# it. A Reporter breaks the state's signature (anyone who can edit the issue can) and swaps the region
# label (Reporters set labels). The next delivery rebuilds the state (bot/rebuild.py), which takes the
# region from the labels, and signs it: the Reporter's handoff is now the incident's state.
def test_a_reporter_cannot_move_the_incident_through_a_rebuild(world):
    iid = world.declare()
    regions = [r.lower() for r in world.cfg.regions]
    start = world.state(iid).region
    target = next(r for r in regions if r.upper() != start)
    other = next(r for r in regions if r.upper() not in (start, target.upper()))
    world.comment(iid, f"/incident handoff {target}\nactive_tickets: 3\n")
    assert world.state(iid).region == target.upper()
    desc = world.issue(iid)["description"]
    i = desc.index("hmac-sha256=") + len("hmac-sha256=")
    broken = desc[:i] + ("0" if desc[i] != "0" else "1") + desc[i + 1:]
    world.edit_issue(iid, who="rita", description=broken, labels=",".join(
        [label for label in world.issue(iid)["labels"] if not label.startswith("region::")] + [f"region::{other}"]))
    world.comment(iid, "/incident update\nsummary: still rolling back\n")
    assert world.state(iid).region == target.upper(), "a Reporter's label moved the incident"


# -- 3. A command inside a multi-line inline code span runs ------------------------------------------
# GitLab renders "`" ... "`" across lines as one code span (CommonMark), and its own quick-action
# extractor skips it in both generations (the sandbox's oracle agrees). bot/markdown.py reads block
# structure only (inline rules disabled), so the middle line is a paragraph line and runs as a command:
# a Developer explaining what to type later resolves the incident now.
INLINE_CODE_NOTES = ["Once the graphs are green, type `\n/incident resolve\nsummary: rolled back`",
                     "The runbook says, once the graphs are green: ``\n/incident resolve\n``"]


@pytest.mark.parametrize("body", INLINE_CODE_NOTES)
def test_a_command_in_a_multiline_code_span_is_not_a_command(body):
    from bot.commands import has_command, parse_commands
    from sandbox.extractor import extract

    for generation in ("regex", "commonmark"):
        assert extract(body.replace("/incident resolve", "/close"), generation) == []  # GitLab: code
    assert not has_command(body, "/incident")
    assert parse_commands(body, "/incident") == []


def test_a_command_in_a_multiline_code_span_resolves_nothing(world):
    iid = world.declare()
    world.comment(iid, INLINE_CODE_NOTES[0])
    assert world.state(iid).status == "active"
    assert world.issue(iid)["state"] == "opened"


# -- 4. `@all` at the end of a sentence (or after ".", "-", a non-ASCII letter) still notifies everyone --
# GitLab finds a user reference with `(?<!\w)@` and a username that ends in [A-Za-z0-9_-]
# (User.reference_pattern, Gitlab::PathRegex::NAMESPACE_FORMAT_REGEX; Ruby's \w is ASCII). So "@all."
# mentions `all` (the "." is not part of a username), and so do "e.g.@all", "-@all", "т@all" (Cyrillic).
# bot/neutralize.py's `_ALL_MENTION` skips "@all" when a "." or "-" follows or precedes it, or any Unicode
# letter precedes it: the bot reposts the person's `@all` and notifies every member, as the bot.
_GITLAB_MENTION = __import__("re").compile(
    r"(?<![A-Za-z0-9_])@([A-Za-z0-9_.][A-Za-z0-9_\-.]*[A-Za-z0-9_\-]|[A-Za-z0-9_])")
ALL_MENTIONS = ["Heads up @all.", "Status for @all...", "cc: support-@all", "see e.g.@all", "Привет@all"]


def gitlab_mentions(text: str) -> list[str]:
    return [m.group(1) for m in _GITLAB_MENTION.finditer(text)]


@pytest.mark.parametrize("text", ALL_MENTIONS)
def test_neutralized_text_mentions_nobody_as_all(text):
    from bot.neutralize import neutralize

    assert "all" in gitlab_mentions(text)  # GitLab would notify every member for the raw text
    assert "all" not in gitlab_mentions(neutralize(text))


def test_an_update_summary_ending_in_at_all_does_not_notify_everyone(world):
    iid = world.declare()
    world.comment(iid, "/incident update\nsummary: Rolled back, thanks @all.\n")
    body = world.bot_notes(iid)[-1]["body"]
    assert "Rolled back" in body
    assert "all" not in gitlab_mentions(body)


def test_an_outsiders_title_ending_in_at_all_does_not_notify_everyone(world):
    # The title is in every template's heading: an outsider's issue, declared by a Developer.
    iid = world.create_issue(who="outsider", title="SSO down for @all.")
    world.comment(iid, "/incident declare sev2")
    body = world.reply(iid, "initial")
    assert "SSO down" in body
    assert "all" not in gitlab_mentions(body)


# -- 5. A Reporter's status label or reopen is refused and undone ----------------------------------------
# DESIGN.md: adding a status label and reopening stand for commands (`mitigate`/`resolve`, `reopen`), so
# below the level the bot refuses and undoes them (bot/handlers/labels.py, lifecycle.py).
def test_a_reporters_status_label_is_refused_and_undone(world):
    iid = world.declare()
    labels = [label for label in world.issue(iid)["labels"] if not label.startswith("incident::")]
    world.edit_issue(iid, who="rita", labels=",".join(labels + ["incident::resolved"]))
    issue = world.issue(iid)
    assert "incident::resolved" not in issue["labels"] and "incident::active" in issue["labels"]


def test_a_reporters_reopen_of_a_resolved_incident_is_refused_and_undone(world):
    iid = world.declare()
    world.comment(iid, "/incident resolve\nsummary: rolled back\n")
    assert world.issue(iid)["state"] == "closed"
    world.edit_issue(iid, who="rita", state_event="reopen")
    assert world.issue(iid)["state"] == "closed"


# -- 6. A `>>>` line inside a fenced code block in a `>>>` quote ends the quote for the bot only ---------
# GitLab's BlockquoteFenceFilter (every version that has one: `>>>`, then code blocks taken whole, then
# the closing `>>>`) and the sandbox's extractor oracle keep a fenced block inside a `>>>` quote whole, so
# a `>>>` line inside the fence does not close the quote. bot/markdown.py `_multiline_quotes` closes the
# quote at that line ("even inside a fence within the quote"), so the rest reads as top-level text: a
# quoted log or runbook excerpt resolves the incident.
QUOTED_FENCE = ">>>\nFrom the runbook:\n```\n>>>\n/incident resolve\n```\n>>>\n"


def test_a_command_in_a_fence_inside_a_multiline_quote_is_not_a_command():
    from bot.commands import has_command, parse_commands
    from sandbox.extractor import extract

    gitlab_text = QUOTED_FENCE.replace("/incident resolve", "/close")
    assert extract(gitlab_text, "commonmark") == [] and extract(gitlab_text, "regex") == []
    assert not has_command(QUOTED_FENCE, "/incident")
    assert parse_commands(QUOTED_FENCE, "/incident") == []


def test_a_command_in_a_fence_inside_a_multiline_quote_resolves_nothing(world):
    iid = world.declare()
    world.comment(iid, QUOTED_FENCE)
    assert world.state(iid).status == "active"
    assert world.issue(iid)["state"] == "opened"


# -- 7. Settings GitLab or the bot cannot honour are accepted ----------------------------------------
# bot/config_schema.py takes any non-empty string as a label or prefix. GitLab label titles cannot hold a
# comma (the bot joins add_labels/remove_labels with ","), so `incident: "incident,confidential"` makes
# every declare add two labels, one of them unmanaged, and the incident label is never recognised again;
# a line break or the same label for two meanings (postmortem == incident) breaks routing; a prefix that
# is a GitLab quick action (`/close`) makes every command the commenter types run in GitLab too.
BAD_SETTINGS = ['labels:\n  incident: "incident,confidential"\n',
                'labels:\n  postmortem: "a\\nb"\n',
                'labels:\n  postmortem: incident\n',
                'command_prefix: "/close"\n']


@pytest.mark.parametrize("settings", BAD_SETTINGS)
def test_settings_gitlab_cannot_honour_are_refused(settings, tmp_path):
    from bot.config import load_config
    from bot.config_schema import ConfigError

    path = tmp_path / "config.yml"
    path.write_text(settings)
    env = {"GITLAB_URL": "http://gitlab.invalid", "GITLAB_TOKEN": "t", "INCIDENT_BOT_WEBHOOK_SECRET": "s"}
    with pytest.raises(ConfigError):
        load_config(str(path), env=env)
