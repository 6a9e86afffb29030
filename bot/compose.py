"""The composition root: settings -> GitLab client factory -> queue -> web app -> workers.

`incident-bot` (bot/cli.py) and the local runner (sandbox/local.py) build the bot here and nowhere else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask

from .app import create_app
from .config import Config
from .delivery import make_processor
from .failure_notice import notice_for
from .process import Services
from .queue import DeliveryQueue, QueueUnavailable, open_store
from .serving import CannotServe, create_server, stop_on_sigterm

log = logging.getLogger("incident_bot")


def build_queue(cfg: Config, services: Services | None = None) -> DeliveryQueue:
    """The delivery queue; with services, its processor runs deliveries against GitLab."""
    q = cfg.queue
    store = open_store(cfg.queue_url or q["url"], q["sqlite_path"], q["sqlite_synchronous"], q["name"])
    if services is None:
        return DeliveryQueue(store, None, q)
    return DeliveryQueue(store, make_processor(services), q, on_give_up=notice_for)


def server_options(cfg: Config) -> dict:
    """waitress settings: a body over the limit is refused before it is read (waitress would otherwise
    spool up to 1 GiB of it, even unauthenticated, before the app answers 401)."""
    return {"max_request_body_size": cfg.max_body_bytes, "ident": "incident-bot"}


@dataclass
class Bot:
    cfg: Config
    services: Services
    queue: DeliveryQueue
    app: Flask


def build_bot(cfg: Config, *, insecure: bool = False, services: Services | None = None) -> Bot:
    services = services or Services.from_config(cfg)
    queue = build_queue(cfg, services)
    return Bot(cfg, services, queue, create_app(cfg, queue, insecure=insecure))


def serve(cfg: Config, *, host: str, port: int, threads: int, workers: bool = True, insecure: bool = False) -> None:
    """`incident-bot serve`: until SIGTERM or Ctrl-C; then requests in progress finish (waitress), and
    workers finish or hand back their deliveries. Raises CannotServe when it cannot listen."""
    bot = build_bot(cfg, insecure=insecure)
    try:
        server = create_server(bot.app, host=host, port=port, threads=threads, **server_options(cfg))
    except CannotServe:
        bot.queue.close()
        raise
    if workers:
        bot.queue.start_workers()
    stop_on_sigterm()
    loop = start_sync(bot)
    log.info("serving on %s:%s", host, server.effective_port)
    try:
        server.run()  # returns on KeyboardInterrupt, once waitress has finished the requests in progress
    finally:
        if loop:
            loop.stop()
        bot.queue.close()
        log.info("stopped")


def start_sync(bot: Bot):
    """The catch-up pass at start and every sync.interval_seconds (bot/sync_run.py), or None when off."""
    from .sync_run import SyncLoop

    interval = float(bot.cfg.data["sync"]["interval_seconds"])
    if not interval or not bot.cfg.projects:
        log.info("sync is off (%s)", "sync.interval_seconds is 0" if not interval else "no `projects` configured")
        return None
    return SyncLoop(bot.services, bot.queue, bot.cfg.projects, interval, bot.cfg.data["sync"]["webhook_url"]).start()


def work(cfg: Config) -> None:
    """`incident-bot worker`: workers only, until interrupted. A store that cannot be reached at start
    raises QueueUnavailable (a worker with nothing to work on); later, workers wait for it."""
    queue = build_queue(cfg, Services.from_config(cfg))
    try:
        queue.check()
    except QueueUnavailable:
        queue.close()
        raise
    stop_on_sigterm()
    try:
        queue.run_worker()
    finally:
        queue.close()
        log.info("stopped")
