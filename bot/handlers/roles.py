"""Assigning and releasing the CMOC, SMOC and IMOC roles."""

from __future__ import annotations

import re

from ..batch import SUPPORT_ROLES
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply
from ..state import ROLES

commands = CommandRegistry()

_USERNAME = re.compile(r"^@?([A-Za-z0-9_][A-Za-z0-9_.\-]*)$")
ROLE_WORDS = ["@username", "me", "release"]


def named_users(commands) -> list[str]:
    """Users that role commands name (`smoc @bob`), at most 3: looked up with the delivery's first reads."""
    names: list[str] = []
    for cmd in commands:
        if cmd.verb in ROLES and len(cmd.args) == 1 and cmd.args[0].lower() not in ("me", "release"):
            m = _USERNAME.match(cmd.args[0])
            if m and m.group(1) not in names:
                names.append(m.group(1))
    return names[:3]


def change_role(ctx: Context, role: str, args: tuple[str, ...]) -> Effects:
    title = role.upper()
    if len(args) != 1:
        raise CommandRefused(f"say who holds the {title} role", ROLE_WORDS)
    state = ctx.new_state()
    word = args[0]
    if word.lower() == "release":
        holder = state.holder(role)
        if holder is None:
            raise CommandRefused(f"no {title} is engaged", [f"{role} @username", f"{role} me"])
        del state.roles[role]
        # Who released whose role. For the support roles the framework's release checklist goes in the
        # description block: a note's task items only its author and Maintainers can tick.
        if role in SUPPORT_ROLES:
            state.release_checks[role] = holder
        body = ctx.render("role_released.md.j2", role=title, username=holder, by=ctx.actor,
                          checklist=role in SUPPORT_ROLES)
        return Effects([Reply("role", body, extra={"role": role, "user": "-"})], state)

    if word.lower() == "me":
        username = ctx.actor
    else:
        m = _USERNAME.match(word)
        if not m:
            raise CommandRefused(f"'{word}' is not a user", ROLE_WORDS)
        username = m.group(1)
    member = ctx.lookup_member(username) if username else None
    if member is None:
        raise CommandRefused(f"@{username} is not a member of this project", ["a project member's @username"])
    previous = state.holder(role)
    if previous == member.username:
        raise CommandRefused(f"@{previous} already holds the {title} role", ROLE_WORDS)
    state.roles[role] = member
    # No engagement criteria here: they say when to engage a role, and this one is engaged now.
    state.release_checks.pop(role, None)  # a new holder: the last one's release checklist is done with
    body = ctx.render("role_assigned.md.j2", role=title, username=member.username, previous=previous)
    return Effects([Reply("role", body, extra={"role": role, "user": member.username})], state)


def _register(role: str, summary: str) -> None:
    @commands.command(role, usage=f"{role} @username|me|release", summary=summary)
    def handler(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
        return change_role(ctx, role, args)

    handler.__name__ = f"assign_{role}"


_register("cmoc", "Assign or release the Communications Manager On-call.")
_register("smoc", "Assign or release the Support Manager On-call.")
_register("imoc", "Record or release the Incident Manager On-call.")
