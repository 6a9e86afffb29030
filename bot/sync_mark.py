"""When the last successful sync pass of a project started, kept where the queue's store is (as
bot/statekey.py keeps the state key): under `<queue name>:sync-mark` in Redis, or in a JSON file beside
the SQLite queue file. The next pass looks back to it; a first pass looks back 24 hours."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime

from .config import Config
from .timeutil import iso, parse_time

_lock = threading.Lock()


def _path(cfg: Config) -> str:
    return os.path.abspath(str(cfg.queue["sqlite_path"])) + ".sync.json"


def _redis(cfg: Config):
    import redis

    return redis.Redis.from_url(cfg.queue_url or cfg.queue["url"])


def _use_redis(cfg: Config) -> bool:
    return bool(cfg.queue_url or cfg.queue["url"])


def load(cfg: Config, project: str) -> datetime | None:
    if _use_redis(cfg):
        client = _redis(cfg)
        try:
            value = client.hget(f"{cfg.queue['name']}:sync-mark", project)
        finally:
            client.close()
        return parse_time(value.decode()) if value else None
    try:
        with open(_path(cfg), encoding="utf-8") as fh:
            value = json.load(fh).get(project)
    except (FileNotFoundError, ValueError):
        return None
    return parse_time(value) if value else None


def save(cfg: Config, project: str, when: datetime) -> None:
    if _use_redis(cfg):
        client = _redis(cfg)
        try:
            client.hset(f"{cfg.queue['name']}:sync-mark", project, iso(when))
        finally:
            client.close()
        return
    path = _path(cfg)
    with _lock:
        try:
            with open(path, encoding="utf-8") as fh:
                marks = json.load(fh)
        except (FileNotFoundError, ValueError):
            marks = {}
        marks[project] = iso(when)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(marks, fh)
        os.replace(tmp, path)  # a crash leaves the old mark, never half a file
