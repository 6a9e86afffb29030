"""Run the bot in this process on a free loopback port: for the demo, the tests and the benchmarks.

The same pieces as `incident-bot serve`: the Flask app on waitress, the durable queue, worker threads.
"""

from __future__ import annotations

import os
import tempfile
import threading

import waitress

from .app import create_app
from .cli import build_queue
from .config import Config
from .process import Services


class LocalBot:
    def __init__(self, cfg: Config, *, insecure: bool = False, threads: int = 8, workers: bool = True,
                 clock=None):
        if cfg.queue["url"] is None and not cfg.queue_url and cfg.queue["sqlite_path"] == "incident-bot-queue.db":
            self._tmp = tempfile.mkdtemp(prefix="incident-bot-")
            cfg.data["queue"]["sqlite_path"] = os.path.join(self._tmp, "queue.db")
        self.cfg = cfg
        self.services = Services.from_config(cfg)
        if clock is not None:
            self.services.clock = clock
        self.queue = build_queue(cfg, self.services)
        self.app = create_app(cfg, self.queue, insecure=insecure)
        self._server = waitress.create_server(self.app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="incident-bot-http", daemon=True)
        self._workers = workers

    @property
    def webhook_url(self) -> str:
        return self.url + "/webhook"

    def start(self) -> "LocalBot":
        if self._workers:
            self.queue.start_workers()
        self._thread.start()
        return self

    def wait_idle(self, timeout: float = 15.0) -> bool:
        return self.queue.wait_idle(timeout)

    def stop(self) -> None:
        # waitress has no stop(): close every channel from inside its loop (the loop ends when none is
        # left), then end its worker threads, which hold queue connections of their own.
        channels = self._server._map
        self._server.trigger.pull_trigger(lambda: [c.close() for c in list(channels.values())])
        self._thread.join(5)
        self._server.task_dispatcher.shutdown()
        self.queue.close()

    def __enter__(self) -> "LocalBot":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
