"""Read-only commands: status and help. Help is generated from the command registry."""

from __future__ import annotations

from ..fields import VERB_FIELDS
from ..guidance import closest_verb
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply
from .common import incident

status_commands = CommandRegistry()
help_commands = CommandRegistry()  # also answers on a postmortem (bot/wiring.py POSTMORTEM_HELP)


def example(usage: str) -> str:
    """A command line to copy: each required argument's first choice, and an optional one that is a
    choice ("handoff amer|emea|apac" -> "handoff amer", "declare [sev1|sev2|sev3]" -> "declare sev1")."""
    words = []
    for word in usage.split():
        optional = word.startswith("[") and word.endswith("]")
        if optional and "|" not in word:
            continue
        words.append(word.strip("[]").split("|")[0])
    return " ".join(words)


def describe(spec) -> dict:
    return {
        "verb": spec.verb,
        "example": example(spec.usage),
        "usage": spec.usage,
        "summary": spec.summary,
        "fields": [{"name": f.name, "help": f.help, "kind": f.kind, "choices": list(f.choices)}
                   for f in VERB_FIELDS.get(spec.verb, ())],
    }


@status_commands.command("status", usage="status", summary="Show the incident's state.")
def show_status(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    state = ctx.new_state()
    return Effects([Reply("status", ctx.render("status.md.j2", incident=incident(ctx, state)))])


@help_commands.command("help", usage="help [command]", summary="List the commands, or one command's fields.",
                  needs_incident=False)
def show_help(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    registry = ctx.commands
    if args:
        spec = registry.get(args[0].lower().lstrip("/"))
        if spec is None:
            guess = closest_verb(args[0].lstrip("/"), registry.verbs())
            raise CommandRefused(f"there is no command '{args[0]}'" + (f" (did you mean `{guess}`?)" if guess else ""),
                                 registry.verbs())
        body = ctx.render("help_verb.md.j2", command=describe(spec), prefix=ctx.cfg.prefix)
    else:
        body = ctx.render("help.md.j2", commands=[describe(s) for s in registry.specs()], prefix=ctx.cfg.prefix,
                          postmortem=ctx.state is None and ctx.cfg.labels["postmortem"] in ctx.labels)
    return Effects([Reply("help", body)])


commands = CommandRegistry(status_commands, help_commands)
