"""The key that signs the incident state in issue descriptions (bot/state.py).

From INCIDENT_BOT_STATE_KEY when set. Otherwise generated once and kept where the bot's own store is,
so every restart (and every process sharing the queue) signs with the same key:
- with a Redis queue, in Redis under `<queue name>:state-key` (SET NX: the first process wins);
- else in a file beside the SQLite queue file, `<sqlite_path>.state-key`, mode 0600, created with
  O_EXCL through a hard link so two processes starting together still agree on one key.
Only the config's queue settings are read here; the queue classes are not touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading

from .config import Config

log = logging.getLogger("incident_bot")

KEY_BYTES = 32
_lock = threading.Lock()


class StateKeyError(RuntimeError):
    """The key could not be read or kept."""


def ensure_state_key(cfg: Config) -> str:
    """The state key for this configuration; generated and stored on first use. Sets cfg.state_key."""
    if cfg.state_key:
        return cfg.state_key
    with _lock:
        if not cfg.state_key:
            url = cfg.queue_url or cfg.queue["url"]
            cfg.state_key = _from_redis(url, cfg.queue["name"]) if url else _from_file(key_path(cfg))
        return cfg.state_key


def key_path(cfg: Config) -> str:
    return os.path.abspath(str(cfg.queue["sqlite_path"])) + ".state-key"


def _from_file(path: str) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process stored its key first: then use that one
            log.info("generated the state signing key in %s", path)
        except FileExistsError:
            pass
    except OSError as exc:
        raise StateKeyError(f"cannot keep the state key in {path}: {exc.strerror}") from exc
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return _read(path)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as fh:
        key = fh.read().strip()
    if len(key) < 32:
        raise StateKeyError(f"the state key in {path} is too short; delete the file to generate a new one")
    return key


def _from_redis(url: str, name: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    where = f"{name}:state-key"
    try:
        if client.set(where, secrets.token_hex(KEY_BYTES), nx=True):
            log.info("generated the state signing key in Redis under %s", where)
        value = client.get(where)
    except redis.RedisError as exc:
        raise StateKeyError(f"cannot keep the state key in Redis: {exc}") from exc
    finally:
        client.close()
    if not value:
        raise StateKeyError(f"the state key under {where} in Redis is empty")
    return value.decode() if isinstance(value, bytes) else str(value)
