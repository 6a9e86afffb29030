"""The shape of the settings file, and its check: every key at every level, every type and range.

Pure. :func:`check` walks what a person wrote (before it is merged with the defaults) against
:data:`SCHEMA` and raises :class:`ConfigError` naming the key path of the first problem
(``unknown setting 'queue.workerz'; valid: ...``). Nothing is silently replaced: a value out of range is
an error, not a default. Severity keys may be written ``1`` or ``"1"``; they come back as ints.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .state_schema import ROLES, SEVERITIES, STATUSES
from .timeutil import parse_clock

ACCESS_LEVELS = (10, 15, 20, 30, 40, 50)  # guest, planner, reporter, developer, maintainer, owner
_HHMM = re.compile(r"\d{1,2}:\d{2}")  # the shape; parse_clock checks the range


class ConfigError(ValueError):
    """The configuration file or environment is invalid."""


Check = Callable[[Any, str], Any]  # (value, key path) -> the value to keep; raises ConfigError


# -- leaf checks ------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def whole(minimum: int, maximum: int | None = None) -> Check:
    def check(value: Any, path: str) -> int:
        if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
            span = f"from {minimum} to {maximum}" if maximum is not None else f"of {minimum} or more"
            raise ConfigError(f"{path}: expected a whole number {span}, got {value!r}")
        return value
    return check


def number(minimum: float, *, above: bool = False, optional: bool = False) -> Check:
    """A number >= minimum (> minimum when above); None too when optional."""
    def check(value: Any, path: str) -> float | None:
        if value is None and optional:
            return None
        ok = (_is_int(value) or isinstance(value, float)) and (value > minimum if above else value >= minimum)
        if not ok:
            bound = f"more than {minimum}" if above else f"{minimum} or more"
            raise ConfigError(f"{path}: expected a number {bound}{' or null' if optional else ''}, got {value!r}")
        return value
    return check


def text(*, optional: bool = False) -> Check:
    def check(value: Any, path: str) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: expected a non-empty string{' or null' if optional else ''}, got {value!r}")
        return value
    return check


def one_of(*choices: Any) -> Check:
    def check(value: Any, path: str) -> Any:
        if value not in choices or isinstance(value, bool):
            raise ConfigError(f"{path}: expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    return check


def hhmm(value: Any, path: str) -> str:
    """'HH:MM' in 00:00-24:00 (24:00 is midnight)."""
    if not isinstance(value, str) or not _HHMM.fullmatch(value) or parse_clock(value, midnight_24=True) is None:
        quote = " (quote it: YAML reads an unquoted 07:00 as a number)" if _is_int(value) else ""
        raise ConfigError(f"{path}: expected a time HH:MM, got {value!r}{quote}")
    return value


def minutes_of(value: str) -> int:
    """'HH:MM' (checked by :func:`hhmm`) -> minutes after midnight, 24:00 being 0."""
    return parse_clock(value, midnight_24=True)


def projects(value: Any, path: str) -> list:
    if not isinstance(value, list) or not all(_is_int(p) or (isinstance(p, str) and p.strip()) for p in value):
        raise ConfigError(f"{path}: expected a list of project ids or paths, got {value!r}")
    return value


def region_name(name: Any, path: str) -> str:
    # The bot reads `handoff emea` and region labels as upper case: a lower-case name could never match.
    if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_-]*", name):
        hint = f" (did you mean {name.upper()}?)" if isinstance(name, str) and name.upper() != name else ""
        raise ConfigError(f"{path}: a region name is upper-case letters, digits, - or _{hint}")
    return name


# -- maps -------------------------------------------------------------------------------------------
def _mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {value!r}")
    return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def fields(spec: dict[str, Any]) -> Check:
    """A mapping with these keys only (each optional here: the defaults fill the rest)."""
    def check(value: Any, path: str) -> dict:
        out = {}
        for key, item in _mapping(value, path).items():
            if key not in spec:
                raise ConfigError(f"unknown setting '{_join(path, key)}'; valid: {', '.join(map(str, spec))}")
            out[key] = walk(spec[key], item, _join(path, key))
        return out
    return check


def by_severity(item: Check) -> Check:
    def check(value: Any, path: str) -> dict:
        out = {}
        for key, v in _mapping(value, path).items():
            sev = key if _is_int(key) else (int(key) if isinstance(key, str) and key.strip().isdigit() else None)
            if sev not in SEVERITIES:
                raise ConfigError(f"{_join(path, key)}: unknown severity; valid: 1, 2, 3")
            out[sev] = item(v, _join(path, key))
        return out
    return check


def regions(value: Any, path: str) -> dict:
    shifts = _mapping(value, path)
    if not shifts:
        raise ConfigError(f"{path}: expected at least one region with its shift")
    shape = fields({"start": hhmm, "end": hhmm})
    out = {}
    for name, shift in shifts.items():
        region_name(name, _join(path, name))
        out[name] = shape(shift, _join(path, name))
        for part in ("start", "end"):
            if part not in out[name]:
                raise ConfigError(f"{_join(path, name)}.{part}: missing")
    return out


def region_labels(value: Any, path: str) -> dict:
    out = {}
    for name, title in _mapping(value, path).items():
        region_name(name, _join(path, name))
        out[name] = label()(title, _join(path, name))
    return out


def walk(spec: Any, value: Any, path: str) -> Any:
    return fields(spec)(value, path) if isinstance(spec, dict) else spec(value, path)


_positive_minutes = whole(1)

# GitLab's own quick actions (doc/user/project/quick_actions.md): a prefix that is one would run in
# GitLab too, with the commenter's rights, every time someone types a bot command.
GITLAB_QUICK_ACTIONS = frozenset(
    "add_child add_contacts approve assign assign_reviewer award blocked_by blocks board_move cc checkin_reminder "
    "child clear_health_status clear_weight clone close confidential copy_metadata create_merge_request done draft "
    "due duplicate epic estimate exact health_status iteration label labels lock merge milestone move page parent "
    "promote promote_to promote_to_incident publish q react ready reassign reassign_reviewer rebase relabel relate "
    "remove_child remove_contacts remove_due_date remove_epic remove_estimate remove_iteration remove_label "
    "remove_milestone remove_parent remove_time_spent remove_zoom reopen request_review set_parent severity shrug "
    "spend status subscribe tableflip target_branch time_estimate timeline title todo type unapprove unassign "
    "unassign_reviewer unlabel unlink unlock unrelate unsubscribe weight zoom".split())


def label() -> Check:
    """A GitLab label title the bot can send: the API joins label lists with commas."""
    base = text()

    def check(value: Any, path: str) -> str:
        value = base(value, path)
        if "," in value or any(ch in value for ch in "\r\n\t\v\f\x85\u2028\u2029"):
            raise ConfigError(f"{path}: a label cannot hold a comma or a line break, got {value!r}")
        return value
    return check


def prefix(value: Any, path: str) -> str:
    value = text()(value, path)
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise ConfigError(f"{path}: one word without spaces, got {value!r}")
    if value.startswith("/") and value[1:].lower() in GITLAB_QUICK_ACTIONS:
        raise ConfigError(f"{path}: {value} is a GitLab quick action; GitLab would run it too (use /incident)")
    return value

def _or_null(check: Check) -> Check:
    return lambda value, path: None if value is None else check(value, path)


SCHEMA: dict[str, Any] = {
    "command_prefix": prefix,
    "default_severity": one_of(*SEVERITIES),
    "min_access_level": one_of(*ACCESS_LEVELS),
    "max_body_bytes": whole(1),
    "max_commands_per_note": whole(1),
    "max_action_items_per_edit": whole(1),
    "gitlab_timeout_seconds": number(0, above=True),
    "gitlab_rate_limits": {"notes": _or_null(whole(1)), "issues": _or_null(whole(1)),
                           "per_seconds": number(0, above=True)},
    "templates_dir": text(optional=True),
    "projects": projects,
    "labels": {
        "incident": label(),
        "severity": by_severity(label()),
        "status": {status: label() for status in STATUSES},
        "role": {role: label() for role in ROLES},
        "region": region_labels,
        "postmortem": label(),
        "postmortem_action": label(),
    },
    "cadence": {"active": by_severity(_positive_minutes), "mitigated": by_severity(_positive_minutes)},
    "response_target": by_severity(_positive_minutes),
    "regions": regions,
    "handoff_lead_minutes": whole(0),
    "role_release_after_hours": number(0, above=True),
    "stale_mitigation_hours": number(0, above=True),
    "sync": {"interval_seconds": number(0), "webhook_url": text(optional=True)},
    "queue": {
        "url": text(optional=True),
        "name": text(),
        "sqlite_path": text(),
        "sqlite_synchronous": one_of("FULL", "NORMAL"),
        "workers": whole(1),
        "dedupe_hours": number(0, above=True),
        "max_retries": whole(0),
        "retry_base_seconds": number(0, above=True),
        "retry_max_seconds": number(0, above=True),
        "retry_after_max_seconds": number(0),
        "lease_seconds": number(0, above=True),
        "poll_seconds": number(0, above=True),
        "done_retention_hours": number(0, optional=True),
        "rate_limit_retry_minutes": number(0),
        "min_free_mb": number(0),
        "outage_retry_minutes": number(0),
    },
}


def check(loaded: Any) -> dict:
    """What a person wrote -> the same settings, checked, with severity keys as ints."""
    return walk(SCHEMA, loaded, "")
