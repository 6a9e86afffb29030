"""JSON logging: one JSON object per line, with context fields carried by contextvars.

    setup_logging("INFO")
    with log_context(delivery_id=d["id"], project=42, issue=7):
        log.info("processing")      # {"ts": ..., "level": "INFO", "logger": ..., "msg": "processing",
                                    #  "delivery_id": "...", "project": 42, "issue": 7}

Context fields (``delivery_id``, ``project``, ``issue``, ``command`` and any other keyword) are added to every
record logged inside the ``with`` block, in the same thread or asyncio task; nested blocks add to (and may
override) the outer fields; a field set to None is left out. Fields passed with ``extra={...}`` are included
too.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import logging
import sys
from typing import Any, Iterator

from .timeutil import iso_ms

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "incident_bot_log_context", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Add fields to every log record emitted inside the block."""
    merged = dict(_context.get() or {})
    merged.update(fields)
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return {k: v for k, v in (_context.get() or {}).items() if v is not None}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc)
        out: dict[str, Any] = {
            "ts": iso_ms(ts),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in current_context().items():
            out.setdefault(key, _jsonable(value))
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                out.setdefault(key, _jsonable(value))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(JsonFormatter):
    """For a person at a terminal: ``ts LEVEL logger: msg key=value ...``, a traceback on its own lines."""

    def format(self, record: logging.LogRecord) -> str:
        fields = json.loads(super().format(record))
        head = f"{fields.pop('ts')} {fields.pop('level'):<7} {fields.pop('logger')}: {fields.pop('msg')}"
        trace = fields.pop("exc", None) or fields.pop("stack", None)
        pairs = " ".join(f"{k}={v if isinstance(v, str) and ' ' not in v else json.dumps(v)}" for k, v in fields.items())
        return "\n".join(part for part in (f"{head} {pairs}".rstrip(), trace) if part)


FORMATS = {"json": JsonFormatter, "text": TextFormatter}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _JsonHandler(logging.StreamHandler):
    """Marker class, so setup_logging can replace its own handler and leave others alone.
    Without a stream it writes to whatever sys.stderr is at the time (it may be swapped, as under pytest)."""

    def __init__(self, stream: Any = None):
        super().__init__(stream)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str | int = "INFO", stream: Any = None, fmt: str = "json") -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr by default) as JSON lines (``fmt="text"``:
    lines for a person). Safe to call again. An unknown level is a ValueError, not INFO in silence."""
    if isinstance(level, str):
        if level.upper() not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; valid: {', '.join(LEVELS)}")
        level = logging.getLevelName(level.upper())
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JsonHandler):
            root.removeHandler(handler)
    handler = _JsonHandler(stream)
    handler.setFormatter(FORMATS[fmt]())
    root.addHandler(handler)
    root.setLevel(level)
    # waitress warns "Task queue depth is N" for every request that waits for a free thread: during a
    # burst that is a line per webhook, written by the server's one I/O thread, which every acknowledgement
    # needs. Kept for debugging only.
    logging.getLogger("waitress.queue").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.ERROR)
    return handler
