"""The real console script: ``certkeeper run`` stops cleanly on SIGTERM/SIGINT, and a
certificate applied from one process is waited for, issued and inspected from others."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .daemons import NO_PORTS
from .test_cli_support import ISSUER_AND_CERT, certkeeper_command

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .+$")


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "CERTKEEPER_STORE": str(store)}


def _cli(store: Path, *args: str, input: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*certkeeper_command(), *args], input=input, capture_output=True, text=True, env=_env(store), timeout=timeout,
    )


@contextmanager
def daemon(store: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``certkeeper run`` until it logs that it leads; yields it and its log lines so far."""
    proc = subprocess.Popen(
        [*certkeeper_command(), "run", "--http01-address", "", *NO_PORTS, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(store),
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks on the pipe: no polling, no sleeps
            lines.append(line.rstrip("\n"))
            if "starting controllers" in line:
                break
        else:
            pytest.fail(f"daemon exited early ({proc.wait()}): {lines}")
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop(proc: subprocess.Popen[str], sig: signal.Signals, lines: list[str]) -> int:
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    lines.extend(err.splitlines())
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_exits_zero_on_signal_and_logs_one_line_per_record(tmp_path: Path, sig: signal.Signals) -> None:
    with daemon(tmp_path / "store.db") as (proc, lines):
        assert _stop(proc, sig, lines) == 0
    assert lines, "no log output"
    for line in lines:
        assert LOG_LINE.match(line), line
    assert any(f"received {sig.name}; stopping" in line for line in lines)
    assert lines[-1].endswith("certkeeper.daemon: stopped")


def test_apply_wait_inspect_across_processes(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    secrets_dir = tmp_path / "files"
    r = _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT)
    assert r.returncode == 0, r.stderr
    with daemon(store, "--secrets-dir", str(secrets_dir), "--certificate-request-minimum-backoff-duration", "5m") \
            as (proc, lines):
        r = _cli(store, "wait", "certificate/foo", "--for", "condition=Ready", "--timeout", "60s")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "certificate.cert-manager.io/foo condition met\n"
        r = _cli(store, "inspect", "secret", "foo-tls")
        assert r.returncode == 0, r.stderr
        assert "\tDNS Names:\n\t\t- example.com\n" in r.stdout
        assert "Matches tls.crt:\tyes" in r.stdout and "PRIVATE KEY" not in r.stdout
        r = _cli(store, "get", "cert", "foo")
        assert r.stdout.splitlines()[1].split()[:3] == ["foo", "True", "foo-tls"]
        assert _stop(proc, signal.SIGTERM, lines) == 0
    # the files controller ran because --secrets-dir reached the daemon
    assert (secrets_dir / "default" / "foo-tls" / "tls.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE")


def test_run_rejects_a_bad_duration(tmp_path: Path) -> None:
    r = _cli(tmp_path / "store.db", "run", "--certificate-request-minimum-backoff-duration", "soon")
    assert r.returncode == 2
    assert "Invalid value for '--certificate-request-minimum-backoff-duration'" in r.stderr
