"""One comment, one reply for its roles: a comment that assigns several roles (`/incident cmoc me`,
`/incident smoc @bob`, ...), with or without a `declare` before them, gets one reply instead of one per
command. Pure: the caller runs the commands against the state as it grows and applies what this returns.

A declare's Initial Status Update stays a note of its own (it is meant to be pasted to customers as it
is); its guidance for the team (the engagement criteria, an internal note) takes the role lines, and
names only the roles still to engage. The merged reply's marker lists every role change
(`role=cmoc,smoc user=alice,bob`), which a rebuild reads as it reads one.
"""

from __future__ import annotations

from typing import Callable

from .routing import Effects, Reply
from .state import IncidentState

ROLE_VERBS = ("cmoc", "smoc", "imoc")
SUPPORT_ROLES = ("cmoc", "smoc")  # the roles the framework gives engagement criteria for


def batches(verbs: list[str]) -> list[list[int]]:
    """Indexes of the commands, grouped: a run of role commands (after a declare, or not) is one group;
    every other command is a group of its own."""
    groups: list[list[int]] = []
    for i, verb in enumerate(verbs):
        if verb in ROLE_VERBS and groups and verbs[groups[-1][-1]] in ROLE_VERBS + ("declare",):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def guidance(render: Callable[..., str], state: IncidentState | None) -> Reply | None:
    """The engagement criteria for the support roles nobody holds yet, as an internal note."""
    roles = [r for r in SUPPORT_ROLES if state is None or r not in state.roles]
    if not roles:
        return None
    return Reply("guidance", render("engagement_criteria.md.j2", roles=roles), internal=True)


def merge(results: list[Effects], render: Callable[..., str]) -> Effects:
    """The effects of one group, as one: customer-facing notes kept apart, the rest in one reply."""
    state = next((e.state for e in reversed(results) if e.state is not None), None)
    replies = [r for e in results for r in e.replies]
    apart = [r for r in replies if r.kind == "initial"]
    declared = any(r.kind == "guidance" for r in replies)
    rest = [r for r in replies if r.kind not in ("initial", "guidance")]
    changes = [r.extra for r in rest if r.kind == "role" and "role" in r.extra]
    bodies = [r.body for r in rest]
    if declared:
        note = guidance(render, state)
        if note is not None:
            bodies.append(note.body)
    merged: list[Reply] = list(apart)
    if bodies:
        extra = {"role": ",".join(c["role"] for c in changes), "user": ",".join(c["user"] for c in changes)} \
            if changes else {}
        merged.append(Reply("role" if changes else ("guidance" if declared and not rest else rest[0].kind),
                            "\n\n".join(bodies), extra=extra, internal=declared))
    return Effects(merged, state, close=any(e.close for e in results), reopen=any(e.reopen for e in results),
                   followups=[f for e in results for f in e.followups])
