"""Leader election over the Store protocol's lease, with client-go's three timings.

``lease_duration``: how long a standby waits on a lease nobody renews before it takes
over. ``renew_deadline``: how long the leader keeps retrying a renewal that fails (an API
server that does not answer) before it stops leading, always before its lease can be
taken. ``retry_period``: how often the leader renews and a standby tries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..store.base import Store, StoreError

log = logging.getLogger("certkeeper.leader")


class LeaderLease:
    def __init__(
        self,
        store: Store,
        name: str,
        holder: str,
        duration: float,
        renew_deadline: float,
        retry_period: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.duration = duration
        self.renew_deadline = min(renew_deadline, duration)
        self.retry_period = retry_period
        self._monotonic = monotonic
        self._renewed: float | None = None

    def try_acquire(self) -> bool:
        """Take or renew the lease now; a store that cannot be reached is a 'not now'."""
        try:
            ok = self.store.acquire_lease(self.name, self.holder, self.duration)
        except StoreError as e:
            log.warning("cannot reach the store for lease %s: %s", self.name, e)
            return False
        if ok:
            self._renewed = self._monotonic()
        return ok

    def still_leading(self) -> bool:
        """Renew; False once another holder has the lease, or when no renewal has gone
        through for ``renew_deadline`` (someone may take it soon: stop acting first)."""
        try:
            ok = self.store.acquire_lease(self.name, self.holder, self.duration)
        except StoreError as e:
            ok = None
            log.warning("renewing lease %s failed: %s", self.name, e)
        if ok:
            self._renewed = self._monotonic()
            return True
        if ok is False:
            log.error("lease %s is held by another daemon", self.name)
            return False
        if self._renewed is not None and self._monotonic() - self._renewed > self.renew_deadline:
            log.error("lease %s not renewed for %.0fs (renew deadline)", self.name, self.renew_deadline)
            return False
        return True

    def release(self) -> None:
        try:
            self.store.release_lease(self.name, self.holder)
        except StoreError as e:
            log.warning("releasing lease %s failed: %s", self.name, e)
