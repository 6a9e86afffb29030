"""What the one-shot commands (cadence, sync, report) share: a failure said in one line on stderr with
its exit code, and the configuration loaded or that failure (exit 2)."""

from __future__ import annotations

import sys

from .config import Config, ConfigError, load_config


def fail(command: str, message: str, code: int) -> int:
    print(f"incident-bot {command}: {message}", file=sys.stderr)
    return code


def load_or_fail(command: str, path: str | None) -> Config | int:
    """The configuration, or the exit code after saying why it is invalid."""
    try:
        return load_config(path)
    except ConfigError as exc:
        return fail(command, f"invalid configuration: {exc}", 2)
