"""The SQLite file behind a store: creating it whole, recognising it, and saying plainly
what went wrong with it.

Why this matters: SQLite happily opens whatever it is given. An empty file reads as an
empty database, a mistyped path becomes a new database, another program's database gets
certkeeper's tables added to it, and every failure surfaces as ``sqlite3.OperationalError``.
Here a store file is created complete or not at all (built under a temporary name, then
linked into place), carries certkeeper's ``application_id``, and every SQLite error is
turned into a :class:`StoreUnavailable` (may pass: disk full, read-only, locked) or a
:class:`StoreBroken` (will not pass: missing, corrupt, not a store, replaced).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from .base import StoreError
from .errors import StoreBroken, StoreUnavailable

T = TypeVar("T")

#: ``PRAGMA application_id`` of a certkeeper store: "ckpr"
APPLICATION_ID = 0x636B7072
#: SQLite's longest busy timeout (ms); what "no timeout" means here (24 days)
_FOREVER_MS = 2**31 - 1

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_AUTH,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_NOLFS,
}
_BROKEN = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT}


def busy_timeout_ms(timeout: float | None) -> int:
    """``None`` or 0 waits for the lock without end, like kubectl's ``--request-timeout=0``."""
    if not timeout or timeout <= 0:
        return _FOREVER_MS
    return min(int(timeout * 1000), _FOREVER_MS)


def describe_timeout(timeout: float | None) -> str:
    return f"{timeout:g}s" if timeout and timeout > 0 else "no limit"


def translate(path: str, e: sqlite3.Error, timeout: float | None) -> StoreError:
    """The one-line error a person reads for an SQLite failure on ``path``."""
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _BUSY:
        return StoreUnavailable(
            f"store {path} is locked by another process; gave up waiting after {describe_timeout(timeout)}"
        )
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and _disk_full(path)):
        return StoreUnavailable(f"store {path}: no space left on the device ({e})")
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        why = _not_writable(path)
        if why:
            return StoreUnavailable(f"store {path} is read-only ({why})")
    if primary in _UNAVAILABLE:
        return StoreUnavailable(f"store {path}: {e}")
    if primary in _BROKEN:
        return StoreBroken(f"store {path} is corrupt ({e}); restore it from a backup")
    return StoreError(f"store {path}: {e}")


def _disk_full(path: str) -> bool:
    """SQLite reports a full disk met while growing its -shm or -wal file as an I/O error."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024 or st.f_favail == 0


def _not_writable(path: str) -> str | None:
    """Why the store's file or folder (where SQLite keeps its -wal and -shm) cannot be
    written, if it cannot."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        return None
    for target in (path, folder):
        if os.path.exists(target) and not os.access(target, os.W_OK):
            return f"{target} is not writable"
    return None


def translate_os(path: str, e: OSError, action: str) -> StoreError:
    if e.errno == errno.ENOENT:
        return StoreBroken(f"cannot {action} store {path}: folder {os.path.dirname(path) or '.'} does not exist")
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreUnavailable(f"cannot {action} store {path}: no space left on the device")
    return StoreUnavailable(f"cannot {action} store {path}: {e.strerror or e}")


def retry_busy(fn: Callable[[], T], timeout: float | None) -> T:
    """Call ``fn`` again while SQLite answers "locked" without having waited (it skips
    its busy handler in a few cases, e.g. while a WAL is being reset), until the timeout.
    When the busy handler did wait, the timeout has passed and the error stands."""
    deadline = None if not timeout or timeout <= 0 else time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if (getattr(e, "sqlite_errorcode", 0) & 0xFF) not in _BUSY:
                raise
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def uri(path: str, mode: str) -> str:
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?mode={mode}"


def connect(path: str, timeout: float | None) -> sqlite3.Connection:
    """Open an existing store file for reading and writing (read-only if the file is
    write-protected): never creates one. Autocommit; transactions are explicit."""
    conn = sqlite3.connect(uri(path, "rw"), uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms(timeout)}")
    except BaseException:
        conn.close()
        raise
    return conn


def create(path: str, schema: Iterable[str]) -> bool:
    """Create the store file complete or not at all: built under a temporary name in the
    same folder (0600, as it holds private keys; SQLite gives its -wal and -shm files the
    same mode), then linked into place. Returns False if another process made it first."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.new-{uuid.uuid4().hex[:12]}")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as e:
        raise translate_os(path, e, "create") from e
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in schema:
                conn.execute(stmt)
            conn.execute("COMMIT")
        finally:
            conn.close()  # the last connection: checkpoints and removes the WAL
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            # a file system without hard links (FAT, some FUSE): a rename, which would
            # replace a store made at this very moment by another process
            if os.path.exists(path):
                return False
            os.rename(tmp, path)
        _fsync_folder(folder)
        return True
    except sqlite3.Error as e:
        raise translate(path, e, None) from e
    except OSError as e:
        raise translate_os(path, e, "create") from e
    finally:
        for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm", f"{tmp}-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check(conn: sqlite3.Connection, path: str, tables: Iterable[str]) -> set[str]:
    """Refuse a file that is not a certkeeper store (an empty file, another program's
    database); returns the store's tables that are missing (an older store's, to add)."""
    if os.path.getsize(path) == 0:
        raise StoreBroken(f"store {path} is an empty file, not a certkeeper store; restore it from a backup")
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # a store made before the application id was set is known by its objects table
    if app_id != APPLICATION_ID and not (app_id == 0 and "objects" in present):
        raise StoreBroken(f"{path} is not a certkeeper store (another program's database?)")
    return set(tables) - present


def identity(path: str) -> tuple[int, int] | None:
    """The file a path names now (device, inode); None if nothing is there."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
