"""The Redis store: the same operations as the SQLite store, on Redis keys under ``<name>:``, atomic in Lua."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

from .records import _FIELDS, _FLOAT_FIELDS, _INT_FIELDS

_LUA_ADD = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
local pos = redis.call('INCR', KEYS[7])
redis.call('HSET', KEYS[2], 'pos', pos, unpack(ARGV, 4))
redis.call('ZADD', KEYS[3], pos, ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[5], ARGV[2])
redis.call('ZADD', KEYS[6], pos, ARGV[2])
return pos
"""

_LUA_CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'queued' and st ~= 'retrying' and st ~= 'running' then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'claim', ARGV[1], 'owner', ARGV[2], 'started_at', ARGV[3],
           'updated_at', ARGV[3])
return 1
"""

# KEYS: rec, lane, lanes, pending, done ; ARGV: claim, lane, id, status, leaves(0/1), now, field/value...
_LUA_FINISH = """
local cur = redis.call('HGET', KEYS[1], 'claim')
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'updated_at', ARGV[6], 'claim', '', 'owner', '', unpack(ARGV, 7))
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
  redis.call('SREM', KEYS[4], ARGV[3])
  if ARGV[4] == 'done' then redis.call('ZADD', KEYS[5], ARGV[6], ARGV[3]) end
end
return 1
"""

# KEYS: rec, lane, lanes, pending, all, seq, done ; ARGV: id, lane, now
_LUA_REQUEUE = """
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'dead' and st ~= 'failed' and st ~= 'done' then return 0 end
local pos = redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', 0, 'last_error', '', 'next_at', '', 'claim', '',
           'owner', '', 'started_at', '', 'finished_at', '', 'pos', pos, 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], pos, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], pos, ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
return 1
"""

_LUA_CAS_SET = """
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

_LUA_CAS_DEL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_LUA_CAS_PEXPIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class _RedisStore:
    kind = "redis"

    def __init__(self, client, prefix: str):
        self.r = client
        self.p = prefix
        self._add = client.register_script(_LUA_ADD)
        self._claim = client.register_script(_LUA_CLAIM)
        self._finish = client.register_script(_LUA_FINISH)
        self._requeue = client.register_script(_LUA_REQUEUE)
        self._cas_set = client.register_script(_LUA_CAS_SET)
        self._cas_del = client.register_script(_LUA_CAS_DEL)
        self._cas_pexpire = client.register_script(_LUA_CAS_PEXPIRE)

    # keys
    def _k(self, *parts: str) -> str:
        return ":".join((self.p,) + parts)

    def _rec_key(self, delivery_id: str) -> str:
        return self._k("d", delivery_id)

    def _lane_key(self, lane: str) -> str:
        return self._k("lane", lane)

    @staticmethod
    def _encode(value: Any) -> str:
        return "" if value is None else str(value)

    @staticmethod
    def _decode(raw: dict) -> dict | None:
        if not raw:
            return None
        out: dict[str, Any] = {}
        for key in _FIELDS:
            value = raw.get(key, "")
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            if value == "":
                out[key] = 0 if key in _INT_FIELDS else None
            elif key in _INT_FIELDS:
                out[key] = int(value)
            elif key in _FLOAT_FIELDS:
                out[key] = float(value)
            else:
                out[key] = value
        return out

    def _hgetall_many(self, ids: Iterable[Any]) -> list[dict]:
        ids = [i.decode() if isinstance(i, bytes) else i for i in ids]
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for delivery_id in ids:
            pipe.hgetall(self._rec_key(delivery_id))
        out = []
        for raw in pipe.execute():
            rec = self._decode({(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()})
            if rec is not None:
                out.append(rec)
        return out

    # operations
    def ping(self) -> bool:
        return bool(self.r.ping())

    def add(self, rec: dict, key: str, ttl: float, now: float) -> bool:
        args: list[Any] = [max(1, int(ttl)), rec["id"], rec["lane"]]
        for field in _FIELDS:
            if field != "pos" and field in rec:
                args += [field, self._encode(rec[field])]
        keys = [self._k("dd", hashlib.sha256(key.encode()).hexdigest()), self._rec_key(rec["id"]),
                self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"), self._k("all"), self._k("seq")]
        return bool(self._add(keys=keys, args=args))

    def get(self, delivery_id: str) -> dict | None:
        recs = self._hgetall_many([delivery_id])
        return recs[0] if recs else None

    def lane_head(self, lane: str) -> dict | None:
        ids = self.r.zrange(self._lane_key(lane), 0, 0)
        recs = self._hgetall_many(ids)
        return recs[0] if recs else None

    def heads(self) -> list[dict]:
        lanes = [m.decode() if isinstance(m, bytes) else m for m in self.r.smembers(self._k("lanes"))]
        if not lanes:
            return []
        pipe = self.r.pipeline(transaction=False)
        for lane in lanes:
            pipe.zrange(self._lane_key(lane), 0, 0)
        ids = [found[0] for found in pipe.execute() if found]
        return self._hgetall_many(ids)

    def running(self) -> list[dict]:
        return [r for r in self._hgetall_many(self.r.smembers(self._k("pending"))) if r["status"] == "running"]

    def claim(self, delivery_id: str, claim: str, owner: str, now: float) -> dict | None:
        if not self._claim(keys=[self._rec_key(delivery_id)], args=[claim, owner, repr(now)]):
            return None
        return self.get(delivery_id)

    def finish(self, rec: dict, claim: str | None, status: str, now: float, last_error: str | None = None,
               next_at: float | None = None, keep_error: bool = False) -> bool:
        leaves = status in ("done", "failed", "dead")
        fields: list[Any] = ["next_at", self._encode(next_at), "finished_at", repr(now) if leaves else ""]
        if not (keep_error and last_error is None):
            fields += ["last_error", self._encode(last_error)]
        keys = [self._rec_key(rec["id"]), self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"),
                self._k("done")]
        args = [self._encode(claim), rec["lane"], rec["id"], status, "1" if leaves else "0", repr(now)] + fields
        return bool(self._finish(keys=keys, args=args))

    def requeue(self, delivery_id: str, now: float) -> dict | None:
        rec = self.get(delivery_id)
        if rec is None:
            return None
        keys = [self._rec_key(delivery_id), self._lane_key(rec["lane"]), self._k("lanes"), self._k("pending"),
                self._k("all"), self._k("seq"), self._k("done")]
        if not self._requeue(keys=keys, args=[delivery_id, rec["lane"], repr(now)]):
            return None
        return self.get(delivery_id)

    def records(self, dead_only: bool = False, limit: int | None = None) -> list[dict]:
        if limit and not dead_only:
            ids = self.r.zrange(self._k("all"), -int(limit), -1)
        else:
            ids = self.r.zrange(self._k("all"), 0, -1)
        recs = self._hgetall_many(ids)
        if dead_only:
            recs = [r for r in recs if r["status"] == "dead"]
            if limit:
                recs = recs[-int(limit):]
        return recs

    def depth(self) -> int:
        return int(self.r.scard(self._k("pending")))

    # locks and workers
    def try_lock(self, lane: str, value: str, now: float, ttl: float, owner_dead: Callable[[str], bool]) -> bool:
        key = self._k("lock", lane)
        ttl_ms = max(1, int(ttl * 1000))
        if self.r.set(key, value, nx=True, px=ttl_ms):
            return True
        current = self.r.get(key)
        if current is None:
            return bool(self.r.set(key, value, nx=True, px=ttl_ms))
        current = current.decode() if isinstance(current, bytes) else current
        if not owner_dead(current):
            return False
        return bool(self._cas_set(keys=[key], args=[current, value, ttl_ms]))

    def lock_owner(self, lane: str) -> str | None:
        value = self.r.get(self._k("lock", lane))
        return value.decode() if isinstance(value, bytes) else value

    def release_lock(self, lane: str, value: str) -> None:
        self._cas_del(keys=[self._k("lock", lane)], args=[value])

    def refresh_locks(self, held: Iterable[tuple[str, str]], now: float, ttl: float) -> None:
        for lane, value in list(held):
            self._cas_pexpire(keys=[self._k("lock", lane)], args=[value, max(1, int(ttl * 1000))])

    def heartbeat(self, token: str, ident: str, pid: int, now: float, ttl: float) -> None:
        key = self._k("w", token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"ident": ident, "pid": pid, "last_seen": repr(now)})
        pipe.expire(key, max(1, int(ttl)))
        pipe.execute()

    def get_worker(self, token: str) -> tuple[str, int, float] | None:
        raw = self.r.hgetall(self._k("w", token))
        if not raw:
            return None
        raw = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
               for k, v in raw.items()}
        try:
            return raw["ident"], int(raw["pid"]), float(raw["last_seen"])
        except (KeyError, ValueError):
            return None

    def remove_worker(self, token: str) -> None:
        self.r.delete(self._k("w", token))

    def purge(self, now: float, done_retention: float) -> None:
        old = self.r.zrangebyscore(self._k("done"), "-inf", now - done_retention, start=0, num=1000)
        if not old:
            return
        pipe = self.r.pipeline(transaction=True)
        for delivery_id in old:
            delivery_id = delivery_id.decode() if isinstance(delivery_id, bytes) else delivery_id
            pipe.delete(self._rec_key(delivery_id))
            pipe.zrem(self._k("all"), delivery_id)
            pipe.zrem(self._k("done"), delivery_id)
        pipe.execute()

    def checkpoint(self) -> None:
        pass  # Redis persists on its own schedule

    def close(self) -> None:
        pass
