"""DeliveryQueue: store a delivery, then process it in worker threads, at least once, in order per issue.

A worker claims the oldest ready lane head with a lease, runs the processor, and records the outcome:
done; retrying after a backoff with full jitter (or the GitLab's Retry-After, capped), which holds the
lane; dead after ``max_retries`` retries; failed on a PermanentError. A thread in each process
(``leases``) keeps the leases of the deliveries it is running; a process that dies stops renewing them,
and its deliveries are claimed again when their leases run out. Workers wake on an in-process event (a
delivery stored or replayed here) or poll the store every ``poll_seconds`` (deliveries stored by another
process, retries coming due).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Callable

from bot import metrics
from bot.logs import log_context

from . import retry
from .errors import PermanentError, QueueUnavailable, RetryableError, _error_text
from .keys import dedupe_key
from .leases import LeaseKeeper
from .operators import Operators, _iso
from .outcome import record
from .settings import SETTINGS
from .store import REPLAYED, Store

LOG = logging.getLogger("incident_bot.queue")


class DeliveryQueue(Operators):
    def __init__(self, store: Store, processor: Callable[[dict], None] | None = None,
                 settings: dict | None = None, on_give_up: Callable[[dict, str, str | None], dict | None] | None = None):
        self.store = store
        # A delivery that will not be retried (dead or failed) -> a delivery to queue after it (a notice).
        self.on_give_up = on_give_up
        self.backend = store.kind
        self.processor = processor
        self.settings = {**SETTINGS, **{k: v for k, v in (settings or {}).items() if k in SETTINGS}}
        self._leases = LeaseKeeper()
        self._signal = threading.Condition()
        self._generation = 0  # bumped by every local submit/replay: a worker about to sleep looks again
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lifecycle = threading.Lock()  # a stop() from another thread never meets half-started workers
        self._last_purge = 0.0
        metrics.set_queue_depth_source(self.depth)

    def _f(self, key: str) -> float:
        value = self.settings.get(key)
        return float(SETTINGS[key] if value is None else value)

    @property
    def _dedupe_seconds(self) -> float:
        return self._f("dedupe_hours") * 3600

    # -- the web side
    def submit(self, delivery: dict) -> bool:
        """Store the delivery. True: accepted (answer 202); False: a duplicate (200). Fills in ``id``,
        ``received_at`` and ``dedupe_key`` when missing. Raises QueueUnavailable when the store is down."""
        if not isinstance(delivery, dict):
            raise TypeError("a delivery is a dict")
        delivery.setdefault("id", None)
        delivery["id"] = str(delivery["id"] or uuid.uuid4())
        delivery["received_at"] = delivery.get("received_at") or _iso(time.time())
        delivery["dedupe_key"] = delivery.get("dedupe_key") or dedupe_key(
            delivery.get("headers"), delivery.get("body"), delivery.get("event"), None)
        issue_key = delivery.get("issue_key") or None
        row = {"id": delivery["id"], "dedupe_key": delivery["dedupe_key"], "issue_key": issue_key,
               "lane": f"issue:{issue_key}" if issue_key else f"solo:{delivery['id']}",
               "event": delivery.get("event"), "received_at": delivery["received_at"],
               "payload": json.dumps(delivery)}
        try:
            added = self.store.add(row, time.time(), self._dedupe_seconds)
        except Exception as exc:
            LOG.error("queue store unavailable: %s", _error_text(exc), extra={"delivery_id": row["id"]})
            raise QueueUnavailable(_error_text(exc)) from exc
        if not added:
            metrics.deliveries_duplicate_total.inc()
            LOG.info("duplicate delivery ignored", extra={"delivery_id": row["id"]})
            return False
        metrics.deliveries_accepted_total.inc()
        self._wake()
        return True

    def remember(self, key: str) -> bool:
        """Keep only the dedupe key of a delivery that triggers nothing. False when it was seen before."""
        try:
            return self.store.remember(key, time.time(), self._dedupe_seconds)
        except Exception as exc:
            raise QueueUnavailable(_error_text(exc)) from exc

    def healthy(self) -> bool:
        try:
            self.check()
        except QueueUnavailable as exc:
            LOG.warning("%s", exc)
            return False
        return True

    def check(self) -> None:
        """Raise QueueUnavailable, saying why, when the store cannot be reached."""
        try:
            reached = self.store.ping()
        except Exception as exc:
            raise QueueUnavailable(f"the {self.backend} queue store cannot be reached: {_error_text(exc)}") from exc
        if not reached:
            raise QueueUnavailable(f"the {self.backend} queue store cannot be reached")

    def depth(self) -> int:
        return int(self.store.depth())

    # -- workers
    def start_workers(self, n: int | None = None) -> None:
        """Worker threads in this process (and the lease keeper). Returns at once."""
        with self._lifecycle:
            if self._threads:
                return
            self._stop.clear()
            count = int(n if n is not None else self.settings.get("workers") or 4)
            threads = [threading.Thread(target=self._work, name=f"incident-bot-worker-{i}", daemon=True)
                       for i in range(count)]
            threads.append(threading.Thread(target=self._leases.run, args=(
                self._stop, self.store.extend, self._f("lease_seconds")), name="incident-bot-leases", daemon=True))
            for t in threads:
                t.start()
            self._threads = threads
        LOG.info("queue workers started", extra={"workers": count, "backend": self.backend})

    def run_worker(self, n: int | None = None) -> None:
        """`incident-bot worker`: run the workers until stop() (or Ctrl-C)."""
        self.start_workers(n)
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers after their current delivery; what is still running after ``timeout`` seconds
        is handed back to the queue (another worker runs it again; the note markers keep it from
        posting twice) rather than waiting for its lease to run out."""
        with self._lifecycle:
            self._stop.set()
            threads, self._threads = self._threads, []
        with self._signal:
            self._signal.notify_all()
        if not threads:
            return
        running = len(self._leases.held())
        LOG.info("queue workers stopping", extra={"in_flight": running})
        deadline = time.monotonic() + timeout
        for t in threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        handed_back = self._leases.hand_back(self.store.finish)
        LOG.info("queue workers stopped", extra={"finished": running - handed_back, "handed_back": handed_back})

    def close(self) -> None:
        self.stop()
        self.store.close()

    def _wake(self) -> None:
        with self._signal:
            self._generation += 1
            self._signal.notify()

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._signal:
                generation = self._generation
            try:
                done = self.work_once()
            except Exception as exc:  # the store is unreachable: wait and look again
                LOG.error("queue worker: %s", _error_text(exc))
                done = False
            if done:
                continue
            with self._signal:
                if generation == self._generation and not self._stop.is_set():
                    self._signal.wait(self._f("poll_seconds"))
            if time.time() - self._last_purge > 3600:
                self._last_purge = time.time()
                try:
                    self.purge()
                except Exception as exc:  # the store is down: the worker must outlive it (next hour)
                    LOG.error("queue purge: %s", _error_text(exc))

    def work_once(self) -> bool:
        """Claim one ready delivery and process it. False when nothing was ready."""
        claim = uuid.uuid4().hex
        rec = self.store.claim(claim, time.time(), self._f("lease_seconds"))
        if rec is None:
            return False
        with self._leases.holding(rec["id"], claim):
            self._process(rec, claim)
        return True

    def _process(self, rec: dict, claim: str) -> None:
        max_retries = int(self._f("max_retries"))
        limited = retry.waited_tries(rec["last_error"])
        attempts = rec["attempts"] - limited  # the tries that count against max_retries
        project, _, issue = (rec["issue_key"] or "").partition(":")
        with log_context(delivery_id=rec["id"], project=project or None, issue=issue or None):
            if attempts > max_retries + 1:  # it keeps killing its worker
                self._finish(rec, claim, "dead", f"gave up after {attempts - 1} attempts")
                return
            delivery = dict(json.loads(rec["payload"]), attempts=rec["attempts"],
                            replayed=rec["last_error"] == REPLAYED)
            started = time.monotonic()
            follows = delivery.get("follows")  # it follows a delivery given up on, unless that was replayed
            if follows and (given_up := self.store.get(follows)) is not None \
                    and given_up["status"] not in ("dead", "failed"):
                self._finish(rec, claim, "done", "skipped: the delivery it follows was replayed", started)
                return
            try:
                if self.processor is None:
                    raise RuntimeError("this DeliveryQueue has no processor")
                self.processor(delivery)
            except RetryableError as exc:
                error, retry_after = _error_text(exc), exc.retry_after
                if exc.rate_limited or exc.outage:
                    kind = "429" if exc.rate_limited else "outage"
                    # A delivery may carry a budget of its own (a failure notice waits for GitLab longer).
                    budget = float(delivery.get("wait_minutes") or self._f(retry.BUDGET[kind]))
                    self._retry_waiting(rec, claim, error, retry_after, limited + 1, started, kind, budget)
                    return
            except PermanentError as exc:
                LOG.warning("delivery failed permanently: %s", _error_text(exc))
                self._finish(rec, claim, "failed", _error_text(exc), started)
                return
            except Exception as exc:  # a bug: retried, so that a fix plus `replay` recovers it
                LOG.exception("processor raised an unexpected error", extra={"attempt": rec["attempts"]})
                error, retry_after = _error_text(exc), None
            except BaseException:
                self.store.finish(rec["id"], claim, "queued", time.time(), "interrupted")
                raise
            else:
                self._finish(rec, claim, "done", None, started)
                return
            if limited:
                error = f"[{retry.waited_kind(rec['last_error'])} x{limited}] {error}"
            if attempts - 1 >= max_retries:
                LOG.error("delivery dead after %d attempts: %s", attempts, error)
                self._finish(rec, claim, "dead", error, started)
                return
            self._retry_later(rec, claim, error, self.backoff(attempts - 1, retry_after), started)

    def _retry_waiting(self, rec: dict, claim: str, error: str, retry_after: float | None, tries: int,
                       started: float, kind: str, budget_minutes: float) -> None:
        """GitLab said slow down (429), or is down (5xx, no answer): wait (its Retry-After, else backoff) for
        up to that kind's budget since the delivery arrived, however many tries that takes."""
        error = f"[{kind} x{tries}] {error}"
        if retry.age_seconds(rec["received_at"], time.time()) > budget_minutes * 60:
            LOG.error("delivery dead: GitLab %s for %.1f minutes: %s", "rate limited" if kind == "429" else "down",
                      budget_minutes, error)
            self._finish(rec, claim, "dead", error, started)
            return
        self._retry_later(rec, claim, error, self.backoff(tries - 1, retry_after), started)

    def _retry_later(self, rec: dict, claim: str, error: str, delay: float, started: float) -> None:
        LOG.warning("delivery will be retried in %.2fs: %s", delay, error, extra={"attempt": rec["attempts"]})
        self._finish(rec, claim, "retrying", error, started, next_at=time.time() + delay)
        timer = threading.Timer(delay, self._wake)  # a worker here looks again when it is due
        timer.daemon = True
        timer.start()

    def _finish(self, rec: dict, claim: str, status: str, error: str | None, started: float | None = None,
                next_at: float | None = None) -> None:
        if status in ("dead", "failed") and self.on_give_up is not None:
            # Queued first, behind this delivery in its lane (held until it is recorded): the queue is
            # never seen idle in between. Were the outcome lost, the notice finds its delivery not given
            # up on, and skips itself.
            self._give_up(rec, status, error)
        record(self.store, rec, claim, status, error, started, next_at)

    def _give_up(self, rec: dict, status: str, error: str | None) -> None:
        try:
            follow = self.on_give_up(json.loads(rec["payload"]), status, error)
            if follow is not None:
                self.submit(follow)
        except Exception as exc:  # the outcome is recorded; a lost notice must not undo it
            LOG.error("could not queue what follows a %s delivery: %s", status, _error_text(exc))

    def backoff(self, retry_index: int, retry_after: float | None = None) -> float:
        """See ``retry.backoff``: full jitter, a larger Retry-After wins, capped."""
        return retry.backoff(retry_index, self._f("retry_base_seconds"), self._f("retry_max_seconds"),
                             retry_after, self._f("retry_after_max_seconds"))
