"""Stores: the Store protocol, the embedded SQLite backend and how to open one by URL."""

from __future__ import annotations

import os
from pathlib import Path

from ..runtime.clock import Clock
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
from .sqlite import SqliteStore

__all__ = [
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Invalid",
    "NotFound",
    "SqliteStore",
    "Store",
    "StoreError",
    "WatchEvent",
    "WatchHandler",
    "default_store_path",
    "open_store",
    "sqlite_path_from_url",
]


def default_store_path() -> Path:
    """``$XDG_STATE_HOME/certkeeper/certkeeper.db``: state, not configuration or cache,
    in the XDG sense. The folder is made private (0700) since the file holds keys."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    folder = Path(base) / "certkeeper"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / "certkeeper.db"


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


def open_store(url: str, clock: Clock | None = None) -> Store:
    """Open the store a ``--store`` option names, creating the file's folder if needed."""
    path = sqlite_path_from_url(url)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    return SqliteStore(path, clock=clock)
