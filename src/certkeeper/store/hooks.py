"""The command run after a renewal (``systemctl reload nginx`` and the like).

A hook is the user's code: it may fail, hang, print megabytes or start children. None of
that may take the daemon with it, so the command runs in its own process group (a timeout
kills the whole group), its output is kept only up to a bound, and every outcome —
including a missing shell — comes back as a HookResult instead of an exception.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping

from .names import dns1123_label_error, dns1123_subdomain_error

#: bytes of output kept (the end of it: a failing command says why last)
OUTPUT_LIMIT = 16 * 1024
#: after the timeout, how long the group has between SIGTERM and SIGKILL
KILL_GRACE = 5.0
_TRUNCATED = "[... output truncated ...]\n"


@dataclasses.dataclass(frozen=True)
class HookResult:
    command: str
    #: the exit status; negative for a signal, as subprocess reports; None if it never ran
    exit_code: int | None
    output: str
    timed_out: bool = False
    duration_seconds: float = 0.0
    error: str | None = None

    @property
    def returncode(self) -> int | None:
        """``exit_code`` under subprocess's name."""
        return self.exit_code

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class HookEnvError(ValueError):
    """A value that may not reach a hook's environment."""


def _check_value(var: str, value: str, name_rule: Callable[[str], str | None] | None) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise HookEnvError(f"{var}: {value!r} holds a control character; the hook is not run")
    if name_rule is not None and (err := name_rule(value)):
        raise HookEnvError(f"{var}: {value!r} is not a valid name: {err}")
    return value


def hook_env(
    namespace: str, certificate: str, secret: str, directory: str | os.PathLike[str]
) -> dict[str, str]:
    """The variables a hook can rely on. Every value is checked here, whatever checked it
    before: names are DNS-1123 (so a shell script may use them unquoted in a path) and
    nothing carries a NUL, a newline or another control character."""
    return {
        "CERTKEEPER_NAMESPACE": _check_value("CERTKEEPER_NAMESPACE", namespace, dns1123_label_error),
        "CERTKEEPER_CERTIFICATE": _check_value("CERTKEEPER_CERTIFICATE", certificate, dns1123_subdomain_error),
        "CERTKEEPER_SECRET": _check_value("CERTKEEPER_SECRET", secret, dns1123_subdomain_error),
        "CERTKEEPER_DIR": _check_value("CERTKEEPER_DIR", os.fspath(directory), None),
    }


class HookTracker:
    """The hooks running now, so that a stopping daemon can stop them (their whole process
    group) instead of leaving them behind or waiting minutes for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.stopping = False

    def add(self, proc: subprocess.Popen[bytes]) -> bool:
        """Register a started hook; False if the daemon is stopping (the caller kills it)."""
        with self._lock:
            self._running.add(proc)
            return not self.stopping

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(proc)

    def stop_all(self, grace: float = KILL_GRACE) -> int:
        """SIGTERM every running hook's group, SIGKILL what is left after ``grace``."""
        with self._lock:
            self.stopping = True
            procs = list(self._running)
        threads = [threading.Thread(target=_kill_group, args=(p, grace), daemon=True) for p in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(procs)


class _TailBuffer:
    """Keeps the last OUTPUT_LIMIT bytes read from a pipe, however much is written."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def drain(self, fd: int) -> None:
        while chunk := os.read(fd, 65536):
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]
                self.truncated = True

    def text(self) -> str:
        out = self.data.decode("utf-8", errors="replace")
        return _TRUNCATED + out if self.truncated else out


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_hook(
    command: str, env: Mapping[str, str], timeout: float = 300, tracker: HookTracker | None = None
) -> HookResult:
    """Run ``/bin/sh -c command`` with the daemon's environment plus ``env``."""
    full_env = {**os.environ, **env}
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as e:
        return HookResult(command, None, "", error=f"cannot start hook: {e}")
    stopped = tracker is not None and not tracker.add(proc)
    if stopped:
        _kill_group(proc, KILL_GRACE)
    buf = _TailBuffer(OUTPUT_LIMIT)
    stdout = proc.stdout
    assert stdout is not None

    def pump() -> None:
        try:
            buf.drain(stdout.fileno())
        finally:
            stdout.close()

    reader = threading.Thread(target=pump, name="certkeeper-hook-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, KILL_GRACE)
    finally:
        if tracker is not None:
            tracker.discard(proc)
    # a grandchild that left the group may hold the pipe open: do not wait for it forever
    reader.join(timeout=KILL_GRACE)
    if tracker is not None and tracker.stopping and not timed_out and proc.returncode != 0:
        return HookResult(command, proc.returncode, buf.text(), duration_seconds=time.monotonic() - start,
                          error="stopped with the daemon")
    return HookResult(
        command=command,
        exit_code=proc.returncode,
        output=buf.text(),
        timed_out=timed_out,
        duration_seconds=time.monotonic() - start,
        error=f"timed out after {timeout:g}s; process group killed" if timed_out else None,
    )
