"""The incident state's vocabulary and JSON shape: roles, statuses, severities, and a type check for
every field that :meth:`bot.state.IncidentState.from_json` reads.

Pure. The state comes back from an issue description anyone who can edit the issue can change (and the
signature may be absent): each check raises ValueError naming the field, never a crash later on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from .timeutil import parse_time

# The framework's vocabulary, in its order: every module that lists roles, statuses or severities uses these.
ROLES = ("cmoc", "smoc", "imoc")
STATUSES = ("active", "mitigated", "resolved")
SEVERITIES = (1, 2, 3)

# How many handled command keys to remember; older keys are covered by the note markers.
HANDLED_KEEP = 200

# Facts that may be recorded as "given only in internal notes" (their values never enter the block).
INTERNAL_FACTS = ("tickets", "findings")

# What reports recorded for the postmortem (impact reports, the technical handoff, resource allocations):
# each kind keeps its last FINDINGS_KEEP distinct texts, each at most 200 characters.
FINDING_KINDS = ("segments", "regions", "workarounds", "allocations")
FINDINGS_KEEP = 10

TIME_FIELDS = ("detected_at", "initial_update_at", "last_update_at", "next_update_due", "mitigated_at",
               "resolved_at", "region_since")


@dataclass
class Role:
    username: str
    id: int | None = None


# -- type checks for from_json (each raises ValueError naming the field) ---------------------------
# GitLab usernames: letters, digits, '_', '.', '-', not starting with '-'. `all` is GitLab's mention of
# every member, never a person.
_USERNAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}")


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


def _opt_int(minimum: int):
    return lambda value, name: None if value is None else _int(value, name, minimum=minimum)


def _str(value: Any, name: str, limit: int = 200) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a string of at most {limit} characters")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    return None if value is None else _str(value, name)


def valid_username(value: Any) -> bool:
    return isinstance(value, str) and bool(_USERNAME.fullmatch(value)) and value.lower() != "all"


def _username(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not valid_username(value):
        raise ValueError(f"{name} must be a GitLab username")
    return value


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(_str(value, name, 40))
    except ValueError as exc:
        raise ValueError(f"{name} must be an ISO 8601 time") from exc


def _status(value: Any, name: str) -> str:
    if value not in STATUSES:
        raise ValueError(f"{name} must be active, mitigated or resolved")
    return value


def _severity(value: Any, name: str) -> int:
    if _int(value, name, minimum=1) > 3:
        raise ValueError(f"{name} must be 1, 2 or 3")
    return value


def _roles(value: Any, name: str) -> dict[str, Role]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    roles = {}
    for role, holder in value.items():
        if role not in ROLES or not isinstance(holder, dict):
            raise ValueError(f"{name}: unknown role {role!r} or holder not an object")
        username = _username(holder.get("username"), f"{name}.{role}.username")
        if username is None:
            raise ValueError(f"{name}.{role}.username is missing")
        roles[role] = Role(username, _opt_int(1)(holder.get("id"), f"{name}.{role}.id"))
    return roles


def _records(*keys: str):
    """A list of objects whose known keys hold ints, ISO strings or short strings."""
    def check(value: Any, name: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or len(value) > 10_000:
            raise ValueError(f"{name} must be a list")
        out = []
        for item in value:
            if not isinstance(item, dict):
                raise ValueError(f"{name} must hold objects")
            if "internal" in keys and item.get("internal") is True:
                out.append({"internal": True})  # given in an internal note: counted, never described
                continue
            record = {}
            for key in keys:
                v = item.get(key)
                if key == "internal":
                    if v is not None:
                        raise ValueError(f"{name}.internal must be true")
                elif key == "n":
                    record[key] = _int(v, f"{name}.n")
                else:
                    record[key] = _opt_str(v, f"{name}.{key}")
            out.append(record)
        return out
    return check


def _reminders(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 40
                                              for k, v in value.items()):
        raise ValueError(f"{name} must map strings to times")
    return dict(value)


def _handled(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(k, str) and len(k) <= 200 for k in value):
        raise ValueError(f"{name} must be a list of strings")
    return list(value[-HANDLED_KEEP:])


def _findings(value: Any, name: str) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not all(
            kind in FINDING_KINDS and isinstance(texts, list) and len(texts) <= FINDINGS_KEEP
            and all(isinstance(t, str) and len(t) <= 200 for t in texts) for kind, texts in value.items()):
        raise ValueError(f"{name} must map {', '.join(FINDING_KINDS)} to short lists of text")
    return {kind: list(texts) for kind, texts in value.items()}


def _internal_only(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(fact in INTERNAL_FACTS for fact in value):
        raise ValueError(f"{name} must list facts given only in internal notes")
    return list(value)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _csat(value: Any, name: str) -> list[dict[str, Any]]:
    """CSAT scores as percentages (0-100) with what was given ("4/5", "92%"), when and by whom."""
    records = _records("given", "at", "by", "comment")(value, name)
    for item, record in zip(value, records, strict=True):
        pct = item.get("pct")
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100:
            raise ValueError(f"{name}.pct must be a number from 0 to 100")
        record["pct"] = pct
    return records


def _release_checks(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or any(role not in ROLES for role in value):
        raise ValueError(f"{name} must map roles to user names")
    return {role: _username(holder, f"{name}.{role}") for role, holder in value.items()}


CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "status": _status,
    "severity": _severity,
    **{name: _time for name in TIME_FIELDS},
    "roles": _roles,
    "region": lambda v, n: None if v is None else _str(v, n, 64),
    "author": _username,
    "update_count": _int,
    "updates": _records("n", "at", "due"),
    "handoffs": _records("from", "to", "at", "internal"),
    "timeline": _records("at", "what"),
    "findings": _findings,
    "tickets": _opt_int(0),
    "peak_tickets": _opt_int(0),
    "postmortem_iid": _opt_int(1),
    "reminders": _reminders,
    "handled": _handled,
    "internal_only": _internal_only,
    "drill": _bool,
    "csat": _csat,
    "release_checks": _release_checks,
}
