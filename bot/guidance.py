"""What to tell a person whose command cannot run where they wrote it. Pure.

A command is never dropped in silence: a typo'd verb gets the closest verb, and a command on an issue
that is not an incident (or an incident command on a postmortem) gets one reply saying what the issue
is and what would work there.
"""

from __future__ import annotations

import difflib

from .config import Config
from .markers import postmortem_of
from .records import Issue


def closest_verb(verb: str, verbs: list[str]) -> str | None:
    """The known verb a typo most likely meant ("updte" -> "update"), or None when none is close."""
    found = difflib.get_close_matches(verb.lower(), verbs, n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_verb_message(verb: str, verbs: list[str]) -> str:
    guess = closest_verb(verb, verbs)
    hint = f" (did you mean `{guess}`?)" if guess else ""
    return f"'{verb}' is not a command{hint}"


def not_here(issue: Issue, cfg: Config, postmortem_verbs: list[str]) -> tuple[str, list[str]]:
    """(message, what works) for commands that cannot run on this issue, decided from its labels as
    GitLab holds them when the delivery is processed."""
    if cfg.labels["postmortem"] in issue.labels:
        of = postmortem_of(issue.description)
        where = f" (#{of[1]})" if of and of[0] == issue.project_id else ""
        return ("this issue is an incident's postmortem, so incident commands do not run here; write them "
                f"on the incident itself{where}",
                [*postmortem_verbs, "help"])
    return ("this issue is not an incident, so that command does not run here; declare it first",
            ["declare sev1|sev2|sev3", "help"])
