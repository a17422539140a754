"""Stores: the Store protocol, the embedded SQLite backend and how to open one by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import (
    AlreadyExists,
    Conflict,
    EventType,
    Invalid,
    NotFound,
    Store,
    StoreError,
    WatchEvent,
    WatchHandler,
)
from .errors import StoreBroken, StoreUnavailable

if TYPE_CHECKING:
    from ..runtime.clock import Clock
    from .sqlite import SqliteStore


def __getattr__(name: str) -> Any:
    """``SqliteStore`` is imported when first asked for: a verb that only handles the
    store's errors (or ``--help``) does not load the backend and every kind it decodes."""
    if name == "SqliteStore":
        from .sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Invalid",
    "NotFound",
    "SqliteStore",
    "Store",
    "StoreBroken",
    "StoreError",
    "StoreUnavailable",
    "WatchEvent",
    "WatchHandler",
    "default_store_path",
    "open_store",
    "sqlite_path_from_url",
]


def default_store_path() -> Path:
    """``$XDG_STATE_HOME/certkeeper/certkeeper.db``: state, not configuration or cache,
    in the XDG sense. Its folder is made (private, 0700, since the file holds keys) only
    when a store is created there."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "certkeeper" / "certkeeper.db"


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///abs/path.db`` -> ``/abs/path.db``; ``sqlite://rel.db`` -> ``rel.db``;
    a bare path is itself. Other schemes are refused."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
    elif "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: expected sqlite:///path or a file path")
    else:
        path = url
    if not path:
        raise ValueError(f"store URL {url!r} names no file")
    return os.path.expanduser(path)


def open_store(
    url: str,
    clock: Clock | None = None,
    *,
    create: bool = False,
    make_folder: bool = False,
    timeout: float | None = 30.0,
) -> Store:
    """Open the store a ``--store`` option names. Only ``create`` makes a new store file
    (a mistyped path for a reading verb is an error, not a new empty store), and only
    ``make_folder`` its missing folders (the default location's, which certkeeper owns).
    Raises StoreBroken or StoreUnavailable with a message for a person."""
    from .sqlite import SqliteStore

    path = sqlite_path_from_url(url)
    if create and make_folder:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
    return SqliteStore(path, clock=clock, create=create, timeout=timeout)
