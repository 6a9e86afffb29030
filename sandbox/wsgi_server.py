"""A WSGI app on waitress, on a free loopback port, in a background thread: LocalBot and the sandbox run one.

waitress keeps HTTP/1.1 connections alive, as GitLab and a real deployment do (werkzeug's development
server closes every connection, which would make each API call of the bot pay for a new one).
"""

from __future__ import annotations

import threading

import waitress


class ThreadedServer:
    def __init__(self, app, *, threads: int, name: str, **adjustments):
        self._server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads, ident=name,
                                              **adjustments)
        self.waitress = self._server  # for what a caller adds to it (bot.serving.log_refused_requests)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name=f"{name}-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # waitress has no stop(). End its worker threads first: one still answering would wake the loop
        # through the trigger after the trigger was closed, writing to a file descriptor number that may
        # already belong to a socket opened since. Then close every channel from inside the loop (the loop
        # ends when none is left).
        self._server.task_dispatcher.shutdown()
        channels = self._server._map

        def close_all() -> None:
            for channel in list(channels.values()):
                channel.close()

        try:
            self._server.trigger.pull_trigger(close_all)
        except OSError:
            # The trigger's pipe is already closed (seen about once in 30 test runs, cause not found): the
            # loop cannot be woken, so close what is left from here; it ends at its next poll.
            close_all()
        self._thread.join(5)
