"""Who may steer the bot: access levels read from GitLab, their names, and a short cache of allowed levels.

A level that lets a person run commands is kept for `ttl` seconds per project and user, so a burst of
commands reads it once. A refusal is never kept: a person given access a moment ago is let in at once,
and nobody is let in on a level that was not read from GitLab.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

from .events import Actor
from .gitlab import GitLab
from .state import Role

if TYPE_CHECKING:  # pragma: no cover
    from .session import Services

LEVEL_NAMES = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, f"level {level}")


class AccessCache:
    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._allowed: dict[tuple[int, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, project_id: int, user_id: int) -> int | None:
        """The cached level, or None when it must be read."""
        key = (project_id, user_id)
        with self._lock:
            entry = self._allowed.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._allowed[key]
                return None
            return entry[1]

    def remember(self, project_id: int, user_id: int, level: int | None, min_level: int) -> None:
        key = (project_id, user_id)
        with self._lock:
            if level is None or level < min_level:
                self._allowed.pop(key, None)
            else:
                self._allowed[key] = (self._clock() + self.ttl, level)


def member_level(services: "Services", gl: GitLab, project_id: int, user_id: int) -> int | None:
    cached = services.access.get(project_id, user_id)
    if cached is not None:
        return cached
    level = gl.access_level(project_id, user_id)
    services.access.remember(project_id, user_id, level, services.cfg.min_access_level)
    return level


def actor_level(services: "Services", gl: GitLab, project_id: int, actor: Actor) -> int | None:
    user_id = actor.id
    if user_id is None and actor.username:
        found = gl.find_user(actor.username)
        user_id = found["id"] if found else None
    return member_level(services, gl, project_id, user_id) if user_id is not None else None


def find_member(services: "Services", gl: GitLab, project_id: int, username: str) -> Role | None:
    """A project member by user name (any access level), or None."""
    user = gl.find_user(username)
    level = member_level(services, gl, project_id, user["id"]) if user else None
    return Role(user["username"], user["id"]) if level else None
