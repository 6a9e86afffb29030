"""`incident-bot sync`, and the pass `serve` runs every `sync.interval_seconds`: catch up on what the
webhook did not bring (the bot was down, the hook was disabled, or there is no hook at all).

Per project: one listing per 100 issues updated since the last pass (`updated_after`, open or closed),
then, for each, its notes since then (newest first, one page as a rule), and for an incident or an
action item its label and state events, in one round trip. bot/sync.py turns those into the events a
webhook would have brought; they go to the same queue, each in its issue's lane, so they are handled in
order, by the same processor, once (see bot/sync.py). The project's hooks are read too (Maintainer only)
for /healthz, /metrics and the log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import sync_mark
from .config import Config
from .gitlab import GitLab, GitLabRefused
from .hooks import HEALTH, HookStatus, judge
from .queue import FINAL, DeliveryQueue
from .session import Services
from .sync import SyncItem, delivery, issue_items, note_items, ordered
from .timeutil import iso, utcnow

log = logging.getLogger("incident_bot.sync")

FIRST_LOOKBACK = timedelta(hours=24)
# The next pass looks back this much before this one started: GitLab's clock and ours may differ, and
# a change made while this pass listed may be missed by it. Looking twice costs reads, never a reply.
OVERLAP = timedelta(minutes=2)


@dataclass
class ProjectPass:
    project: str
    since: datetime
    listed: int = 0
    read: int = 0  # issues whose notes (and events) were read
    items: list[SyncItem] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # delivery ids
    hook: HookStatus | None = None
    hook_readable: bool = False


def _events_wanted(labels: list[str], cfg: Config) -> bool:
    return cfg.labels["incident"] in labels or cfg.labels["postmortem_action"] in labels


def pass_project(services: Services, queue: DeliveryQueue | None, project: str, since: datetime, *,
                 webhook_url: str | None = None) -> ProjectPass:
    """One project's pass; `queue` None: a dry run. Raises RetryableGitLabError / GitLabRefused."""
    cfg, gl = services.cfg, services.connect(None)
    bot = services.identity(gl)
    result = ProjectPass(project, since)
    items: list[SyncItem] = []
    for issue in gl.iter_issues(project, [], state="all", updated_after=iso(since)):
        result.listed += 1
        result.read += 1
        pid, iid = issue.project_id, issue.iid
        if _events_wanted(issue.labels, cfg):
            notes, labels, states = gl.parallel(lambda g, p=pid, i=iid: g.notes_since(p, i, since),
                                                lambda g, p=pid, i=iid: g.label_events(p, i),
                                                lambda g, p=pid, i=iid: g.state_events(p, i))
            items += issue_items(issue, labels, states, since, bot, cfg)
        else:
            notes = gl.notes_since(pid, iid, since)
        items += note_items(issue, notes, since, bot, cfg)
    result.items = ordered(items)
    if queue is not None:
        for item in result.items:
            stored = delivery(item)
            if queue.submit(stored):
                result.submitted.append(stored["id"])
    result.hook, result.hook_readable = read_hook(gl, project, webhook_url)
    return result


def read_hook(gl: GitLab, project: str, url: str | None) -> tuple[HookStatus | None, bool]:
    """The bot's hook as GitLab has it, recorded for /healthz; (None, False) below Maintainer."""
    try:
        status = judge(project, gl.project_hooks(project), url)
    except GitLabRefused as exc:
        if exc.status not in (403, 404):
            raise
        HEALTH.record(project, None)
        return None, False
    HEALTH.record(project, status)
    if not status.found:
        log.warning("no project hook sends the bot's events in %s: run `incident-bot setup`", project)
    elif status.disabled:
        log.warning("GitLab disabled the bot's hook in %s (%s until %s): events are dropped; sync catches "
                    "up, `incident-bot setup --webhook-url URL` re-enables it", project, status.alert_status,
                    status.disabled_until or "re-enabled")
    return status, True


def run_pass(services: Services, queue: DeliveryQueue | None, projects: list[str], *,
             since: datetime | None = None, webhook_url: str | None = None) -> list[ProjectPass]:
    """Every project once; remembers each project's mark after its pass (not on a dry run)."""
    results = []
    for project in projects:
        started = utcnow()
        look_from = since or sync_mark.load(services.cfg, project) or started - FIRST_LOOKBACK
        result = pass_project(services, queue, project, look_from, webhook_url=webhook_url)
        if queue is not None:
            sync_mark.save(services.cfg, project, started - OVERLAP)
        log.info("sync of %s since %s: %d issues listed, %d events queued", project, iso(look_from),
                 result.listed, len(result.submitted))
        results.append(result)
    return results


def wait_finished(queue: DeliveryQueue, ids: list[str], timeout: float) -> list[str]:
    """Wait for the deliveries to be finished; the ids still pending after `timeout`."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        pending = [i for i in pending if (queue.get(i) or {}).get("_status") not in FINAL]
        if pending:
            time.sleep(0.05)
    return pending


class SyncLoop:
    """`serve`'s pass: at start, then every `interval` seconds, in a thread; its deliveries go to the
    serving process's queue and workers. An outage of GitLab is logged and tried again next time."""

    def __init__(self, services: Services, queue: DeliveryQueue, projects: list[str], interval: float,
                 webhook_url: str | None = None):
        self.services, self.queue, self.projects = services, queue, projects
        self.interval, self.webhook_url = interval, webhook_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="incident-bot-sync", daemon=True)
        self.passes = 0

    def start(self) -> "SyncLoop":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                run_pass(self.services, self.queue, self.projects, webhook_url=self.webhook_url)
            except Exception as exc:  # GitLab down, a refused token: the next pass tries again
                log.error("sync pass failed: %s", exc)
            self.passes += 1
            if self._stop.wait(self.interval):
                return
