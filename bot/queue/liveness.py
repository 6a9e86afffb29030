"""Process identity and liveness: whether the worker that owns a record or a lane lock still runs."""

from __future__ import annotations

import os
import socket
import threading


def _process_ident() -> str:
    """Host name plus PID namespace: two processes with the same ident can judge each other's pid."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return f"{socket.gethostname()}|{ns}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours (EPERM)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False  # killed, not yet reaped
    except (OSError, IndexError):
        pass
    return True


# tokens of queue instances whose workers run in this process: token -> pid
_LOCAL_TOKENS: dict[str, int] = {}
_LOCAL_LOCK = threading.Lock()
