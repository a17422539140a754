"""A de-duplicating work queue with delayed adds and per-key back-off, after client-go's.

Why its own: controllers must be level-triggered and idempotent, so a key that changes
many times while queued is reconciled once; a key being reconciled is never handed to a
second worker at the same time (it is re-queued when done instead); and renewal timers
months ahead must cost nothing while they wait. Delays are measured on the injected
clock, so a test moves time and the timers fire.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Hashable

from .clock import Clock

#: (namespace or None for cluster-scoped objects, name): what a controller reconciles
Key = tuple[str | None, str]
#: what the queue holds: any hashable work item (the manager uses (controller, Key))
Item = Hashable


class RateLimiter:
    """Per-key exponential back-off: base * 2^failures, capped."""

    def __init__(self, base: dt.timedelta, cap: dt.timedelta) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Item, int] = {}

    def when(self, key: Item) -> dt.timedelta:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        delay: dt.timedelta = self.base * (2 ** min(n, 30))
        return min(delay, self.cap)

    def forget(self, key: Item) -> None:
        self._failures.pop(key, None)


class WorkQueue:
    def __init__(
        self,
        clock: Clock,
        rate_limiter: RateLimiter | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._clock = clock
        self._limiter = rate_limiter or RateLimiter(dt.timedelta(seconds=1), dt.timedelta(seconds=30))
        self._cond = threading.Condition()
        self._queue: deque[Item] = deque()
        self._queued: set[Item] = set()
        # low priority: the start-up sweep, served only when nothing else is ready
        self._low: deque[Item] = deque()
        self._low_set: set[Item] = set()
        self._processing: set[Item] = set()
        self._dirty: set[Item] = set()
        # timers: heap of (due, seq, key); _due holds the earliest due time per key
        self._timers: list[tuple[dt.datetime, int, Item]] = []
        self._due: dict[Item, dt.datetime] = {}
        self._seq = itertools.count()
        self._shutdown = False
        clock.subscribe(self._wake)

    # -- adding ---------------------------------------------------------------
    def add(self, key: Item) -> None:
        with self._cond:
            self._add_locked(key)

    def add_low(self, key: Item) -> None:
        """Add behind everything else: work that may wait for live work (the start-up
        sweep over every stored object). A later ``add`` of the same key promotes it."""
        with self._cond:
            if self._shutdown or key in self._processing or key in self._queued or key in self._low_set:
                return
            self._low_set.add(key)
            self._low.append(key)
            self._cond.notify()

    def _pop_locked(self) -> Item | None:
        if self._queue:
            key = self._queue.popleft()
            self._queued.discard(key)
        else:
            while self._low:
                candidate = self._low.popleft()
                if candidate in self._low_set:
                    self._low_set.discard(candidate)
                    key = candidate
                    break
            else:
                return None
        self._processing.add(key)
        return key

    def _add_locked(self, key: Item) -> None:
        if self._shutdown:
            return
        self._low_set.discard(key)  # promoted: it is wanted now
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.append(key)
        self._cond.notify()

    def add_after(self, key: Item, delay: dt.timedelta) -> None:
        """Add once ``delay`` has passed on the clock; an earlier timer for the key wins."""
        if delay <= dt.timedelta(0):
            self.add(key)
            return
        due = self._clock.now() + delay
        with self._cond:
            current = self._due.get(key)
            if current is not None and current <= due:
                return
            self._due[key] = due
            heapq.heappush(self._timers, (due, next(self._seq), key))
            self._cond.notify_all()

    def add_rate_limited(self, key: Item) -> None:
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: Item) -> None:
        self._limiter.forget(key)

    # -- taking ---------------------------------------------------------------
    def _fire_due_locked(self) -> dt.datetime | None:
        """Move due timers to the queue; return the next due time, if any."""
        now = self._clock.now()
        while self._timers:
            due, _, key = self._timers[0]
            if self._due.get(key) != due:
                heapq.heappop(self._timers)  # superseded by an earlier timer
                continue
            if due > now:
                return due
            heapq.heappop(self._timers)
            del self._due[key]
            self._add_locked(key)
        return None

    def get(self, timeout: float | None = None) -> Item | None:
        """Block until a key is ready (or timeout/shutdown). Call ``done`` after."""
        deadline = None if timeout is None else _monotonic() + timeout
        with self._cond:
            while True:
                next_due = self._fire_due_locked()
                key = self._pop_locked()
                if key is not None:
                    return key
                if self._shutdown:
                    return None
                wait: float | None = None
                if next_due is not None and self._clock.is_real:
                    wait = max(0.0, (next_due - self._clock.now()).total_seconds())
                if deadline is not None:
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def try_get(self) -> Item | None:
        """Non-blocking get for synchronous (test) processing."""
        with self._cond:
            self._fire_due_locked()
            return self._pop_locked()

    def done(self, key: Item) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add_locked(key)

    # -- state ----------------------------------------------------------------
    def ready_len(self) -> int:
        with self._cond:
            self._fire_due_locked()
            return len(self._queue) + len(self._low_set)

    def next_due(self) -> dt.datetime | None:
        with self._cond:
            return min(self._due.values(), default=None)

    def pending_timers(self) -> int:
        with self._cond:
            return len(self._due)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def _monotonic() -> float:
    import time

    return time.monotonic()
