"""Whether GitLab answers the bot, as this process's calls found it: reachable or not, token accepted or
refused. bot/gitlab.py reports every answer (and every call that got none); /healthz and /metrics read
it. A GitLab outage or a refused token leaves the bot accepting deliveries it cannot carry out, so they
show as "degraded" (200: restarting the bot would not help) and in the gauges `gitlab_up` and
`gitlab_token_accepted`.
"""

from __future__ import annotations

import threading
import time

from . import metrics

_lock = threading.Lock()
_unreachable: tuple[float, str] | None = None  # since when, and the last error
_refused: float | None = None  # since when the token has been refused (401)


def observe_answer(status: int) -> None:
    """GitLab answered: a 5xx means it is not serving; a 401, that it refuses the token; any other
    answer clears what it contradicts."""
    global _unreachable, _refused
    with _lock:
        if status >= 500:
            _unreachable = (_unreachable or (time.time(), ""))[0], f"answered {status}"
        else:
            _unreachable = None
            _refused = (_refused or time.time()) if status == 401 else None
        _publish()


def observe_no_answer(error: str) -> None:
    """A call got no answer at all (refused connection, timeout)."""
    global _unreachable
    with _lock:
        _unreachable = (_unreachable or (time.time(), ""))[0], error
        _publish()


def reachable() -> bool:
    with _lock:
        return _unreachable is None


def problems() -> list[str]:
    """What is wrong with GitLab now, one line each; [] when nothing is known to be."""
    now, out = time.time(), []
    with _lock:
        if _unreachable is not None:
            out.append(f"GitLab unreachable for {now - _unreachable[0]:.0f}s ({_unreachable[1]})")
        if _refused is not None:
            out.append(f"GitLab refuses the bot's token (401) for {now - _refused:.0f}s")
    return out


def reset() -> None:
    """Forget what was seen (tests)."""
    global _unreachable, _refused
    with _lock:
        _unreachable, _refused = None, None
        _publish()


def _publish() -> None:
    metrics.gitlab_up.set(0 if _unreachable is not None else 1)
    metrics.gitlab_token_accepted.set(0 if _refused is not None else 1)
