"""Injectable time. Controllers never call ``datetime.now()`` directly.

A FakeClock lets tests move time forward; the work queue's timers observe it through
``subscribe`` so that a renewal scheduled 60 days ahead fires when the test says so.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def subscribe(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever time jumps (FakeClock only; a real clock never calls it)."""
        ...

    @property
    def is_real(self) -> bool: ...


class RealClock:
    is_real = True

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def subscribe(self, fn: Callable[[], None]) -> None:
        return None


class FakeClock:
    is_real = False

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self._lock = threading.Lock()
        self._subs: list[Callable[[], None]] = []

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def subscribe(self, fn: Callable[[], None]) -> None:
        self._subs.append(fn)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._now = self._now + delta
        for fn in list(self._subs):
            fn()

    def set(self, t: dt.datetime) -> None:
        with self._lock:
            self._now = t
        for fn in list(self._subs):
            fn()
