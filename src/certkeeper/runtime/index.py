"""A reverse index kept up to date from watch events, so that an event on one object
finds the objects waiting on it without listing a kind."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from .queue import Key


class ReverseIndex:
    """key -> the things it waits on, and back; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[Key, set[Hashable]] = {}
        self._keys: dict[Hashable, set[Key]] = {}

    def set(self, key: Key, targets: set[Hashable]) -> None:
        with self._lock:
            for t in self._targets.pop(key, set()):
                waiting = self._keys.get(t)
                if waiting is not None:
                    waiting.discard(key)
                    if not waiting:
                        del self._keys[t]
            if targets:
                self._targets[key] = targets
                for t in targets:
                    self._keys.setdefault(t, set()).add(key)

    def get(self, target: Hashable) -> list[Key]:
        with self._lock:
            return list(self._keys.get(target, ()))
