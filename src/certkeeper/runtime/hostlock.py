"""The host's half of leader election: an ``flock`` beside a store file, and holder
identities that name one process.

The kernel drops an flock the moment its holder dies, even by SIGKILL, so a restarted
daemon need not wait out a dead one's lease. The lease names its holder uniquely (host,
pid and the process's start time), so two daemons never both take the lease for theirs;
the daemon holding the flock writes its identity into the lock file, and the next one to
get the flock reads it there and frees that dead holder's lease at once. Someone deleting
the lock file lets a second daemon lock a new one: the leader notices at its next renewal,
locks the new file if it is free, and stops otherwise.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time

from ..store.base import Store

log = logging.getLogger("certkeeper.daemon")


def _process_start(pid: int) -> float | None:
    """When a process started (seconds since the epoch, 1/100 s), from /proc; None if the
    process is gone or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # the command name (field 2) may hold spaces and parentheses: split after it
            fields = f.read().rpartition(")")[2].split()
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


_STARTED = _process_start(os.getpid()) or time.time()


def holder_identity() -> str:
    """``host_pid_start``: unique to this process, even across pid reuse and restarts."""
    return f"{socket.gethostname()}_{os.getpid()}_{_STARTED:.2f}"


def holder_alive(holder: str) -> bool:
    """Whether a holder named by :func:`holder_identity` is a running process of this
    host. A holder of another host, or of another form, counts as alive: only its lease
    running out can tell."""
    host, _, rest = holder.partition("_")
    pid, _, started = rest.partition("_")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    now = _process_start(int(pid))
    return now is not None and f"{now:.2f}" == started


class HostLock:
    """An flock on ``<store>.lock`` (only for a store that is a file on this host)."""

    def __init__(self, store: Store) -> None:
        path = getattr(store, "path", None)
        self._path = f"{path}.lock" if path and path != ":memory:" else None
        self._fd: int | None = None
        #: the identity the previous holder of this lock file wrote into it
        self.previous_holder: str | None = None

    @property
    def exclusive_on_host(self) -> bool:
        return self._path is not None

    def try_acquire(self) -> bool:
        if self._path is None:
            return True
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.previous_holder = os.pread(self._fd, 4096, 0).decode("utf-8", "replace").strip() or None
        return True

    def record(self, holder: str) -> None:
        """Name the holder in the lock file, for whoever locks it next."""
        if self._fd is None:
            return
        data = holder.encode() + b"\n"
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError as e:  # a full disk: the lease still expires on its own
            log.debug("cannot write %s: %s", self._path, e)

    def lost(self, holder: str) -> str | None:
        """Why this process may no longer count on the flock, or None. A lock file that was
        removed or replaced is locked again if nobody else has it."""
        if self._path is None or self._fd is None:
            return None
        mine = os.fstat(self._fd)
        try:
            now = os.stat(self._path)
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                return None
        except FileNotFoundError:
            pass
        old, self._fd = self._fd, None
        try:
            if self.try_acquire():
                self.record(holder)
                log.warning("lock file %s was removed or replaced; locked it again", self._path)
                return None
            return f"lock file {self._path} was removed or replaced and another daemon holds the new one"
        except OSError as e:
            return f"lock file {self._path} was removed or replaced and cannot be locked again: {e}"
        finally:
            os.close(old)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
