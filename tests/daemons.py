"""The real ``certkeeper run`` process, watched through its log lines (no sleeps)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

CLI = [sys.executable, "-m", "certkeeper"]

#: ``certkeeper run`` serves /metrics on 9402 and /livez, /readyz on 9403 by default. The
#: tests start many daemons at once (two on one store for the standby tests, several test
#: files side by side), so every launcher puts these right after ``run``; a test that wants
#: an endpoint names its own port later on the command line (the last value counts).
NO_PORTS = ("--metrics-listen-address", "0", "--healthz-listen-address", "0")

_LISTEN_FLAGS = ("--metrics-listen-address", "--healthz-listen-address")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_listen_flags(argv: list[str]) -> list[str]:
    """Loopback ports nobody holds for the endpoints ``argv`` does not place itself: a
    benchmark runs the default configuration (metrics on) without colliding with another
    daemon on the host."""
    out: list[str] = []
    for flag in _LISTEN_FLAGS:
        if not any(a == flag or a.startswith(flag + "=") for a in argv):
            out += [flag, f"127.0.0.1:{free_port()}"]
    return out


class Program:
    """A certkeeper process whose log lines are watched for a phrase (no sleeps)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *argv], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()  # the process ended: nobody need wait for more lines

    def _seen(self, phrase: str, after: int) -> bool:
        return any(phrase in line for line in self.lines[after:])

    def wait_for(self, phrase: str, timeout: float = 30, after: int = 0) -> bool:
        """Whether ``phrase`` appears in a log line (past the first ``after`` lines); gives
        up early once the process has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._seen(phrase, after) or self.proc.poll() is not None, timeout)
            return self._seen(phrase, after)

    def exited(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


class Daemon(Program):
    """A `certkeeper run`."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        super().__init__(["run", *NO_PORTS, *(args or [])], env)
