"""Leader election over the Store protocol's lease, with client-go's three timings.

``lease_duration``: how long a standby waits on a lease nobody renews before it takes
over. ``renew_deadline``: how long the leader keeps retrying a renewal that fails (an API
server that does not answer) before it stops leading, always before its lease can be
taken. ``retry_period``: how often the leader renews and a standby tries.

A store that fails for a moment (a full disk, an API server that does not answer) is
said once in the log and retried; a daemon that holds the host's flock (``exclusive``)
waits it out however long it lasts, since no other daemon can act on that store. A store
that is broken for good (removed or replaced under the daemon) ends the leadership at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..store.base import Store, StoreError
from ..store.errors import StoreBroken

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
        exclusive: bool = False,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.duration = duration
        self.renew_deadline = min(renew_deadline, duration)
        self.retry_period = retry_period
        self._monotonic = monotonic
        self._renewed: float | None = None
        self.exclusive = exclusive
        #: why the store is unavailable, while it is
        self._outage: str | None = None

    def _acquire(self) -> bool | None:
        """acquire_lease; None while the store cannot answer (said once per outage).
        Raises StoreBroken."""
        try:
            ok = self.store.acquire_lease(self.name, self.holder, self.duration)
        except StoreBroken:
            raise
        except StoreError as e:  # StoreUnavailable, or a server's error
            if self._outage is None:
                log.warning(
                    "store unavailable for lease %s: %s; waiting and retrying every %.0fs",
                    self.name, e, self.retry_period,
                )
            self._outage = str(e)
            return None
        if self._outage is not None:
            log.info("store available again; lease %s %s", self.name, "renewed" if ok else "answered")
            self._outage = None
        if ok:
            self._renewed = self._monotonic()
        return ok

    def renewed_at(self) -> float | None:
        """When (on ``monotonic``) the lease was last taken or renewed; None before that."""
        return self._renewed

    def try_acquire(self) -> bool:
        """Take or renew the lease now; a store that cannot be reached is a 'not now'.
        Raises StoreBroken."""
        return bool(self._acquire())

    def still_leading(self) -> bool:
        """Renew; False once another holder has the lease, or when no renewal has gone
        through for ``renew_deadline`` (someone may take it soon: stop acting first)."""
        try:
            ok = self._acquire()
        except StoreBroken as e:
            log.error("%s", e)
            return False
        if ok:
            self._renewed = self._monotonic()
            return True
        if ok is False:
            log.error("lease %s is held by another daemon", self.name)
            return False
        if self.exclusive:
            return True  # no other daemon can take a lease guarded by the host's flock
        if self._renewed is not None and self._monotonic() - self._renewed > self.renew_deadline:
            log.error("lease %s not renewed for %.0fs (renew deadline)", self.name, self.renew_deadline)
            return False
        return True

    def release(self) -> None:
        try:
            self.store.release_lease(self.name, self.holder)
        except StoreError as e:
            log.warning("releasing lease %s failed: %s", self.name, e)

    def free_dead_holder(self, previous: str | None, alive: Callable[[str], bool]) -> None:
        """Release the lease of ``previous``, the holder that locked the host's lock file
        before us, if it is not ``alive``: it died holding it, and nobody else could."""
        if not previous or previous == self.holder or alive(previous):
            return
        try:
            self.store.release_lease(self.name, previous)
        except StoreError as e:  # else its lease expires on its own
            log.debug("releasing the lease of %s failed: %s", previous, e)
