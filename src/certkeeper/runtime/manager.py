"""Runs controllers: feeds their queues from the store's watch and runs their workers.

Two ways to run: ``run`` with worker threads (the daemon), and ``settle`` which processes
every ready key in the calling thread until nothing is left to do now — tests use it with
a FakeClock to step through issuance and renewal deterministically.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..store.base import Conflict, NotFound, WatchEvent
from .controller import Context, Controller, Result
from .queue import Key, RateLimiter, WorkQueue

log = logging.getLogger("certkeeper.manager")


class Manager:
    def __init__(self, ctx: Context, factories: list[Callable[[Context], Controller]]) -> None:
        self.ctx = ctx
        self.controllers: list[Controller] = [f(ctx) for f in factories]
        self.queues: dict[str, WorkQueue] = {}
        self._routes: dict[str, list[tuple[WorkQueue, Callable[[WatchEvent], object]]]] = {}
        for c in self.controllers:
            q = WorkQueue(ctx.clock, RateLimiter(c.backoff_base, c.backoff_cap), name=c.name)
            self.queues[c.name] = q
            for kind, mapper in c.watches():
                self._routes.setdefault(kind, []).append((q, mapper))
        self._unwatch: Callable[[], None] | None = None
        self._threads: list[threading.Thread] = []
        self.errors = 0
        self.syncs = 0
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    # -- wiring -----------------------------------------------------------------
    def _on_event(self, event: WatchEvent) -> None:
        for q, mapper in self._routes.get(event.kind, []):
            try:
                keys = mapper(event)
            except Exception:  # a broken mapper must not stop the watch
                log.exception("mapping %s event for %s failed", event.kind, q.name)
                continue
            for key in keys:  # type: ignore[attr-defined]
                q.add(key)

    def start(self) -> None:
        """Subscribe to changes, then enqueue everything that exists (the initial LIST)."""
        self._unwatch = self.ctx.store.watch(self._on_event)
        for c in self.controllers:
            q = self.queues[c.name]
            for obj in self.ctx.store.list(c.primary):
                q.add((obj.namespace, obj.name))

    def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for q in self.queues.values():
            q.shutdown()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    # -- processing -------------------------------------------------------------
    def _process(self, c: Controller, q: WorkQueue, key: Key) -> None:
        self.syncs += 1
        with self._inflight_lock:
            self._inflight += 1
        try:
            result = c.reconcile(key)
        except Conflict:
            log.debug("%s %s: conflict, retrying", c.name, key)
            q.add_rate_limited(key)
        except NotFound as e:
            log.debug("%s %s: %s, retrying", c.name, key, e)
            q.add_rate_limited(key)
        except Exception:
            self.errors += 1
            log.exception("%s: reconciling %s failed", c.name, key)
            q.add_rate_limited(key)
        else:
            q.forget(key)
            if isinstance(result, Result) and result.requeue_after is not None:
                q.add_after(key, result.requeue_after)
        finally:
            q.done(key)
            with self._inflight_lock:
                self._inflight -= 1

    def settle(self, max_steps: int = 100_000) -> int:
        """Process every key that is ready now, round-robin, until all queues are idle."""
        steps = 0
        while steps < max_steps:
            progressed = False
            for c in self.controllers:
                q = self.queues[c.name]
                key = q.try_get()
                if key is None:
                    continue
                progressed = True
                steps += 1
                self._process(c, q, key)
            if not progressed:
                return steps
        raise RuntimeError(f"controllers did not settle after {max_steps} steps")

    def run_workers(self) -> None:
        for c in self.controllers:
            q = self.queues[c.name]
            for i in range(max(1, c.workers)):
                t = threading.Thread(
                    target=self._worker, args=(c, q), name=f"{c.name}-{i}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _worker(self, c: Controller, q: WorkQueue) -> None:
        while True:
            key = q.get()
            if key is None:
                return
            self._process(c, q, key)

    def idle(self) -> bool:
        """Nothing ready to process and nothing being processed (timers may be pending)."""
        with self._inflight_lock:
            if self._inflight:
                return False
        return all(q.ready_len() == 0 for q in self.queues.values())
