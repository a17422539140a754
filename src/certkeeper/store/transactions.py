"""Several writes as one, where a backend can."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable


@runtime_checkable
class Transactional(Protocol):
    """A store that can make several writes one: all of them, or none. The embedded store
    can; the Kubernetes API cannot (kubectl applies object by object), so callers check."""

    def transaction(self) -> AbstractContextManager[None]:
        """Writes made by this thread inside the block commit together at its end; an
        exception leaving the block undoes them all."""
        ...

    def seen_version(self) -> int | None:
        """Inside this thread's transaction: the resourceVersion of the newest change a read
        made now sees (committed before the block or written in it); None outside one.
        Watchers get a block's changes after its commit, and one that a reader had
        already seen when it read tells it nothing new."""
        ...
