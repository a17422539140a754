"""A de-duplicating work queue with delayed adds and per-key back-off, after client-go's.

Why its own: controllers must be level-triggered and idempotent, so a key that changes
many times while queued is reconciled once; a key being reconciled is never handed to a
second worker at the same time (it is re-queued when done instead); and renewal timers
months ahead must cost nothing while they wait. Delays are measured on the injected
clock, so a test moves time and the timers fire.

Ready keys are served by **ticket**, lowest first, not first in, first out. A ticket says
which piece of work a key belongs to (the manager gives every step of one issuance the
ticket its Certificate got when it was first seen, ``runtime/lineage.py``), and tickets
grow with time, so work in flight is finished before newer work is started: with FIFO
over all keys, every step of a batch's issuances went behind every certificate's previous
step, and the batch moved in lockstep, no certificate done before nearly all were. A key
with no ticket gets a fresh one when it is added, which is FIFO among such keys.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable

from .clock import Clock

#: (namespace or None for cluster-scoped objects, name): what a controller reconciles
Key = tuple[str | None, str]
#: what the queue holds: any hashable work item (the manager uses (controller, Key))
Item = Hashable
#: where a ready item stands: lower first; see the module's docstring
Ticket = int

_tickets = itertools.count()


def next_ticket() -> Ticket:
    """A ticket after every ticket handed out so far (thread-safe under the GIL)."""
    return next(_tickets)


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
        ticket_of: Callable[[Item], Ticket | None] | None = None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._limiter = rate_limiter or RateLimiter(dt.timedelta(seconds=1), dt.timedelta(seconds=30))
        #: the ticket an item has of its own (None: a fresh one), asked under the queue's lock
        self._ticket_of = ticket_of
        self._cond = threading.Condition()
        # ready items: heap of (ticket, seq, item); _queued holds each item's current
        # ticket, and heap entries whose ticket is no longer the item's are skipped
        self._queue: list[tuple[Ticket, int, Item]] = []
        self._queued: dict[Item, Ticket] = {}
        # low priority: the start-up sweep, served only when nothing else is ready
        self._low: deque[Item] = deque()
        self._low_set: set[Item] = set()
        self._processing: set[Item] = set()
        self._dirty: dict[Item, Ticket | None] = {}
        # timers: heap of (due, seq, key); _due holds the earliest due time per key
        self._timers: list[tuple[dt.datetime, int, Item]] = []
        self._due: dict[Item, dt.datetime] = {}
        self._seq = itertools.count()
        self._shutdown = False
        clock.subscribe(self._wake)

    # -- adding ---------------------------------------------------------------
    def add(self, key: Item, ticket: Ticket | None = None) -> None:
        """Make ``key`` ready; ``ticket`` (when the key has none of its own) is the
        ticket of the work that caused the add. An already queued key keeps the lower."""
        with self._cond:
            self._add_locked(key, ticket)

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
        key: Item | None = None
        while self._queue:
            ticket, _, candidate = heapq.heappop(self._queue)
            if self._queued.get(candidate) == ticket:
                del self._queued[candidate]
                key = candidate
                break
        if key is None:
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

    def _add_locked(self, key: Item, ticket: Ticket | None = None) -> None:
        if self._shutdown:
            return
        self._low_set.discard(key)  # promoted: it is wanted now
        own = self._ticket_of(key) if self._ticket_of is not None else None
        if own is not None:
            ticket = own
        if key in self._processing:
            before = self._dirty.get(key)
            self._dirty[key] = ticket if before is None or (ticket is not None and ticket < before) else before
            return
        current = self._queued.get(key)
        if current is not None:
            if ticket is not None and ticket < current:
                self._queued[key] = ticket
                heapq.heappush(self._queue, (ticket, next(self._seq), key))
            return
        if ticket is None:
            ticket = next_ticket()
        self._queued[key] = ticket
        heapq.heappush(self._queue, (ticket, next(self._seq), key))
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
                self._add_locked(key, self._dirty.pop(key))

    # -- state ----------------------------------------------------------------
    def ready_len(self) -> int:
        with self._cond:
            self._fire_due_locked()
            return len(self._queued) + len(self._low_set)

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
