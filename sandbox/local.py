"""Run the bot in this process on a free loopback port: for the demo, the tests and the benchmarks.

The same pieces as `incident-bot serve`, built by the same composition root (bot/compose.py): the Flask
app on waitress with the same server options, the queue, its worker threads.
"""

from __future__ import annotations

import os
import tempfile

from bot.compose import build_bot, server_options
from bot.config import Config
from bot.process import Services
from bot.serving import log_refused_requests

from .wsgi_server import ThreadedServer


class LocalBot:
    def __init__(self, cfg: Config, *, insecure: bool = False, threads: int = 8, workers: bool = True,
                 clock=None):
        if cfg.queue["url"] is None and not cfg.queue_url and cfg.queue["sqlite_path"] == "incident-bot-queue.db":
            self._tmp = tempfile.mkdtemp(prefix="incident-bot-")
            cfg.data["queue"]["sqlite_path"] = os.path.join(self._tmp, "queue.db")
        self.cfg = cfg
        services = Services.from_config(cfg)
        if clock is not None:
            services.clock = clock
        bot = build_bot(cfg, insecure=insecure, services=services)
        self.services, self.queue, self.app = bot.services, bot.queue, bot.app
        options = server_options(cfg)
        self._server = ThreadedServer(self.app, threads=threads, name=options.pop("ident"), **options)
        log_refused_requests(self._server.waitress)  # as `incident-bot serve` does
        self.url = self._server.url
        self._workers = workers

    @property
    def webhook_url(self) -> str:
        return self.url + "/webhook"

    def start(self) -> "LocalBot":
        if self._workers:
            self.queue.start_workers()
        self._server.start()
        return self

    def wait_idle(self, timeout: float = 15.0) -> bool:
        return self.queue.wait_idle(timeout)

    def stop(self) -> None:
        self._server.stop()
        self.queue.close()

    def __enter__(self) -> "LocalBot":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
