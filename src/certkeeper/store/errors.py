"""Failures of the store itself, as opposed to refusals of one request (NotFound,
Conflict, Invalid ...): what a caller retries, and what it gives up on."""

from __future__ import annotations

from .base import StoreError


class StoreUnavailable(StoreError):
    """The store cannot serve the call now: the disk is full, the file is read-only, or
    another process held the lock past the timeout. The same call may succeed later, so a
    daemon waits and retries; nothing of the failed call was written."""


class StoreBroken(StoreError):
    """No retry can help: there is no store where one was named, it is corrupt or not a
    store at all, or it was removed or replaced while in use."""


class StoreMissing(StoreBroken):
    """Nothing where the store was named, and the caller did not ask to create one."""
