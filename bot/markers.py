"""The hidden marker at the end of every note the bot posts: `<!-- incident-bot:note kind=... key=... -->`.

`key` names the cause (a command, an event, a reminder), so a repeated delivery or a retried job finds
its note already there; the rebuild reads kind, n, role and user back. Pure.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"<!-- incident-bot:note ([^<>]*?) -->")


def marker(kind: str, key: str, n: int | None = None, **extra: str) -> str:
    parts = [f"kind={kind}"]
    if n is not None:
        parts.append(f"n={n}")
    parts += [f"{k}={v}" for k, v in extra.items()]
    parts.append(f"key={key}")
    return f"<!-- incident-bot:note {' '.join(parts)} -->"


def parse_marker(body: str) -> dict[str, str] | None:
    m = _MARKER.search(body or "")
    if not m:
        return None
    return dict(part.split("=", 1) for part in m.group(1).split() if "=" in part)
