"""The web server's life: listen (a port already in use is one line, not a traceback), log the requests
waitress refuses before the app sees them, and stop cleanly on SIGTERM as on Ctrl-C."""

from __future__ import annotations

import logging
import signal
from typing import Any

import waitress
from waitress.task import ErrorTask

from . import metrics

log = logging.getLogger("incident_bot")
webhook_log = logging.getLogger("incident_bot.webhook")


class CannotServe(Exception):
    """The server cannot start (the port is taken, the address is not this host's)."""


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, Docker, Kubernetes) stops the process as Ctrl-C does: waitress and the worker
    loop catch KeyboardInterrupt and shut down in order, instead of dying with deliveries in flight."""

    def interrupt(signum: int, frame: Any) -> None:
        log.info("SIGTERM received: shutting down")
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class _LoggedErrorTask(ErrorTask):
    """waitress answers a body over max_request_body_size (413) or a malformed request (400) itself."""

    def execute(self) -> None:
        error = self.request.error
        reason = "too_large" if error.code == 413 else "malformed"
        metrics.delivery_rejected(reason)
        webhook_log.warning("webhook rejected (%s): %s %s", reason, error.code, error.body,
                            extra={"reason": reason, "status": error.code, "remote": self.channel.addr[0]})
        super().execute()


def log_refused_requests(server: Any) -> None:
    server.channel_class = type("LoggedChannel", (server.channel_class,), {"error_task_class": _LoggedErrorTask})


def create_server(app: Any, *, host: str, port: int, threads: int, **options: Any) -> Any:
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads, **options)
    except OSError as exc:
        raise CannotServe(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    log_refused_requests(server)
    return server
