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
from collections.abc import Mapping

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


def hook_env(
    namespace: str, certificate: str, secret: str, directory: str | os.PathLike[str]
) -> dict[str, str]:
    """The variables a hook can rely on."""
    return {
        "CERTKEEPER_NAMESPACE": namespace,
        "CERTKEEPER_CERTIFICATE": certificate,
        "CERTKEEPER_SECRET": secret,
        "CERTKEEPER_DIR": os.fspath(directory),
    }


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


def run_hook(command: str, env: Mapping[str, str], timeout: float = 300) -> HookResult:
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
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc, KILL_GRACE)
    # a grandchild that left the group may hold the pipe open: do not wait for it forever
    reader.join(timeout=KILL_GRACE)
    return HookResult(
        command=command,
        exit_code=proc.returncode,
        output=buf.text(),
        timed_out=timed_out,
        duration_seconds=time.monotonic() - start,
        error=f"timed out after {timeout:g}s; process group killed" if timed_out else None,
    )
