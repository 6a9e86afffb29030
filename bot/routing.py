"""Routers for issue triggers, the command registry, and what handlers get and return.

A handler module declares its triggers next to its handlers: `@router.trigger(name, stands_for=...)`
on a pure predicate over the parsed Issue Hook (does this change concern me?), `@router.register(name)`
on the handler. The composed router (bot/wiring.py) answers both the door (store this delivery?) and
the worker (which handlers run). Handlers are pure: they receive a `Context` (the issue, its state, the actor, the time, and a member
lookup) and return `Effects` (replies to post, the new state, whether to close). They raise
`CommandRefused` to refuse with a reason; nothing changes then.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from .config import Config
from .state import IncidentState, Role


class CommandRefused(Exception):
    def __init__(self, message: str, valid: Iterable[str] | None = None):
        super().__init__(message)
        self.message = message
        self.valid = list(valid) if valid is not None else None


@dataclass
class Reply:
    kind: str  # the marker's kind: initial, update, role, error, ...
    body: str
    n: int | None = None
    extra: dict = field(default_factory=dict)  # more marker fields (role=cmoc user=alice)
    internal: bool = False  # guidance for the team (criteria, checklists): an internal note, whatever the command


@dataclass
class Effects:
    replies: list[Reply] = field(default_factory=list)
    state: IncidentState | None = None  # the new state; None leaves the issue untouched
    close: bool = False
    reopen: bool = False
    # Named follow-up jobs with I/O that run after the state is written (e.g. "postmortem").
    followups: list[str] = field(default_factory=list)


@dataclass
class Context:
    cfg: Config
    render: Callable[..., str]
    iid: int
    title: str
    author: str | None
    state: IncidentState | None
    actor: str | None
    now: datetime
    lookup_member: Callable[[str], Role | None]
    labels: tuple[str, ...] = ()
    confidential: bool = False
    internal: bool = False  # the triggering note is internal (its facts stay out of public places)
    description: str = ""  # the issue's text (a postmortem's action items)
    issue_state: str = "opened"  # as GitLab holds it now ("opened" | "closed")
    commands: "CommandRegistry | None" = None  # the composed registry, for help
    event_at: datetime | None = None  # GitLab's time of the note or change being handled (not `now`)

    def new_state(self) -> IncidentState:
        """A copy to change; the context's own state stays as it was."""
        if self.state is None:
            raise CommandRefused("this issue is not an incident yet", ["declare"])
        return copy.deepcopy(self.state)


Handler = Callable[..., Effects]


@dataclass(frozen=True)
class CommandSpec:
    verb: str
    handler: Handler
    usage: str
    summary: str
    needs_incident: bool = True


class CommandRegistry:
    """Maps verbs to handlers; `help` is generated from it."""

    def __init__(self, *registries: "CommandRegistry"):
        self._specs: dict[str, CommandSpec] = {}
        for reg in registries:
            for spec in reg.specs():
                if spec.verb in self._specs:
                    raise ValueError(f"command {spec.verb!r} registered twice")
                self._specs[spec.verb] = spec

    def command(self, verb: str, *, usage: str, summary: str, needs_incident: bool = True):
        def decorate(fn: Handler) -> Handler:
            self._specs[verb] = CommandSpec(verb, fn, usage, summary, needs_incident)
            return fn

        return decorate

    def get(self, verb: str) -> CommandSpec | None:
        return self._specs.get(verb)

    def specs(self) -> list[CommandSpec]:
        return list(self._specs.values())

    def verbs(self) -> list[str]:
        return list(self._specs)


@dataclass(frozen=True)
class Trigger:
    name: str
    applies: Callable[[Any, Config], bool]  # (IssueEvent, cfg) -> does the payload claim this change?
    stands_for: str  # the command it stands for, as a refusal names it ("resolving an incident (closing it)")


class Router:
    """Maps issue-event triggers (incident_labeled, severity_labeled, closed, ...) to handlers."""

    def __init__(self, *routers: "Router"):
        self._routes: dict[str, list[Handler]] = {}
        self._triggers: dict[str, Trigger] = {}
        for r in routers:
            for trigger, handlers in r._routes.items():
                self._routes.setdefault(trigger, []).extend(handlers)
            for name, trig in r._triggers.items():
                if name in self._triggers:
                    raise ValueError(f"trigger {name!r} declared twice")
                self._triggers[name] = trig
        if routers and (undeclared := set(self._routes) - set(self._triggers)):
            # A handler nobody's trigger reaches would be dropped silently.
            raise ValueError(f"handlers registered for undeclared triggers: {sorted(undeclared)}")

    def trigger(self, name: str, *, stands_for: str):
        """Declare a trigger: the decorated `(event, cfg) -> bool` says whether a delivery claims it."""
        def decorate(fn: Callable[[Any, Config], bool]) -> Callable[[Any, Config], bool]:
            self._triggers[name] = Trigger(name, fn, stands_for)
            return fn

        return decorate

    def register(self, trigger: str):
        def decorate(fn: Handler) -> Handler:
            self._routes.setdefault(trigger, []).append(fn)
            return fn

        return decorate

    def handlers(self, trigger: str) -> list[Handler]:
        return list(self._routes.get(trigger, []))

    def triggers(self) -> list[str]:
        """Declared triggers, in the order they were composed."""
        return list(self._triggers)

    def triggers_for(self, event: Any, cfg: Config) -> list[str]:
        """The triggers an Issue Hook claims (pure: what the payload says, not yet checked with GitLab)."""
        return [t.name for t in self._triggers.values() if t.applies(event, cfg)]

    def stands_for(self, trigger: str) -> str:
        return self._triggers[trigger].stands_for
