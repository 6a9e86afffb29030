"""The delivery store on Redis, for several processes. Each operation is one Lua script, so a claim
is atomic across processes.

Keys under ``<name>:``: ``d:<id>`` (the delivery, a hash), ``k:<dedupe key>`` (expires with the
window), ``l:<lane>`` (the lane's pending ids, in order), ``ready`` (lanes by the time their head is
ready: arrival, next try, or lease end), ``all`` (every id by position), ``pending`` (unfinished ids).
"""

from __future__ import annotations

import redis

from .store import FINAL, REPLAYED, STATUSES

_ADD = """
local p, id, key = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p..':d:'..id) == 1 then return 0 end
if not redis.call('SET', p..':k:'..key, id, 'NX', 'PX', ARGV[4]) then return 0 end
local pos = redis.call('INCR', p..':pos')
local lane = ARGV[6]
redis.call('HSET', p..':d:'..id, 'id', id, 'pos', pos, 'lane', lane, 'issue_key', ARGV[7], 'event', ARGV[8],
           'payload', ARGV[9], 'received_at', ARGV[10], 'status', 'queued', 'attempts', 0, 'updated_at', ARGV[5])
redis.call('ZADD', p..':all', pos, id)
redis.call('SADD', p..':pending', id)
if redis.call('RPUSH', p..':l:'..lane, id) == 1 then redis.call('ZADD', p..':ready', ARGV[5], lane) end
return 1
"""

_CLAIM = """
local p, now, lease, claim = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for _ = 1, 20 do
  local lanes = redis.call('ZRANGEBYSCORE', p..':ready', '-inf', now, 'LIMIT', 0, 1)
  if #lanes == 0 then return false end
  local lane = lanes[1]
  local id = redis.call('LINDEX', p..':l:'..lane, 0)
  if id then
    local d = p..':d:'..id
    redis.call('HSET', d, 'status', 'running', 'claim', claim, 'lease_until', tostring(now + lease),
               'updated_at', ARGV[2])
    redis.call('HINCRBY', d, 'attempts', 1)
    redis.call('ZADD', p..':ready', now + lease, lane)
    return redis.call('HGETALL', d)
  end
  redis.call('ZREM', p..':ready', lane)
end
return false
"""

_HELD = """
local d = ARGV[1]..':d:'..ARGV[2]
if redis.call('HGET', d, 'claim') ~= ARGV[3] or redis.call('HGET', d, 'status') ~= 'running' then return nil end
return redis.call('HGET', d, 'lane')
"""

_EXTEND = _HELD.replace("return redis.call('HGET', d, 'lane')", """
local lane = redis.call('HGET', d, 'lane')
redis.call('HSET', d, 'lease_until', ARGV[4])
redis.call('ZADD', ARGV[1]..':ready', ARGV[4], lane)
return 1""")

_FINISH = _HELD.replace("return redis.call('HGET', d, 'lane')", """
local p, id, status, now = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local lane = redis.call('HGET', d, 'lane')
redis.call('HSET', d, 'status', status, 'last_error', ARGV[6], 'next_at', ARGV[7], 'updated_at', now,
           'claim', '', 'lease_until', '')
if status == 'retrying' then
  redis.call('ZADD', p..':ready', ARGV[7], lane)
elseif status == 'queued' then
  redis.call('ZADD', p..':ready', now, lane)
else
  redis.call('LREM', p..':l:'..lane, 1, id)
  redis.call('SREM', p..':pending', id)
  if redis.call('LLEN', p..':l:'..lane) > 0 then redis.call('ZADD', p..':ready', now, lane)
  else redis.call('ZREM', p..':ready', lane) end
end
return 1""")

_REPLAY = """
local p, id, now, replayed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local d = p..':d:'..id
local status = redis.call('HGET', d, 'status')
if status ~= 'done' and status ~= 'failed' and status ~= 'dead' then return 0 end
local lane = redis.call('HGET', d, 'lane')
local pos = redis.call('INCR', p..':pos')
redis.call('HSET', d, 'status', 'queued', 'attempts', 0, 'last_error', replayed, 'next_at', '', 'pos', pos,
           'updated_at', now)
redis.call('ZADD', p..':all', pos, id)
redis.call('SADD', p..':pending', id)
if redis.call('RPUSH', p..':l:'..lane, id) == 1 then redis.call('ZADD', p..':ready', now, lane) end
return 1
"""

_PURGE = """
local p, before, n = ARGV[1], tonumber(ARGV[2]), 0
for _, id in ipairs(redis.call('ZRANGE', p..':all', 0, 999)) do
  local d = p..':d:'..id
  local status = redis.call('HGET', d, 'status')
  if (status == 'done' or status == 'failed' or status == 'dead')
      and tonumber(redis.call('HGET', d, 'updated_at')) < before then
    redis.call('DEL', d)
    redis.call('ZREM', p..':all', id)
    n = n + 1
  elseif status == false then
    redis.call('ZREM', p..':all', id)
  end
end
return n
"""

_TEXT = ("id", "lane", "issue_key", "event", "status", "last_error", "received_at", "payload")
_FLOAT = ("next_at", "updated_at")


def _record(raw) -> dict | None:
    if not raw:
        return None
    if isinstance(raw, list):  # HGETALL from a script: a flat list
        raw = dict(zip(raw[::2], raw[1::2], strict=True))
    data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}
    out: dict = {k: (data.get(k) or None) for k in _TEXT}
    out["attempts"] = int(data.get("attempts") or 0)
    for k in _FLOAT:
        out[k] = float(data[k]) if data.get(k) else None
    return out


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, name: str = "incident-bot"):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10,
                                           health_check_interval=30)
        self.p = name
        self._add, self._claim, self._extend, self._finish, self._replay, self._purge = (
            self.client.register_script(s) for s in (_ADD, _CLAIM, _EXTEND, _FINISH, _REPLAY, _PURGE))

    def add(self, row: dict, now: float, dedupe_seconds: float) -> bool:
        return bool(self._add(args=[self.p, row["id"], row["dedupe_key"], _ms(dedupe_seconds), repr(now), row["lane"],
                                    row.get("issue_key") or "", row.get("event") or "", row.get("payload") or "",
                                    row.get("received_at") or ""]))

    def remember(self, dedupe_key: str, now: float, dedupe_seconds: float) -> bool:
        return bool(self.client.set(f"{self.p}:k:{dedupe_key}", "-", nx=True, px=_ms(dedupe_seconds)))

    def claim(self, claim: str, now: float, lease_seconds: float) -> dict | None:
        return _record(self._claim(args=[self.p, repr(now), repr(lease_seconds), claim]))

    def extend(self, delivery_id: str, claim: str, until: float) -> bool:
        return bool(self._extend(args=[self.p, delivery_id, claim, repr(until)]))

    def finish(self, delivery_id: str, claim: str, status: str, now: float, error: str | None = None,
               next_at: float | None = None) -> bool:
        if status not in FINAL + ("retrying", "queued"):
            raise ValueError(f"unknown outcome {status!r}")
        return bool(self._finish(args=[self.p, delivery_id, claim, status, repr(now), error or "",
                                       "" if next_at is None else repr(next_at)]))

    def replay(self, delivery_id: str, now: float) -> bool:
        return bool(self._replay(args=[self.p, delivery_id, repr(now), REPLAYED]))

    def get(self, delivery_id: str) -> dict | None:
        return _record(self.client.hgetall(f"{self.p}:d:{delivery_id}"))

    def list(self, statuses: tuple[str, ...] = STATUSES, limit: int | None = None) -> list[dict]:
        ids = self.client.zrange(f"{self.p}:all", 0, -1)
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(f"{self.p}:d:{i.decode()}")
        rows = [r for r in map(_record, pipe.execute()) if r is not None and r["status"] in statuses]
        return rows if limit is None else rows[: int(limit)]

    def depth(self) -> int:
        return int(self.client.scard(f"{self.p}:pending"))

    def purge(self, now: float, keep_seconds: float) -> int:
        return int(self._purge(args=[self.p, repr(now - keep_seconds)]))  # keys expire by themselves

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()
