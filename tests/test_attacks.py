"""Attacks on issue 12's guarantees found by a security review after the first fixes.

Each test asserts the secure outcome and failed on the code it was written against; the two still
open are marked xfail (strict, so they fail loudly once fixed).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def rworld(make_world):
    """GitLab up to 16.6: the regex extractor."""
    return make_world("regex")



# -- 1. The bot's block, put on top of a person's description, runs the person's hidden commands ---------
# Up to 16.6 GitLab's regex tries "inline code on separate rows" (`^.*` + "`" ... a line ending in "`")
# at every line start, and `.` crosses lines. In the person's text alone, the first line is a ``` fence,
# which the regex takes first; the `<p>` ... `</p>` HTML block then hides the commands. Once the bot puts
# its block above, the regex starts at the block's first line, runs "inline code" from there to the line
# "trace`" (inside the HTML block), and the lines after it are commands again: new to the text, so GitLab
# runs them as the bot. An outsider writes the description (a pasted log); a Developer declares.
LOG_DESCRIPTION = ("```\nERROR in `sso`\n```\n<p>\nstack trace`\n/close\n/label ~hacked\n/confidential\n</p>\n")


def test_block_on_top_of_a_fenced_log_runs_nothing(rworld):
    gworld = rworld
    gworld.sb.store.ensure_label(gworld.pid, "hacked")
    iid = gworld.create_issue(who="outsider", description=LOG_DESCRIPTION)
    assert gworld.bot_commands() == [] and gworld.issue(iid)["state"] == "opened"
    gworld.comment(iid, "/incident declare sev2")
    issue = gworld.issue(iid)
    assert gworld.bot_commands() == []
    assert issue["state"] == "opened"
    assert "hacked" not in issue["labels"] and not issue["confidential"]


# -- 2. Linking an action item (" → #iid" appended to its line) runs a person's hidden command ------------
# Up to 16.6 a line ending in "`" closes "inline code on separate rows". Action items whose lines end in a
# backtick hide the line between them; the bot appends " → #12" to both, the span no longer closes, and
# `/close` is new to the text: GitLab runs it as the bot on the postmortem. Written by a Reporter (whose
# edit the bot refuses to act on); any Developer's later `/incident actions` (or edit) sets it off.
def resolved_postmortem(world):
    iid = world.create_issue()
    world.comment(iid, "/incident declare sev2")
    world.comment(iid, "/incident resolve\nsummary: rolled back\n")
    pm_iid = world.state(iid).postmortem_iid
    assert pm_iid
    return iid, pm_iid


def add_to_actions(world, pm_iid, text, who):
    desc = world.issue(pm_iid)["description"]
    head, rest = desc.split("### Follow-up Actions\n", 1)
    world.edit_issue(pm_iid, who=who, description=head + "### Follow-up Actions\n" + text + rest)


def test_linking_action_items_runs_nothing(rworld):
    world = rworld
    _, pm_iid = resolved_postmortem(world)
    add_to_actions(world, pm_iid, "- [ ] Rotate the `sso` keys `\n/close\n/label ~hacked\n"
                                  "- [ ] Alert on `saml` errors `\n", who="rita")
    world.sb.store.ensure_label(world.pid, "hacked")
    assert world.bot_commands() == [] and world.issue(pm_iid)["state"] == "opened"
    world.comment(pm_iid, "/incident actions", who="alice")
    pm = world.issue(pm_iid)
    assert "→ #" in pm["description"]  # the bot linked the items
    assert world.bot_commands() == []
    assert pm["state"] == "opened" and "hacked" not in pm["labels"]


# -- 3. A `next:` time past the calendar's edge crashes the delivery instead of an error reply ---------
# parse_time's astimezone(UTC) raises OverflowError for 9999-12-31T23:59:59-14:00 (or 0001-01-01 with
# +14:00); parse_next catches only ValueError, so validate_fields raises it, run_command does not catch it,
# and the delivery fails into retries (holding the incident's lane) instead of answering once.
EDGE_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("value", EDGE_TIMES)
def test_next_at_the_calendar_edge_is_a_field_error(value):
    from bot.fields import FieldError, validate_fields

    with pytest.raises(FieldError):
        validate_fields("update", {"next": value})


def test_next_at_the_calendar_edge_gets_one_error_reply(world):
    iid = world.declare()
    before = len(world.bot_notes(iid))
    world.comment(iid, f"/incident update\nsummary: ok\nnext: {EDGE_TIMES[0]}\n")
    notes = world.bot_notes(iid)
    assert len(notes) == before + 1 and "I did not run this" in notes[-1]["body"]


# -- 4. A webhook timestamp past the calendar's edge answers 500 (not 400) ------------------------------
def test_webhook_timestamp_at_the_calendar_edge_is_a_400(tmp_path):
    import json as _json

    from test_app import NOTE, make, post

    client, queue = make(tmp_path)
    payload = _json.loads(NOTE)
    payload["object_attributes"]["note"] = "/incident status"
    payload["object_attributes"]["created_at"] = EDGE_TIMES[0]
    payload["object_attributes"]["updated_at"] = EDGE_TIMES[0]
    response = post(client, _json.dumps(payload))
    assert response.status_code == 400


# -- 5. A Reporter resolves (or downgrades) an incident through the rebuild --------------------------
# Status labels are no trigger, so a Reporter may set `incident::resolved` (and drop the severity label)
# unchallenged; breaking the state's signature (any edit of the block) then makes the bot rebuild the state,
# and rebuild_state takes status and severity from those labels. The bot's own notes say the incident was
# never resolved (no `kind=resolved` note); a Developer's next command or the cadence pass writes the
# Reporter's status back, signed. `/incident resolve` is refused to this Reporter.
def test_a_reporter_cannot_resolve_or_downgrade_through_labels_and_a_rebuild(world):
    iid = world.create_issue("outsider", title="Checkout errors", description="Customers report errors.")
    world.comment(iid, "/incident declare sev1", who="alice")
    world.comment(iid, "/incident resolve", who="rita")
    assert "Sorry, I can't do that" in world.last_reply(iid)
    labels = [lb for lb in world.issue(iid)["labels"] if not lb.startswith(("incident::", "severity::"))]
    world.edit_issue(iid, who="rita", labels=",".join(labels + ["incident::resolved"]))
    description = world.issue(iid)["description"]
    world.edit_issue(iid, who="rita", description=description.replace('"status":"active"', '"status":"activ"'))
    world.comment(iid, "/incident status", who="alice")
    state = world.state(iid)
    assert state.status == "active" and state.severity == 1
    assert "incident::active" in world.issue(iid)["labels"]


# -- 7. Markers a person places inside an HTML block: the bot's blank lines end it (16.7+) -------------
# The person's description holds an empty block (the bot's own marker lines, zero-width lead included)
# inside `<div>` ... `</div>`. CommonMark's HTML block (type 6) runs to the first blank line, so the commands
# under the markers are HTML, not paragraphs. write_block finds the markers replaceable and splices in the
# real block, whose blank lines end the HTML block: `/close` becomes part of a top-level paragraph, new to
# the text, run as the bot. Outsider writes the description; a Developer declares.
ZWSP = "\u200b"
DIV_DESCRIPTION = (f"Customers report errors.\n\n<div>\n{ZWSP}<!-- incident-bot:begin -->\n"
                   f"{ZWSP}<!-- incident-bot:end -->\n/close\n/label ~hacked\n</div>\n")


@pytest.mark.parametrize("description", ["DIV", "LIST"])
def test_block_replacing_markers_in_html_or_a_list_runs_nothing(make_world, description):
    world = make_world("commonmark")
    world.sb.store.ensure_label(world.pid, "hacked")
    iid = world.create_issue(who="outsider", description=DESCRIPTIONS[description])
    assert world.bot_commands() == [] and world.issue(iid)["state"] == "opened"
    world.comment(iid, "/incident declare sev2")
    issue = world.issue(iid)
    assert world.state(iid).severity == 2
    assert world.bot_commands() == []
    assert issue["state"] == "opened" and "hacked" not in issue["labels"]


# -- 8. An unknown command word goes to the logs ----------------------------------------------------------
# The verb is whatever word follows `/incident`; process_note_event logs it (`command %s handled`, the
# `command` context field, and the `handled: ...` outcome). test_confidential's check passes only because
# it looks for "Fnordwhistle" while the bot logs the lower-cased "fnordwhistle".
def test_an_unknown_command_word_is_not_logged(world, captured_logs):
    iid = world.declare()
    world.comment(iid, "/incident acme-corp-card-4111111111111111")
    assert "I did not run this" in world.last_reply(iid)
    logged = "\n".join(captured_logs)
    assert "handled" in logged
    assert "4111111111111111" not in logged


# -- 9. The postmortem's status reply mentions whatever owner a person wrote: `@all` ----------------------
# Forged role holders named `all` are refused (state.valid_username), but an action item's owner is never
# checked before postmortem_status.md.j2 writes it as a mention: a Reporter's `- [ ] ... @all` line makes
# the bot's next status reply on the postmortem notify every member of the project.
def test_status_reply_on_a_postmortem_does_not_mention_all(world):
    _, pm_iid = resolved_postmortem(world)
    add_to_actions(world, pm_iid, "- [ ] Tell everyone @all\n", who="rita")
    world.comment(pm_iid, "/incident status", who="alice")
    reply = world.last_reply(pm_iid)
    assert "Tell everyone" in reply
    assert "@all" not in reply


# -- 10. Linking an action item breaks a table and runs its rows (16.7+) ----------------------------------
# The bot's item regex takes any whitespace after the bullet (`\s+`), so "-<NBSP>[ ] a | b |" is an action
# item to the bot but, to CommonMark, the header row of a two-column table whose rows (`/close`) are table
# cells, not paragraphs. link_items appends " → #iid" after the last pipe: three cells against a two-cell
# delimiter row, no table any more, and the rows are a top-level paragraph: `/close` is new, run as the bot.
def test_linking_an_item_that_heads_a_table_runs_nothing(make_world):
    world = make_world("commonmark")
    _, pm_iid = resolved_postmortem(world)
    world.sb.store.ensure_label(world.pid, "hacked")
    add_to_actions(world, pm_iid, "-\u00a0[ ] Rotate the keys | owner |\n|---|---|\n/close\n/label ~hacked\n\n",
                   who="rita")
    assert world.bot_commands() == [] and world.issue(pm_iid)["state"] == "opened"
    world.comment(pm_iid, "/incident actions", who="alice")
    pm = world.issue(pm_iid)
    # Read as GitLab reads it (bot/markdown.py), the line heads a table, not a task list: nothing to
    # link; and whatever the bot writes, no line of it starts with "/".
    assert world.bot_commands() == []
    assert pm["state"] == "opened" and "hacked" not in pm["labels"]


# -- 11. Replaying an older signed block of the same issue -------------------------------------------------
# The signature binds the state to the issue, not to a moment: anyone who can edit the description (here its
# author, who is not a member) pastes back a block the bot signed earlier on this issue (GitLab keeps every
# description version), and it verifies. The outsider thereby undoes a Developer's `severity sev1`.
@pytest.mark.xfail(strict=True, reason="open: the signature binds the issue, not the moment; a rollback to an "
                   "older block of the bot's needs a version checked against the bot's notes (next session)")
def test_an_older_signed_block_of_the_same_issue_is_not_trusted(world):
    iid = world.create_issue("outsider", title="Checkout errors", description="Customers report errors.")
    world.comment(iid, "/incident declare sev3", who="alice")
    old = world.issue(iid)["description"]
    world.comment(iid, "/incident severity sev1", who="alice")
    assert world.state(iid).severity == 1
    world.edit_issue(iid, who="outsider", description=old)
    world.comment(iid, "/incident status", who="alice")
    assert world.state(iid).severity == 1
    assert "severity::1" in world.issue(iid)["labels"]


def test_an_outsiders_title_does_not_make_the_bot_mention_all(world):
    """The incident title (the outsider's) heads every template the bot posts: `@all` in it notifies the
    whole project again with every update, as the bot."""
    iid = world.create_issue("outsider", title="Checkout down @all", description="Customers report errors.")
    world.comment(iid, "/incident declare sev2", who="alice")
    reply = world.bot_notes(iid)[0]["body"]
    assert "Checkout down" in reply
    assert "@all" not in reply


# -- 13. A large description makes every webhook of the issue a 413: the project's hook gets disabled -------
# GitLab sends the issue's description in every Issue and Note Hook of that issue (twice more in `changes`
# when it is edited), and takes descriptions up to 1,048,576 characters; the bot refuses bodies over
# max_body_bytes (1 MiB) with 413. An outsider's 1,000,000-character description (a pasted log) makes the
# bot refuse every delivery about the issue: commands on it are lost, and each refusal is a failure GitLab
# counts against the hook (4 in a row: disabled for the whole project, 40: for good). The outsider can
# produce the failures alone, by commenting on their own issue.
def test_a_large_description_does_not_make_deliveries_fail(world):
    iid = world.create_issue("outsider", description="Logs:\n" + "x" * 1_000_000)
    world.comment(iid, "/incident declare sev2", who="alice")
    statuses = [d.get("status") for d in world.sb.deliveries]
    assert statuses and all(s is not None and s < 400 for s in statuses), statuses
    labels = world.issue(iid)["labels"]
    assert "incident" in labels and "severity::2" in labels


# -- 14. A description at GitLab's 1 MB limit: the bot can never write its block, nor the labels -----------
# GitLab refuses a description over 1,048,576 characters (Issuable DESCRIPTION_LENGTH_MAX; the sandbox does
# not model it, so this test adds it). With no room left for the block, and labels, assignees and close in
# the same PUT, a Developer's declare posts its note and then fails for good: no incident label, no
# severity, no state; every later command the same. Deliveries are run by hand here (past the 413 above).
DESCRIPTION_MAX = 1_048_576


def test_a_description_at_the_limit_still_lets_a_developer_declare(world):
    world.deliver_by_hand()
    start = len(world.sb.deliveries)
    iid = world.create_issue("outsider", description="Logs:\n" + "x" * (DESCRIPTION_MAX - 200))
    world.comment(iid, "/incident declare sev2", who="alice")
    try:
        world.process(start)
    except Exception as exc:  # the delivery fails: what the worker would retry, then keep as dead
        failure = exc
    else:
        failure = None
    labels = world.issue(iid)["labels"]
    assert failure is None and "incident" in labels and "severity::2" in labels
    assert "too long" in world.last_reply(iid)  # said once, and why
    again = len(world.sb.deliveries)
    world.comment(iid, "/incident severity sev1", who="alice")
    world.process(again)  # the next command works from the bot's notes, since no block could be kept
    assert "severity::1" in world.issue(iid)["labels"]


# -- 15. Markers around a list item (the second case of the test at 7): the text after the block leaves the list
# An empty block the person wrote (the bot's marker lines) holding a list item: the end marker and the
# `/close` after it are lazy continuation lines of that list item, so not top-level paragraphs. The bot
# replaces the block in place; its block ends with the end-marker paragraph and no blank line, so `/close`
# now continues a top-level paragraph: new to the text, run as the bot. (`/close` would not run for the
# outsider at creation either: it is inside the list item.) Outsider writes the description; a Developer declares.
LIST_DESCRIPTION = (f"Customers report errors.\n\n{ZWSP}<!-- incident-bot:begin -->\n\n- affected: checkout\n"
                    f"{ZWSP}<!-- incident-bot:end -->\n/close\n/label ~hacked\n")


DESCRIPTIONS = {"DIV": DIV_DESCRIPTION, "LIST": LIST_DESCRIPTION}



# -- 16. A membership that is still awaiting approval counts as access ---------------------------------
# GitLab's members API gives a member awaiting approval (user cap, seat approval) their would-be
# `access_level` with `membership_state: "awaiting"`; such a member has no access. access_level() checks
# only the user's `state`, so an awaiting "Developer" (who may comment on a public project like anyone)
# declares incidents. The sandbox does not model awaiting members; this test adds it.
def test_an_awaiting_member_is_refused(world):
    from sandbox import DEVELOPER

    paula = world.sb.add_user("paula")
    world.sb.add_member(world.pid, paula["id"], DEVELOPER, membership_state="awaiting")
    iid = world.create_issue("outsider", title="Checkout errors", description="Customers report errors.")
    world.comment(iid, "/incident declare sev1", who="paula")
    assert "incident" not in world.issue(iid)["labels"]
    assert "Sorry, I can't do that" in world.last_reply(iid)
