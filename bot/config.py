"""Configuration: defaults live here, a YAML file overrides them, secrets come only from the environment."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from .config_schema import ConfigError, check, minutes_of

__all__ = ["Config", "ConfigError", "DEFAULTS", "load_config"]

DEFAULTS: dict[str, Any] = {
    "command_prefix": "/incident",
    "default_severity": 3,
    # GitLab access levels: 10 guest, 15 planner, 20 reporter, 30 developer, 40 maintainer, 50 owner.
    "min_access_level": 30,
    # GitLab sends an issue's description (up to 1,048,576 characters, 4 UTF-8 bytes each at most) in
    # every hook about it, three times when it changed; a 413 counts towards GitLab disabling the hook.
    "max_body_bytes": 16 * 1024 * 1024,
    # Fan-out caps: what one comment or one edit may make the bot do. Past them the bot says so; the
    # rest is not lost (post the commands again; items are picked up by the next edit or `actions`).
    "max_commands_per_note": 10,
    "max_action_items_per_edit": 25,  # new follow-up issues per postmortem edit or `/incident actions`
    "gitlab_timeout_seconds": 10,  # per API call; a timeout is retried by the queue
    # Creations GitLab limits per user (GitLab.com: 60 notes, 200 issues a minute), paced per process;
    # null turns one off. The webhook worker and scheduled jobs share GitLab's count: a 429 is retried.
    "gitlab_rate_limits": {"notes": 60, "issues": 200, "per_seconds": 60},
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
        "region": {},  # a region with no label here gets region::<name in lower case>
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
    # `serve` catches up on what webhooks did not bring (bot down, hook disabled, or no hook at all):
    # a pass at start and then every interval_seconds (0: off), over `projects`.
    "sync": {"interval_seconds": 60, "webhook_url": None},
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
        "rate_limit_retry_minutes": 30,  # GitLab's 429s are retried this long, apart from max_retries
        "min_free_mb": 100,  # /healthz says "degraded" when the SQLite queue's disk has less free space
        # GitLab down (5xx, timeouts, no answer) is retried this long, apart from max_retries; then the
        # delivery is dead and a note on the issue says the command was not carried out.
        "outage_retry_minutes": 20,
    },
}


def _merge(base: dict, override: dict) -> dict:
    """Deep-merge checked settings into the defaults. Regions are replaced whole: a team with two shifts
    must not inherit the third."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "regions":
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


def _setting(key: str, kind: Callable[[Any], Any] = lambda value: value) -> property:
    """A read-only view of one top-level setting (config_schema has checked its type)."""
    return property(lambda self: kind(self.data[key]))


@dataclass
class Config:
    gitlab_url: str = ""  # GITLAB_URL; empty when unset (bot/preflight.py refuses to start)
    gitlab_token: str | None = None
    webhook_secret: str | None = None
    signing_token: str | None = None
    queue_url: str | None = None
    # Signs the state in issue descriptions; None: bot/statekey.py generates one beside the queue store.
    state_key: str | None = None
    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    # -- typed views over the merged settings ------------------------------------
    prefix = _setting("command_prefix")
    default_severity = _setting("default_severity", int)
    min_access_level = _setting("min_access_level", int)
    max_body_bytes = _setting("max_body_bytes", int)
    max_commands_per_note = _setting("max_commands_per_note", int)
    max_action_items_per_edit = _setting("max_action_items_per_edit", int)
    labels = _setting("labels")
    templates_dir = _setting("templates_dir")
    queue = _setting("queue")

    @property
    def projects(self) -> list[str]:
        return [str(p) for p in self.data["projects"]]

    @property
    def regions(self) -> dict[str, tuple[int, int]]:
        """Region -> (start, end) in minutes after midnight UTC."""
        return {name: (minutes_of(r["start"]), minutes_of(r["end"])) for name, r in self.data["regions"].items()}

    def cadence_minutes(self, status: str, severity: int) -> int:
        table = self.data["cadence"].get(status) or self.data["cadence"]["active"]
        return int(table[severity])

    def response_target_minutes(self, severity: int) -> int:
        return int(self.data["response_target"][severity])

    # -- checks across keys (each key's own shape is checked by config_schema) --------------------
    def validate(self) -> "Config":
        regions, labels = self.data["regions"], self.data["labels"]["region"]
        for name in labels:
            if name not in regions:
                raise ConfigError(f"labels.region.{name}: not a region in `regions`; valid: {', '.join(regions)}")
        for name in regions:
            labels.setdefault(name, f"region::{name.lower()}")
        every = _label_titles(self.data["labels"])
        twice = sorted({title for title in every if every.count(title) > 1})
        if twice:  # one label for two meanings: the bot could not tell them apart
            raise ConfigError(f"labels: {', '.join(twice)} used for more than one meaning")
        if self.state_key is not None and len(self.state_key) < 32:
            raise ConfigError("INCIDENT_BOT_STATE_KEY: use at least 32 characters (e.g. `openssl rand -hex 32`)")
        return self


def _label_titles(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [title for value in node.values() for title in _label_titles(value)]
    return [node] if isinstance(node, str) else []


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
        try:
            loaded = check(loaded)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        data = _merge(data, loaded)
    cfg = Config(
        gitlab_url=env.get("GITLAB_URL", "").strip().rstrip("/"),
        gitlab_token=env.get("GITLAB_TOKEN") or None,
        webhook_secret=env.get("INCIDENT_BOT_WEBHOOK_SECRET") or None,
        signing_token=env.get("INCIDENT_BOT_SIGNING_TOKEN") or None,
        queue_url=env.get("INCIDENT_BOT_QUEUE") or None,
        state_key=env.get("INCIDENT_BOT_STATE_KEY") or None,
        data=data,
    )
    return cfg.validate()
