"""Built DNS-01 providers, kept between the calls of a challenge.

The solver is asked to check propagation many times a minute; building a provider each
time would assume an AWS role, sign a Google JWT or ask Microsoft Entra for a token on
every poll. An entry is reused while the Secrets it read are unchanged (compared by
digest, read again on each lookup) and it is younger than ten minutes, well inside the
hour that temporary credentials and tokens last.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from ...acme.dns01 import DNS01Provider

MAX_AGE = 600.0
MAX_ENTRIES = 256

ReadKey = tuple[str, str | None]
"""(Secret name, key), or (name, None) for the whole Secret."""
Reader = Callable[[str, str | None], bytes | Mapping[str, bytes] | None]


def digest(value: bytes | Mapping[str, bytes] | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        h = hashlib.sha256()
        for key in sorted(value):
            h.update(key.encode() + b"\0" + value[key] + b"\0")
        return h.hexdigest()
    return hashlib.sha256(value).hexdigest()


@dataclass
class _Entry:
    provider: DNS01Provider
    reads: dict[ReadKey, str]
    built: float


class ProviderCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}

    def get(self, key: Hashable, read: Reader) -> DNS01Provider | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._clock() - entry.built > MAX_AGE:
            return None
        for (name, field), seen in entry.reads.items():
            if digest(read(name, field)) != seen:
                return None
        return entry.provider

    def put(self, key: Hashable, provider: DNS01Provider, reads: dict[ReadKey, str]) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _Entry(provider, dict(reads), self._clock())
