"""Polling with short growing intervals instead of the library's fixed one-second sleeps.

A real ACME server usually finishes validation or issuance within milliseconds, so the
first polls come quickly (5 ms, doubling) and back off to 1 s; a ``Retry-After`` from the
server is honoured as a lower bound on the next wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from certkeeper.acme.errors import AcmeTimeoutError

T = TypeVar("T")

FIRST_INTERVAL = 0.005
MAX_INTERVAL = 1.0


def poll_until(
    fetch: Callable[[], tuple[T, float | None]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    first_interval: float = FIRST_INTERVAL,
    max_interval: float = MAX_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fetch`` (returning the resource and the server's Retry-After seconds) until
    ``done`` holds; raise :class:`AcmeTimeoutError` once ``timeout`` seconds have passed."""
    deadline = monotonic() + timeout
    interval = first_interval
    while True:
        resource, retry_after = fetch()
        if done(resource):
            return resource
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise AcmeTimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        wait = max(interval, retry_after or 0.0)
        sleep(min(wait, remaining))
        interval = min(interval * 2, max_interval)
