"""The one place that composes every handler module. Read the bot's features from these lists."""

from __future__ import annotations

from . import followups
from .handlers import csat, declare, info, labels, lifecycle, postmortem, reports, roles, severity, updates
from .routing import CommandRegistry, Router

# Every handler module, in the order its commands appear in `help`.
HANDLER_MODULES = (declare, severity, roles, updates, reports, lifecycle, labels, csat, info, postmortem)

COMMANDS = CommandRegistry(
    declare.commands,
    severity.commands,
    roles.commands,
    updates.commands,
    reports.commands,
    lifecycle.commands,
    csat.commands,
    info.commands,
)

ROUTER = Router(
    declare.router,
    severity.router,
    lifecycle.router,
    labels.router,
    postmortem.router,
)

# Verbs on a postmortem issue (no incident state there): process.run_command looks here first.
POSTMORTEM_COMMANDS = CommandRegistry(postmortem.postmortem_commands)
# What `help` lists on a postmortem: its own verbs, and help.
POSTMORTEM_HELP = CommandRegistry(postmortem.postmortem_commands, info.help_commands)

# Jobs with I/O that run after a handler's state is written, by name (Effects.followups).
FOLLOWUPS: dict = dict(followups.JOBS)
