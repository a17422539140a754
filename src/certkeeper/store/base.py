"""The Store protocol: what every controller and the CLI may do with stored objects.

It mirrors the parts of the Kubernetes API that cert-manager relies on, so that a
Kubernetes backend can stand in for the embedded SQLite one without a controller
noticing: optimistic concurrency by resourceVersion, generation bumped on spec change,
status written through its own call, ownerReferences with garbage collection,
finalizers, and a watch.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # the errors below are imported by every verb, also those that read no object
    from ..api.event import Event
    from ..api.meta import Resource

R = TypeVar("R", bound="Resource")


class StoreError(Exception):
    """Base of the errors a Store raises; messages read like the API server's."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """Stale resourceVersion: re-read and try again (cert-manager's optimistic lock)."""


class Forbidden(StoreError):
    """The credentials may not do this (the API server's 403 names the verb and resource)."""


class Invalid(StoreError):
    """The object failed validation; ``errors`` are ``path: message`` strings."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    type: EventType
    kind: str
    namespace: str | None
    name: str
    #: the object after the change (for DELETED: as it was last stored)
    obj: Resource


WatchHandler = Callable[[WatchEvent], None]


class Store(Protocol):
    """Every call is thread-safe. Objects returned by reads are copies the caller may
    mutate. ``update`` returns the object as stored; ``create`` and ``update_status``
    return a shallow copy of the object given (sharing its spec and status) with the
    metadata the store set (uid, resourceVersion, generation, creationTimestamp, a
    generated name) — what was written, without decoding it back."""

    def get(self, cls: type[R], namespace: str | None, name: str) -> R:
        """Raise NotFound if absent."""
        ...

    def try_get(self, cls: type[R], namespace: str | None, name: str) -> R | None: ...

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> list[R]:
        """All objects of a kind (in one namespace, or all if None), matching every label
        and, with ``owner_uid``, naming that owner in their ownerReferences."""
        ...

    def scan(self, cls: type[R], page: int = 256) -> Iterator[R]:
        """Every object of a kind, fetched a page at a time (for start-up replays)."""
        ...

    def create(self, obj: R) -> R:
        """Assigns uid, creationTimestamp, resourceVersion, generation 1 and a name from
        ``generateName`` if needed. Raise AlreadyExists. Status given on create is kept."""
        ...

    def update(self, obj: R) -> R:
        """Write metadata and spec (and data for kinds without status); the stored status
        is kept. Raise Conflict if ``metadata.resourceVersion`` is stale, NotFound if gone.
        Generation is bumped only when the spec changed."""
        ...

    def update_status(self, obj: R) -> R:
        """Write only the status. Same conflict rule."""
        ...

    def apply(self, obj: R, field_manager: str) -> R:
        """Server-side apply with force: the fields ``obj`` sets become ``field_manager``'s,
        the ones it set last time and no longer sets are removed, and fields other managers
        own stay. Creates the object if needed. Returns the object as stored."""
        ...

    def delete(self, cls: type[R], namespace: str | None, name: str) -> None:
        """With finalizers: set deletionTimestamp and keep it until they are removed.
        Otherwise remove it and garbage-collect every object whose ownerReferences name
        its uid. Raise NotFound."""
        ...

    def watch(self, handler: WatchHandler) -> Callable[[], None]:
        """Call ``handler`` for every change from now on, also changes made by another
        process on the same store. Returns a function that stops the watch."""
        ...

    def record_events(self, events: Sequence[Event]) -> None:
        """Write Events (new, or again under the same name with a higher count) in one go.
        Best-effort and not watched: no controller acts on an Event, and recording one must
        not cost a watch delivery to every controller."""
        ...

    def expire_events(self, last_seen_before: str) -> int:
        """Remove Events last seen before the RFC 3339 time given (Kubernetes keeps them
        one hour); returns how many. A backend whose server expires them returns 0."""
        ...

    def acquire_lease(self, name: str, holder: str, duration_seconds: float) -> bool:
        """Take or renew the named lease for ``holder``; False if another holder has it
        and it has not expired."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def close(self) -> None: ...
