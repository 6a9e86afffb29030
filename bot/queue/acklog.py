"""The acknowledgement log: where `incident-bot serve` (SQLite) keeps a delivery before it answers 202.

Why not SQLite straight away: every call into SQLite hands the interpreter lock over and waits to get it
back, and the callers of a group commit sleep and are woken. Under load those hand-overs, not SQLite's
work, were most of what the bot's acknowledgement cost over a bare endpoint (README "Measured"). Copying a
frame into a shared memory-mapped file needs neither: the copy runs with the interpreter lock held and
makes no system call. Once it returns, the frame is in the kernel's page cache, so it survives the process
being killed, as a SQLite commit with synchronous=NORMAL does; like NORMAL, not a power cut (with
`sqlite_synchronous: FULL` the queue does not use this log).

The queue's housekeeping thread then stores the logged deliveries in SQLite (`flush`, a statement per 500)
and only then wakes the workers. Whether a delivery is a duplicate is answered from memory: the live
dedupe keys are read from SQLite when the log opens and kept up to date.

The file has two halves, so acknowledgements go on into one while the other is being stored:
    half header: magic "IBA1", u32 half size, u64 id (0: empty), u64 activated (ns, orders the halves)
    frame:       u32 length, u32 crc32 of the data, u64 id of its half, then the data (`encode`)
A half gets a fresh random id each time it is activated, so a frame left over from an earlier use never
matches; a bad crc (a frame torn by a power cut) or another id ends a half. When the log opens, whatever it
holds is stored first, oldest half first: storing is idempotent (the record id and the dedupe key). One
process uses the log at a time (an flock); any other stores in SQLite directly.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import secrets
import struct
import threading
import time
import zlib
from typing import Any

LOG = logging.getLogger("incident_bot.queue")

_HALF = struct.Struct("<4sIQQ")
_FRAME = struct.Struct("<IIQ")
_MAGIC = b"IBA1"
# zlib releases the interpreter lock for more than 5 KiB, and a hand-over is what this log avoids.
_CRC_CHUNK = 4096


class AckLogBusy(Exception):
    """Another process has the log."""


def _crc(data: bytes) -> int:
    view, crc = memoryview(data), 0
    for start in range(0, len(view), _CRC_CHUNK):
        crc = zlib.crc32(view[start:start + _CRC_CHUNK], crc)
    return crc


def encode(rec: dict, key: str, ttl: float, now: float) -> bytes:
    """JSON [record without its payload, key, ttl, now], a newline, then the payload (already JSON, so it is
    not escaped a second time; json.dumps writes no raw newline)."""
    meta = {name: value for name, value in rec.items() if name != "payload"}
    return json.dumps([meta, key, ttl, now], separators=(",", ":")).encode() + b"\n" + rec["payload"].encode()


def decode(data: bytes) -> tuple[dict, str, float, float]:
    head, _, payload = data.partition(b"\n")
    rec, key, ttl, now = json.loads(head)
    rec["payload"] = payload.decode()
    return rec, key, ttl, now


class AckLog:
    """Thread-safe. `store` is the _SqliteStore the deliveries end up in."""

    PURGE_SECONDS = 60.0

    def __init__(self, store: Any, path: str, size: int | None):
        """Open the log and store what it holds. `size` in bytes (both halves); None keeps the file's own
        (to recover a log without using it)."""
        self.store = store
        self.path = path
        self._mm: mmap.mmap | None = None
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AckLogBusy(path) from None
        self._fd: int | None = fd
        self._lock = threading.Lock()  # the active half: position, entries, live keys
        self._flush_lock = threading.Lock()  # one flush at a time
        # Dedupe, as SQLite answers it: a key or a delivery id stored or logged, until the key expires.
        self._live: dict[str, float] = {}  # dedupe key -> expiry
        self._live_ids: dict[str, float] = {}  # delivery id -> its key's expiry
        self._live_rowid = 0  # the last ib_dedupe row read into _live
        self._last_purge = time.time()
        self._entries: list[tuple] = []  # the active half's deliveries: (rec, key, ttl, now)
        self._lanes: list[str] = []  # lanes of deliveries stored directly since the last flush
        self._unstored: tuple[int, list[tuple]] | None = None  # a half whose storing failed: (half, entries)
        self._storing = 0  # deliveries a flush is storing now
        self._stamp = 0
        try:
            written = self._written_half()
            half = written or self._half_for(size or 0)
            self._map(half)
            self._recover()
            if size is not None and self._half_for(size) != half:
                self._map(self._half_for(size))  # recovered with the size it was written with; now resized
            if size is not None:
                # Disk blocks for the whole file now: a write through the mapping that needs a block the
                # disk cannot give kills the process (SIGBUS) instead of failing. Raises OSError (ENOSPC).
                os.posix_fallocate(self._fd, 0, 2 * self._half)
            for h in (0, 1):
                self._clear(h)
            self._active = 0
            self._activate(0)
            self._read_live(time.time())
        except BaseException:
            self.close(flush=False)
            raise

    @staticmethod
    def _half_for(size: int) -> int:
        return max(mmap.PAGESIZE * 16, size // 2 // mmap.PAGESIZE * mmap.PAGESIZE)

    def _written_half(self) -> int:
        """The half size the file was written with (each half header holds it), or 0 for a new file."""
        assert self._fd is not None
        head = os.pread(self._fd, _HALF.size, 0)
        if len(head) < _HALF.size:
            return 0
        magic, half, _, _ = _HALF.unpack(head)
        if magic != _MAGIC or half <= 0 or half % mmap.PAGESIZE or os.fstat(self._fd).st_size < 2 * half:
            return 0
        return half

    def _map(self, half: int) -> None:
        assert self._fd is not None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
            os.ftruncate(self._fd, 2 * half)
        elif os.fstat(self._fd).st_size < 2 * half:
            os.ftruncate(self._fd, 2 * half)
        self._half = half
        self._mm = mmap.mmap(self._fd, 2 * half)

    # -- halves
    def _header(self, half: int) -> tuple[int, int]:
        magic, _, ident, stamp = _HALF.unpack_from(self._mm, half * self._half)
        return (ident, stamp) if magic == _MAGIC else (0, 0)

    def _activate(self, half: int) -> None:
        self._stamp = max(time.time_ns(), self._stamp + 1)
        self._id = secrets.randbits(63) + 1
        _HALF.pack_into(self._mm, half * self._half, _MAGIC, self._half, self._id, self._stamp)
        self._pos = half * self._half + _HALF.size

    def _clear(self, half: int) -> None:
        _HALF.pack_into(self._mm, half * self._half, _MAGIC, self._half, 0, 0)

    def _frames(self, half: int) -> list[bytes]:
        ident, _ = self._header(half)
        base, end = half * self._half, (half + 1) * self._half
        pos, out = base + _HALF.size, []
        while pos + _FRAME.size <= end:
            length, crc, frame_id = _FRAME.unpack_from(self._mm, pos)
            if frame_id != ident or length == 0 or pos + _FRAME.size + length > end:
                break
            data = self._mm[pos + _FRAME.size:pos + _FRAME.size + length]
            if _crc(data) != crc:
                LOG.error("acknowledgement log %s: a torn frame at byte %d ends half %d", self.path, pos, half)
                break
            out.append(data)
            pos += _FRAME.size + length
        return out

    def _recover(self) -> None:
        """Store what a process that stopped (or was killed) left in the log, oldest half first."""
        halves = sorted((self._header(h)[1], h) for h in (0, 1) if self._header(h)[0])
        for _, half in halves:
            entries = [decode(data) for data in self._frames(half)]
            if entries:
                results = self.store.add_logged(entries)
                LOG.warning("acknowledgement log: stored %d deliveries left by a stopped process (%d new)",
                            len(entries), sum(results))
            self._clear(half)

    def _read_live(self, now: float) -> None:
        """Read the dedupe keys stored since the last read (another process may store some too); the query
        runs outside _lock, so acknowledgements do not wait for it. Callers hold _flush_lock (or own the
        log alone, while it opens)."""
        rows, rowid = self.store.live_keys(self._live_rowid, now)
        with self._lock:
            self._live_rowid = rowid
            for key, delivery_id, expires in rows:
                self._remember(key, delivery_id, expires)

    def _purge(self, now: float) -> None:
        """Forget expired keys, a slice at a time, so that acknowledgements never wait long for _lock."""
        for live in (self._live, self._live_ids):
            expired = [key for key, expires in list(live.items()) if expires <= now]
            for start in range(0, len(expired), 1000):
                with self._lock:
                    for key in expired[start:start + 1000]:
                        if live.get(key, now + 1) <= now:
                            del live[key]

    # -- the acknowledgement path
    def _remember(self, key: str, delivery_id: str | None, expires: float) -> None:
        if self._live.get(key, 0.0) < expires:
            self._live[key] = expires
        if delivery_id is not None and self._live_ids.get(delivery_id, 0.0) < expires:
            self._live_ids[delivery_id] = expires

    def _seen(self, rec: dict, key: str, now: float) -> bool:
        return self._live.get(key, 0.0) > now or self._live_ids.get(rec["id"], 0.0) > now

    def _append(self, data: bytes, crc: int) -> bool:
        """Copy one frame into the active half (caller holds _lock). False when it does not fit."""
        end = self._pos + _FRAME.size + len(data)
        if end > (self._active + 1) * self._half:
            return False
        # the data first, then its header: a process killed between the two leaves no valid frame
        self._mm[self._pos + _FRAME.size:end] = data
        _FRAME.pack_into(self._mm, self._pos, len(data), crc, self._id)
        self._pos = end
        return True

    def add(self, rec: dict, key: str, ttl: float, now: float) -> bool:
        """Keep one delivery. True: logged (or stored), answer 202; False: its dedupe key is live."""
        data = encode(rec, key, ttl, now)
        crc = _crc(data)
        for _ in range(3):
            with self._lock:
                if self._seen(rec, key, now):
                    return False
                if self._append(data, crc):
                    self._remember(key, rec["id"], now + ttl)
                    self._entries.append((rec, key, ttl, now))
                    return True
            try:
                lanes = self.flush()  # the active half is full: store it, which empties it
            except Exception as exc:  # a half that could not be stored stays in the log
                LOG.warning("acknowledgement log full and not stored: %s", exc)
                continue  # a flush that failed has still switched halves when it could
            with self._lock:
                self._lanes += lanes  # woken after the next flush
        # Larger than a half, or the log is full and cannot be stored: store it directly (which raises
        # when SQLite is out of reach: the webhook is answered 503), keeping its key reserved meanwhile.
        with self._lock:
            if self._seen(rec, key, now):
                return False
            self._remember(key, rec["id"], now + ttl)
        stored = False
        try:
            stored = self.store.add(rec, key, ttl, now)
        finally:
            with self._lock:
                if stored:
                    self._lanes.append(rec["lane"])
                else:
                    self._live.pop(key, None)
                    self._live_ids.pop(rec["id"], None)
        return stored

    # -- storing
    def flush(self) -> list[str]:
        """Store every logged delivery in SQLite; returns the lanes stored (to wake). Acknowledgements go on
        into the other half meanwhile. When storing fails, the half stays in the log and is stored first by
        the next flush (or the next start); until then the other half takes acknowledgements, and once it
        is full too, add() stores in SQLite directly, which fails (the webhook is answered 503) while
        SQLite is out of reach."""
        with self._flush_lock:
            lanes: list[str] = []
            if self._unstored is not None:
                half, entries = self._unstored
                self._store_half(half, entries, lanes)
                self._unstored = None
            with self._lock:
                entries, self._entries = self._entries, []
                lanes += self._lanes
                self._lanes = []
                if entries:
                    old, self._active = self._active, 1 - self._active
                    self._activate(self._active)
                    self._storing = len(entries)
            if entries:
                try:
                    self._store_half(old, entries, lanes)
                except BaseException:
                    with self._lock:
                        self._storing = 0
                        self._unstored = (old, entries)
                        self._lanes[:0] = lanes
                    raise
            return list(dict.fromkeys(lanes))

    def _store_half(self, half: int, entries: list[tuple], lanes: list[str]) -> None:
        results = self.store.add_logged(entries)
        with self._lock:
            self._clear(half)
            self._storing = 0
        for (rec, _key, _ttl, _now), stored in zip(entries, results, strict=True):
            if stored:
                lanes.append(rec["lane"])
            else:  # its id was stored before, under a key that has since expired
                LOG.info("logged delivery already stored; not queued again", extra={"delivery_id": rec["id"]})
        now = time.time()
        self._read_live(now)
        if now - self._last_purge > self.PURGE_SECONDS:
            self._last_purge = now
            self._purge(now)

    def pending(self) -> int:
        with self._lock:
            return len(self._entries) + self._storing + (len(self._unstored[1]) if self._unstored else 0)

    def close(self, flush: bool = True) -> None:
        """Store what is logged and let the log go (another process may take it)."""
        try:
            if flush and self._mm is not None:
                self.flush()
        finally:
            mm, self._mm = self._mm, None
            if mm is not None:
                mm.close()
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)  # releases the flock
