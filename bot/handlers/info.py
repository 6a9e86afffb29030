"""Read-only commands: status and help. Help is generated from the command registry."""

from __future__ import annotations

from ..fields import VERB_FIELDS
from ..guidance import closest_verb
from ..routing import CommandRefused, CommandRegistry, Context, Effects, Reply
from .common import incident

commands = CommandRegistry()


def describe(spec) -> dict:
    return {
        "verb": spec.verb,
        "usage": spec.usage,
        "summary": spec.summary,
        "fields": [{"name": f.name, "help": f.help, "kind": f.kind, "choices": list(f.choices)}
                   for f in VERB_FIELDS.get(spec.verb, ())],
    }


@commands.command("status", usage="status", summary="Show the incident's state.")
def show_status(ctx: Context, args: tuple[str, ...], fields: dict) -> Effects:
    state = ctx.new_state()
    return Effects([Reply("status", ctx.render("status.md.j2", incident=incident(ctx, state)))])


@commands.command("help", usage="help [command]", summary="List the commands, or one command's fields.",
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
        body = ctx.render("help.md.j2", commands=[describe(s) for s in registry.specs()], prefix=ctx.cfg.prefix)
    return Effects([Reply("help", body)])
