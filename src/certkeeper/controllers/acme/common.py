"""What the Order and Challenge controllers share: finding the issuer, the polling
schedule, and the one ACME error that is neither terminal nor plainly retryable."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable

from ...acme.errors import AcmeProblemError
from ...api.common import IssuerReference
from ...api.issuer import ClusterIssuer, Issuer
from ...runtime.controller import Context
from ...runtime.queue import Key
from ...store.base import WatchEvent
from .accounts import AccountNotAvailable


def issuer_for(ctx: Context, namespace: str | None, ref: IssuerReference | None) -> Issuer | None:
    if ref is None or not ref.name:
        return None
    if (ref.kind or "Issuer") == "ClusterIssuer":
        return ctx.store.try_get(ClusterIssuer, None, ref.name)
    return ctx.store.try_get(Issuer, namespace, ref.name)


def refers_to(ref: IssuerReference | None, namespace: str | None, event: WatchEvent) -> bool:
    """Whether an object in ``namespace`` with issuerRef ``ref`` uses the issuer of ``event``."""
    if ref is None or ref.name != event.name or (ref.kind or "Issuer") != event.kind:
        return False
    return event.kind == "ClusterIssuer" or namespace == event.namespace


class PollSchedule:
    """Per-key growing delays for asking the ACME server again: a real server usually
    finishes in milliseconds, so the first look comes quickly and later ones back off
    (``first``, doubling, capped at ``maximum``); a Retry-After from the server is a lower
    bound. The schedule, not whatever wakes a key, decides when the server is asked:
    ``early`` tells a key woken before its next look (typically by the event of its own
    status write) how long to wait still."""

    def __init__(self, first: float, maximum: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.first = first
        self.maximum = maximum
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next: dict[Key, float] = {}
        self._due: dict[Key, float] = {}

    def next(self, key: Key, retry_after: float | None = None) -> dt.timedelta:
        with self._lock:
            delay = self._next.get(key, self.first)
            self._next[key] = min(delay * 2, self.maximum)
            wait = max(delay, retry_after or 0.0)
            self._due[key] = self._monotonic() + wait
        return dt.timedelta(seconds=wait)

    def early(self, key: Key) -> dt.timedelta | None:
        """Time left before the look ``next`` set for ``key``; None when it is due."""
        with self._lock:
            due = self._due.get(key)
        if due is None:
            return None
        left = due - self._monotonic()
        return dt.timedelta(seconds=left) if left > 0.001 else None

    def reset(self, key: Key) -> None:
        with self._lock:
            self._next.pop(key, None)
            self._due.pop(key, None)

    def forget(self, keys: Iterable[Key]) -> None:
        with self._lock:
            for key in keys:
                self._next.pop(key, None)
                self._due.pop(key, None)


def account_gone(error: Exception) -> bool:
    """The server does not know our account (e.g. a test CA restarted and lost its state)."""
    return isinstance(error, AcmeProblemError) and error.code in ("accountDoesNotExist",)


def lost_account(ctx: Context, issuer: Issuer, error: Exception) -> AccountNotAvailable:
    """Drop the account so that the issuer registers again; the caller retries."""
    from ...issuers.acme import forget_account  # noqa: PLC0415 - issuers import this package

    forget_account(ctx, issuer)
    return AccountNotAvailable(f"the ACME server no longer knows the account, registering again: {error}")
