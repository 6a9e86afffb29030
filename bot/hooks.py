"""The bot's project hook, judged: does it point at the bot, send the four events, and fire? Pure, apart
from `HEALTH`, the process-wide record `/healthz` and `/metrics` read (sync passes and webhooks write it).

GitLab never retries a delivery; after 4 failures in a row it disables the hook for a minute (doubling,
up to a day) and after 40 for good, dropping events meanwhile. `alert_status` and `disabled_until` say so
to a Maintainer; below Maintainer the hook cannot be read, and the time since the last webhook is all
a monitor has.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from . import metrics

EVENTS = ("issues_events", "confidential_issues_events", "note_events", "confidential_note_events")


@dataclass(frozen=True)
class HookStatus:
    project: str
    found: bool  # a hook points at the bot (at `url`, when known)
    hook_id: int | None = None
    url: str | None = None
    missing_events: tuple[str, ...] = ()
    alert_status: str | None = None  # executable | temporarily_disabled | disabled
    disabled_until: str | None = None

    @property
    def disabled(self) -> bool:
        return self.alert_status in ("temporarily_disabled", "disabled")

    def as_dict(self) -> dict:
        return {"found": self.found, "hook_id": self.hook_id, "alert_status": self.alert_status,
                "disabled_until": self.disabled_until, "missing_events": list(self.missing_events)}


def _same_url(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def find_hook(hooks: list[dict], url: str | None) -> dict | None:
    """The hook at `url`; without a URL, the hook sending the most of the bot's events."""
    if url:
        return next((h for h in hooks if _same_url(h.get("url"), url)), None)
    ranked = sorted(hooks, key=lambda h: sum(bool(h.get(e)) for e in EVENTS), reverse=True)
    return ranked[0] if ranked and any(ranked[0].get(e) for e in EVENTS) else None


def judge(project: str, hooks: list[dict], url: str | None) -> HookStatus:
    hook = find_hook(hooks, url)
    if hook is None:
        return HookStatus(project, False)
    return HookStatus(project, True, hook.get("id"), hook.get("url"),
                      tuple(e for e in EVENTS if not hook.get(e)), hook.get("alert_status") or "executable",
                      hook.get("disabled_until"))


@dataclass
class HookHealth:
    """What this process knows of its hooks: per project, the last judgement (None: cannot read hooks)."""

    last_webhook: float | None = None
    projects: dict[str, HookStatus | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def webhook_arrived(self) -> None:
        self.last_webhook = time.time()

    def record(self, project: str, status: HookStatus | None) -> None:
        with self._lock:
            self.projects[project] = status
        if status is not None:
            metrics.hook_disabled.labels(project=project).set(1 if status.disabled or not status.found else 0)

    def snapshot(self) -> dict:
        with self._lock:
            projects = dict(self.projects)
        since = None if self.last_webhook is None else round(time.time() - self.last_webhook, 1)
        return {"seconds_since_last_webhook": since,
                "hooks": {p: (s.as_dict() if s else {"readable": False}) for p, s in projects.items()}}

    def disabled(self) -> list[str]:
        with self._lock:
            return sorted(p for p, s in self.projects.items() if s is not None and (s.disabled or not s.found))


HEALTH = HookHealth()


def _seconds_since_last_webhook() -> float:
    last = HEALTH.last_webhook
    return math.nan if last is None else time.time() - last


metrics.seconds_since_last_webhook.set_function(_seconds_since_last_webhook)
