"""Runs controllers: feeds one work queue from the store's watch and drains it with a
small pool of workers.

One queue per pool, keyed by (controller, object): work is taken in the order it became
due whatever controller it belongs to, a key is never reconciled by two workers at once,
and a burst of changes to one object while it waits is folded into one reconcile.
Controllers that only compute and use the store share the "main" pool, which is best
served by a single thread under Python's GIL (measured: one worker issued 500
certificates in 18 ms each, two in 26 ms, four in 40 ms); controllers that wait on the
network (ACME, issuer set-up, the files) have an "io" pool of many
threads so that they never hold the others up.

Within a pool, ready work is served by ticket (``runtime/lineage.py``): every step of one
issuance carries the ticket its Certificate got when first seen, so the oldest issuance in
flight is finished first and a batch flows through as a pipeline.

Two ways to run: ``run_workers`` (the daemon), and ``settle`` which processes every ready
key in the calling thread until nothing is left to do now — tests use it with a FakeClock
to step through issuance and renewal deterministically.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import cast

from ..api.meta import Resource
from ..store.base import Conflict, EventType, NotFound, WatchEvent
from ..store.errors import StoreUnavailable
from ..store.transactions import Transactional
from .controller import Context, Controller, Result
from .lineage import Lineage
from .queue import Key, RateLimiter, Ticket, WorkQueue

log = logging.getLogger("certkeeper.manager")

#: (controller name, object key)
Item = tuple[str, Key]

#: at most this many reconciles, and this long, share one store transaction
BATCH_ITEMS = 64
BATCH_SECONDS = 0.02


def _version(event: WatchEvent) -> int:
    try:
        return int(event.obj.metadata.resource_version or "")
    except ValueError:
        return -1  # no comparable version: always delivered


class ControllerQueue:
    """The view of the shared queue one controller has."""

    def __init__(self, manager: Manager, name: str) -> None:
        self._manager = manager
        self._name = name

    def add(self, key: Key) -> None:
        self._manager.queue_of[self._name].add((self._name, key))


class Manager:
    def __init__(
        self,
        ctx: Context,
        factories: list[Callable[[Context], Controller]],
        workers: dict[str, int] | None = None,
    ) -> None:
        self.ctx = ctx
        self.workers = {"main": 1, "io": 16, **(workers or {})}
        self.controllers: list[Controller] = [f(ctx) for f in factories]
        self.by_name: dict[str, Controller] = {c.name: c for c in self.controllers}
        self._primary_kind = {c.name: c.primary.KIND for c in self.controllers}
        self.lineage = Lineage(self._primary_kind.values())
        self.pools: dict[str, WorkQueue] = {}
        self.queue_of: dict[str, WorkQueue] = {}
        for c in self.controllers:
            if c.pool not in self.pools:
                self.pools[c.pool] = WorkQueue(ctx.clock, name=c.pool, ticket_of=self._ticket_of)
            self.queue_of[c.name] = self.pools[c.pool]
        self.limiters: dict[str, RateLimiter] = {
            c.name: RateLimiter(c.backoff_base, c.backoff_cap) for c in self.controllers
        }
        self.queues = {c.name: ControllerQueue(self, c.name) for c in self.controllers}
        for c in self.controllers:
            c.requeue = self.queues[c.name].add
        self._routes: dict[str, list[tuple[str, Callable[[WatchEvent], Iterable[Key]]]]] = {}
        for c in self.controllers:
            for kind, mapper in c.watches():
                self._routes.setdefault(kind, []).append((c.name, mapper))
        self._unwatch: Callable[[], None] | None = None
        self._threads: list[threading.Thread] = []
        self.errors = 0
        self.syncs = 0
        #: per controller, as cert-manager's certmanager_controller_sync_{call,error}_count
        #: (conflicts and vanished objects are retried, not counted as errors)
        self.sync_counts: dict[str, int] = dict.fromkeys(self.by_name, 0)
        self.error_counts: dict[str, int] = dict.fromkeys(self.by_name, 0)
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        #: during a batch's commit: (controller, key) -> the resourceVersion it had seen
        self._seen: dict[Item, int] = {}

    # -- wiring -----------------------------------------------------------------
    def _ticket_of(self, item: Hashable) -> Ticket | None:
        name, key = cast(Item, item)
        return self.lineage.ticket(self._primary_kind[name], key)

    def _on_event(self, event: WatchEvent) -> None:
        self._dispatch(event, self._routes.get(event.kind, []), low=False)

    def _dispatch(
        self, event: WatchEvent, routes: list[tuple[str, Callable[[WatchEvent], Iterable[Key]]]], low: bool
    ) -> None:
        # work an event causes carries the ticket of the event's object, unless the key
        # has one of its own (the queue asks ``_ticket_of``)
        cause = None if low else self.lineage.observe(event)
        seen = self._seen
        version = _version(event) if seen else -1
        for name, mapper in routes:
            try:
                keys = mapper(event)
            except Exception:  # a broken mapper must not stop the watch
                log.exception("mapping %s event for %s failed", event.kind, name)
                continue
            queue = self.queue_of[name]
            for key in keys:
                if seen and version >= 0 and seen.get((name, key), -1) >= version:
                    continue  # reconciled in the batch that wrote this, after the write
                if low:
                    queue.add_low((name, key))
                else:
                    queue.add((name, key), cause)

    def start(self) -> None:
        """Subscribe to changes, then replay everything stored as ADDED events (the
        initial LIST), through the same mappers and filters as live events: a request that
        is long finished does not cost its approver a reconcile at every start. Each kind
        is replayed only to the controllers whose primary kind it is: a Secret's replay
        would only re-queue Certificates that are queued anyway, and reading every Secret
        is the dearest part of a start."""
        if self.ctx.recorder.sink is not None:
            self.ctx.recorder.sink.start()
        self._unwatch = self.ctx.store.watch(self._on_event)
        kinds: dict[str, type[Resource]] = {}
        for c in self.controllers:
            kinds.setdefault(c.primary.KIND, c.primary)
        for kind, cls in kinds.items():
            owners = {c.name for c in self.controllers if kind == c.primary.KIND}
            routes = [(name, mapper) for name, mapper in self._routes.get(kind, []) if name in owners]
            timers = [c for c in self.controllers if c.primary is cls]
            for obj in self.ctx.store.scan(cls):
                # timers a controller can arm from the stored state alone (renewals) are
                # armed now; the full verification of each object waits behind live work
                for c in timers:
                    delay = c.initial_timer(obj)
                    if delay is not None:
                        self.queue_of[c.name].add_after((c.name, (obj.namespace, obj.name)), delay)
                self._dispatch(WatchEvent(EventType.ADDED, kind, obj.namespace, obj.name, obj), routes, low=True)

    def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for q in self.pools.values():
            q.shutdown()
        for c in self.controllers:
            try:
                c.stop()
            except Exception:  # one controller's clean-up must not keep the others running
                log.exception("stopping %s failed", c.name)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        if self.ctx.recorder.sink is not None:
            self.ctx.recorder.sink.close()

    # -- processing -------------------------------------------------------------
    def _process(self, item: Item) -> None:
        name, key = item
        c = self.by_name[name]
        limiter = self.limiters[name]
        queue = self.queue_of[name]
        self.syncs += 1
        self.sync_counts[name] += 1
        with self._inflight_lock:
            self._inflight += 1
        try:
            result = c.reconcile(key)
        except (Conflict, NotFound) as e:
            # someone else wrote first, or an object went away: re-read and try again
            log.debug("%s %s: %s; retrying", name, key, e)
            queue.add_after(item, limiter.when(item))
        except StoreUnavailable as e:
            # a full disk, a lock held too long: nothing to debug in a traceback, just wait
            self.errors += 1
            self.error_counts[name] += 1
            log.warning("%s: reconciling %s waits for the store: %s", name, key, e)
            queue.add_after(item, limiter.when(item))
        except Exception:
            self.errors += 1
            self.error_counts[name] += 1
            log.exception("%s: reconciling %s failed", name, key)
            queue.add_after(item, limiter.when(item))
        else:
            limiter.forget(item)
            if isinstance(result, Result) and result.requeue_after is not None:
                queue.add_after(item, result.requeue_after)
        finally:
            queue.done(item)
            with self._inflight_lock:
                self._inflight -= 1

    def settle(self, max_steps: int = 200_000, batched: bool = False) -> int:
        """Process every key that is ready now, in order, until nothing is left. With
        ``batched``, as the daemon's single main worker does: the ready keys of the main
        pool share store transactions."""
        batched = batched and self._batchable("main")
        steps = 0
        while steps < max_steps:
            progressed = False
            for pool, q in self.pools.items():
                item = q.try_get()
                if item is None:
                    continue
                progressed = True
                if batched and pool == "main":
                    steps += self._process_batch(q, item)  # type: ignore[arg-type]
                else:
                    steps += 1
                    self._process(item)  # type: ignore[arg-type]
            if not progressed:
                return steps
        raise RuntimeError(f"controllers did not settle after {max_steps} steps")

    def _batchable(self, pool: str) -> bool:
        """The main pool only computes and uses the store; with a single worker its
        reconciles can share commits. Other pools wait on networks and hooks, and must never
        hold the store's transaction meanwhile."""
        return pool == "main" and self.workers.get(pool, 1) <= 1 and isinstance(self.ctx.store, Transactional)

    def run_workers(self) -> None:
        for pool, q in self.pools.items():
            batched = self._batchable(pool)
            for i in range(max(1, self.workers.get(pool, 1))):
                t = threading.Thread(target=self._worker, args=(q, batched), name=f"{pool}-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def _worker(self, q: WorkQueue, batched: bool = False) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            if batched:
                self._process_batch(q, item)  # type: ignore[arg-type]
            else:
                self._process(item)  # type: ignore[arg-type]

    def _process_batch(self, q: WorkQueue, first: Item) -> int:
        """Reconcile what is ready now in one store transaction: one commit for many writes
        instead of one each. Nothing a batch writes is seen by a watcher before its commit,
        so the work the writes cause comes in the next batch, and a crash loses only a
        suffix of the writes, never one from the middle (no key without its certificate).
        Bounded in items and time because other threads' store calls wait for the commit."""
        store = self.ctx.store
        assert isinstance(store, Transactional)
        done: list[Item] = []
        # what each reconcile of the batch had seen when it started: the batch's changes
        # come to the watchers after the commit, and one it had seen does not queue it again
        seen: dict[Item, int] = {}
        deadline = time.monotonic() + BATCH_SECONDS
        # in flight until its changes are delivered: between two reconciles of a batch
        # the queue may be empty while the work the batch causes is not queued yet
        with self._inflight_lock:
            self._inflight += 1
        try:
            with store.transaction():
                self._seen = seen
                item: Item | None = first
                while item is not None:
                    version = store.seen_version()
                    if version is not None:
                        seen[item] = version
                    self._process(item)
                    done.append(item)
                    if len(done) >= BATCH_ITEMS or time.monotonic() >= deadline:
                        break
                    item = q.try_get()  # type: ignore[assignment]
        except Exception as e:  # the commit failed: every write of the batch is undone
            log.warning("committing %d reconciles failed, retrying them: %s", len(done), e)
            self.errors += 1
            for item in done:
                q.add_after(item, self.limiters[item[0]].when(item))
        finally:
            self._seen = {}
            with self._inflight_lock:
                self._inflight -= 1
        return len(done)

    def idle(self) -> bool:
        """Nothing ready to process and nothing being processed (timers may be pending)."""
        with self._inflight_lock:
            if self._inflight:
                return False
        return all(q.ready_len() == 0 for q in self.pools.values())

    def pending_timers(self) -> int:
        return sum(q.pending_timers() for q in self.pools.values())
