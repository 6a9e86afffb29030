"""Attacks on issues 14-18 (sync, labels set by hand, reopen, ticks, CSAT and drills, the report, failure
notices) found by a third security review of the merged change.

Each test asserts the secure outcome and failed on the code it was written against.
"""

from __future__ import annotations

from bot.markers import parse_note_marker as parse_marker


# -- 1. A Reporter turns a real incident into a drill with a label -------------------------------------
# `is_drill` believed the `drill` label at any time, while the label is no command: a Reporter (who may set
# any label in GitLab) adds `drill` to a live SEV1, and from then on every note says DRILL, the cadence's
# reminders page nobody outside the role holders, and the report files the incident among the exercises.
# Only a Developer's declare (a `drill:` field, or the label already there when they declare) makes a drill.
def test_a_reporter_label_does_not_make_a_live_incident_a_drill(world):
    iid = world.declare(sev="sev1")
    labels = world.issue(iid)["labels"]
    world.edit_issue(iid, who="rita", labels=",".join(labels + ["drill"]))
    assert "drill" in world.issue(iid)["labels"]
    world.comment(iid, "/incident update\nsummary: still failing over\n")
    reply = world.reply(iid, "periodic_status_update") if "periodic_status_update" in world.kinds(iid) \
        else world.last_reply(iid)
    assert "DRILL" not in reply, "a Reporter's label silenced a live SEV1 as a drill"
    assert world.state(iid).drill is False
