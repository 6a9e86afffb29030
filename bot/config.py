"""Configuration: defaults live here, a YAML file overrides them, secrets come only from the environment."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "command_prefix": "/incident",
    "default_severity": 3,
    # GitLab access levels: 10 guest, 15 planner, 20 reporter, 30 developer, 40 maintainer, 50 owner.
    "min_access_level": 30,
    "max_body_bytes": 1024 * 1024,
    # Fan-out caps: what one comment or one edit may make the bot do. Past them the bot says so; the
    # rest is not lost (post the commands again; items are picked up by the next edit or `actions`).
    "max_commands_per_note": 10,
    "max_action_items_per_edit": 25,  # new follow-up issues per postmortem edit or `/incident actions`
    "gitlab_timeout_seconds": 10,  # per API call; a timeout is retried by the queue
    "templates_dir": None,
    "projects": [],
    "labels": {
        "incident": "incident",
        "severity": {1: "severity::1", 2: "severity::2", 3: "severity::3"},
        "status": {
            "active": "incident::active",
            "mitigated": "incident::mitigated",
            "resolved": "incident::resolved",
        },
        "role": {"cmoc": "cmoc::engaged", "smoc": "smoc::engaged"},
        "region": {"AMER": "region::amer", "EMEA": "region::emea", "APAC": "region::apac"},
        "postmortem": "postmortem",
        "postmortem_action": "postmortem::action",
    },
    # Minutes between status updates, from GitLab's CMOC handbook guideline.
    "cadence": {
        "active": {1: 10, 2: 15, 3: 15},
        "mitigated": {1: 30, 2: 60, 3: 60},
    },
    # Minutes from detection to the Initial Status Update.
    "response_target": {1: 15, 2: 30, 3: 120},
    # Shift hours in UTC ("HH:MM"); a shift may cross midnight. The order is the handoff order.
    "regions": {
        "APAC": {"start": "23:00", "end": "07:00"},
        "EMEA": {"start": "07:00", "end": "15:00"},
        "AMER": {"start": "15:00", "end": "23:00"},
    },
    "handoff_lead_minutes": 30,
    "role_release_after_hours": 24,
    "stale_mitigation_hours": 24,
    "queue": {
        "url": None,  # redis://host:6379/0 for several processes; None means the embedded SQLite file
        "name": "incident-bot",  # the Redis key prefix: processes sharing a queue use the same name
        "sqlite_path": "incident-bot-queue.db",
        # FULL: an accepted delivery survives a power cut; NORMAL: only the bot being killed.
        "sqlite_synchronous": "FULL",
        "workers": 4,
        "dedupe_hours": 24,
        "max_retries": 5,
        "retry_base_seconds": 2.0,
        "retry_max_seconds": 300.0,
        "retry_after_max_seconds": 300.0,  # GitLab's Retry-After is honoured up to this, then retried
        "lease_seconds": 60.0,  # a worker that dies loses its delivery after this long
        "poll_seconds": 1.0,  # how often idle workers look for deliveries stored by another process
        "done_retention_hours": None,  # None: as long as the dedupe window
    },
}


class ConfigError(ValueError):
    """The configuration file or environment is invalid."""


def _merge(base: dict, override: dict, top: bool = True) -> dict:
    """Deep-merge override into base. Unknown top-level settings are an error (a typo should not pass silently);
    nested maps such as regions may gain keys."""
    out = copy.deepcopy(base)
    # regions are replaced whole: a team with two shifts must not inherit the third.
    for key, value in override.items():
        if top and key not in base:
            raise ConfigError(f"unknown setting '{key}'; valid: {', '.join(sorted(base))}")
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "regions":
            out[key] = _merge(base[key], value, top=False)
        else:
            out[key] = value
    return out


def _int_keys(mapping: dict, what: str) -> dict[int, Any]:
    try:
        return {int(k): v for k, v in mapping.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: severity keys must be 1, 2 or 3") from exc


def _hhmm(value: Any, what: str) -> int:
    """'HH:MM' -> minutes after midnight."""
    try:
        h, m = str(value).split(":")
        minutes = int(h) * 60 + int(m)
    except ValueError as exc:
        raise ConfigError(f"{what}: expected HH:MM, got {value!r}") from exc
    if not (0 <= int(h) <= 24 and 0 <= int(m) < 60) or minutes > 24 * 60:
        raise ConfigError(f"{what}: expected HH:MM, got {value!r}")
    return minutes % (24 * 60)


@dataclass
class Config:
    gitlab_url: str = "http://127.0.0.1"
    gitlab_token: str | None = None
    webhook_secret: str | None = None
    signing_token: str | None = None
    queue_url: str | None = None
    # Signs the state in issue descriptions; None: bot/statekey.py generates one beside the queue store.
    state_key: str | None = None
    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    # -- typed views over the merged settings ------------------------------------
    @property
    def prefix(self) -> str:
        return self.data["command_prefix"]

    @property
    def default_severity(self) -> int:
        return int(self.data["default_severity"])

    @property
    def min_access_level(self) -> int:
        return int(self.data["min_access_level"])

    @property
    def max_body_bytes(self) -> int:
        return int(self.data["max_body_bytes"])

    @property
    def max_commands_per_note(self) -> int:
        return int(self.data["max_commands_per_note"])

    @property
    def max_action_items_per_edit(self) -> int:
        return int(self.data["max_action_items_per_edit"])

    @property
    def labels(self) -> dict[str, Any]:
        return self.data["labels"]

    @property
    def templates_dir(self) -> str | None:
        return self.data["templates_dir"]

    @property
    def projects(self) -> list[str]:
        return [str(p) for p in self.data["projects"]]

    @property
    def regions(self) -> dict[str, tuple[int, int]]:
        """Region -> (start, end) in minutes after midnight UTC."""
        return {
            name: (_hhmm(r["start"], f"regions.{name}.start"), _hhmm(r["end"], f"regions.{name}.end"))
            for name, r in self.data["regions"].items()
        }

    def cadence_minutes(self, status: str, severity: int) -> int:
        table = self.data["cadence"].get(status) or self.data["cadence"]["active"]
        return int(table[severity])

    def response_target_minutes(self, severity: int) -> int:
        return int(self.data["response_target"][severity])

    @property
    def queue(self) -> dict[str, Any]:
        return self.data["queue"]

    # -- validation ---------------------------------------------------------------
    def validate(self) -> "Config":
        d = self.data
        for name in ("severity",):
            d["labels"][name] = _int_keys(d["labels"][name], f"labels.{name}")
        for status in list(d["cadence"]):
            if status not in ("active", "mitigated"):
                raise ConfigError(f"cadence.{status}: valid keys are active, mitigated")
            d["cadence"][status] = _int_keys(d["cadence"][status], f"cadence.{status}")
        d["response_target"] = _int_keys(d["response_target"], "response_target")
        for sev in (1, 2, 3):
            for status in ("active", "mitigated"):
                value = d["cadence"][status].get(sev)
                if not isinstance(value, int) or value <= 0:
                    raise ConfigError(f"cadence.{status}.{sev}: expected a positive number of minutes")
            if sev not in d["labels"]["severity"]:
                raise ConfigError(f"labels.severity.{sev} is missing")
            if not isinstance(d["response_target"].get(sev), int) or d["response_target"][sev] <= 0:
                raise ConfigError(f"response_target.{sev}: expected a positive number of minutes")
        if d["default_severity"] not in (1, 2, 3):
            raise ConfigError("default_severity: expected 1, 2 or 3")
        if not isinstance(d["min_access_level"], int):
            raise ConfigError("min_access_level: expected an access level number such as 30")
        for cap in ("max_commands_per_note", "max_action_items_per_edit"):
            if isinstance(d[cap], bool) or not isinstance(d[cap], int) or d[cap] < 1:
                raise ConfigError(f"{cap}: expected a whole number of 1 or more")
        if not str(d["command_prefix"]).strip():
            raise ConfigError("command_prefix must not be empty")
        if not isinstance(d["regions"], dict) or not d["regions"]:
            raise ConfigError("regions: expected a mapping of region name to {start, end}")
        _ = self.regions  # parses every shift, raising ConfigError on a bad one
        for name in d["regions"]:
            if name not in d["labels"]["region"]:
                d["labels"]["region"][name] = f"region::{name.lower()}"
        if self.state_key is not None and len(self.state_key) < 32:
            raise ConfigError("INCIDENT_BOT_STATE_KEY: use at least 32 characters (e.g. `openssl rand -hex 32`)")
        if not isinstance(d["projects"], list):
            raise ConfigError("projects: expected a list of project ids or paths")
        return self


def load_config(path: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the YAML file (path, or INCIDENT_BOT_CONFIG), then secrets from the environment."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("INCIDENT_BOT_CONFIG") or None
    data = copy.deepcopy(DEFAULTS)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping")
        data = _merge(data, loaded)
    cfg = Config(
        gitlab_url=env.get("GITLAB_URL", "http://127.0.0.1").rstrip("/"),
        gitlab_token=env.get("GITLAB_TOKEN") or None,
        webhook_secret=env.get("INCIDENT_BOT_WEBHOOK_SECRET") or None,
        signing_token=env.get("INCIDENT_BOT_SIGNING_TOKEN") or None,
        queue_url=env.get("INCIDENT_BOT_QUEUE") or None,
        state_key=env.get("INCIDENT_BOT_STATE_KEY") or None,
        data=data,
    )
    return cfg.validate()
