"""The real ``certkeeper run`` with files and a hook, watched through its log lines, and
the CLI on the same store (for the files tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from .daemons import NO_PORTS
from .harness import CA_SETUP
from .test_cli_support import certkeeper_command

#: a self-signed Issuer, a CA Certificate and a CA Issuer on it
CA_AND_ISSUER = CA_SETUP


def leaf(name: str, secret: str | None = None, annotations: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {
            "secretName": secret or name,
            "dnsNames": [f"{name}.example.test"],
            "issuerRef": {"name": "ca"},
            "privateKey": {"algorithm": "ECDSA"},
        },
    }
    if annotations:
        doc["spec"]["secretTemplate"] = {"annotations": annotations}
    return json.dumps(doc)


class Host:
    """One store, one secrets folder, the ``certkeeper`` command on them."""

    def __init__(self, tmp: Path, secrets_dir: Path | None = None) -> None:
        self.tmp = tmp
        self.store = tmp / "store.db"
        self.out = secrets_dir or tmp / "secrets"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "CERTKEEPER_FAULT_KILL_AT"}
        return {**env, "CERTKEEPER_STORE": str(self.store), **extra}

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*certkeeper_command(), *args], input=input, capture_output=True, text=True, env=self.env(), timeout=120,
        )

    def apply(self, text: str) -> None:
        r = self.cli("apply", "-f", "-", input=text)
        assert r.returncode == 0, r.stderr

    def cert(self, name: str) -> dict[str, Any]:
        r = self.cli("get", "certificate", name, "-o", "json")
        assert r.returncode == 0, r.stderr
        doc: dict[str, Any] = json.loads(r.stdout)
        return doc

    def condition(self, name: str, ctype: str) -> dict[str, Any] | None:
        for cond in (self.cert(name).get("status") or {}).get("conditions") or []:
            if cond["type"] == ctype:
                return dict(cond)
        return None

    def daemon(self, *args: str, fault: str | None = None) -> Daemon:
        extra = {"CERTKEEPER_FAULT_KILL_AT": fault} if fault else {}
        return Daemon([*certkeeper_command(), "run", *NO_PORTS, "--http01-address", "", "--secrets-dir", str(self.out), *args],
                      self.env(**extra))


class Daemon:
    """A `certkeeper run` whose log lines are watched for a phrase (no sleeps)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, phrase: str, timeout: float = 60, count: int = 1) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(phrase in line for line in self.lines) >= count or not self._reader.is_alive(), timeout,
            ) and sum(phrase in line for line in self.lines) >= count

    def wait_exit(self, timeout: float = 60) -> int:
        """The exit status, once the last log line has been read too (on a busy machine
        the reader thread can still be behind when the process has ended)."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return code

    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)
