"""The renewal hook runs exactly once per change of files, whatever step of the swap the
daemon is SIGKILLed at.

The real daemon is started with ``CERTKEEPER_FAULT_KILL_AT=<step>`` and kills itself
(SIGKILL, no handler runs) when it reaches that step while writing a Certificate's files:
the window between two steps is microseconds, which no signal from outside can aim at.
A new daemon then takes over; the hook log must show one run per change, after the
swap (it saw the new certificate), and the Certificate must no longer have a hook
pending.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
from pathlib import Path

from .files_daemon import CA_AND_ISSUER, Daemon, Host, leaf

#: every step between "the Secret changed" and "the hook is due", in order
STEPS = [
    "files-hook-recorded",  # RenewHookPending recorded, nothing written yet
    "files-after-data-dir",  # the new data folder is complete, not yet linked
    "files-before-swap",  # the ..data link (or the new folder) is ready to be renamed
    "files-after-swap",  # readers see the new files
    "files-before-hook-due",  # the files are in place, the hook is not yet marked due
]

HOOK = (
    'printf "%s %s\\n" "$CERTKEEPER_CERTIFICATE" '
    '"$(sha256sum < "$CERTKEEPER_DIR/tls.crt" | cut -c1-64)" >> "{log}"'
)


def _runs(log: Path, cert: str) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.split()[0] == cert]


def _leftovers(folder: Path) -> list[str]:
    names = os.listdir(folder)
    data = [n for n in names if re.fullmatch(r"\.\.\d{4}_.*", n)]
    temp = [n for n in names if n.startswith("..") and n not in ("..data",) and n not in data]
    return [*temp, *data[1:]]


def _settled(host: Host, hook: str, cert: str) -> None:
    """A daemon without faults takes over until the hook of ``cert`` has run."""
    d = host.daemon("--on-renew", hook)
    try:
        assert d.wait_for(f"on-renew hook for default/{cert} ran", count=1), d.log()
    finally:
        assert d.stop() == 0, d.log()


def _killed(d: Daemon, step: str) -> None:
    code = d.wait_exit(timeout=90)
    assert code == -signal.SIGKILL, f"the daemon did not die at {step} ({code}):\n{d.log()}"


def test_hook_runs_once_per_change_across_sigkill_at_every_step(tmp_path: Path) -> None:
    host = Host(tmp_path)
    log = tmp_path / "hook.log"
    hook = HOOK.format(log=log)
    host.apply(CA_AND_ISSUER)
    d = host.daemon("--on-renew", hook)
    assert d.wait_for("on-renew hook for default/root-ca ran"), d.log()
    assert d.stop() == 0

    for i, step in enumerate(STEPS):
        name = f"web-{i}"
        folder = host.out / "default" / name
        # first issuance: the folder is created
        d = host.daemon("--on-renew", hook, fault=step)
        host.apply(leaf(name))
        _killed(d, step)
        _settled(host, hook, name)
        crt = (folder / "tls.crt").read_bytes()
        assert _runs(log, name) == [hashlib.sha256(crt).hexdigest()], (step, log.read_text())

        # renewal: the folder's ..data is swapped
        d = host.daemon("--on-renew", hook, fault=step)
        r = host.cli("renew", name)
        assert r.returncode == 0, r.stderr
        _killed(d, step)
        _settled(host, hook, name)
        crt2 = (folder / "tls.crt").read_bytes()
        assert crt2 != crt, step
        assert _runs(log, name) == [hashlib.sha256(crt).hexdigest(), hashlib.sha256(crt2).hexdigest()], (
            step, log.read_text())
        cond = host.condition(name, "RenewHookPending")
        assert cond is not None and cond["status"] == "False" and cond["reason"] == "HookSucceeded", cond
        assert _leftovers(folder) == [], (step, os.listdir(folder))
        assert not [n for n in os.listdir(host.out / "default") if n.startswith("..") and n != "..certkeeper"]
    assert _runs(log, "root-ca") and len(_runs(log, "root-ca")) == 1


def test_a_daemon_killed_while_its_hook_runs_runs_it_again(tmp_path: Path) -> None:
    """The hook itself SIGKILLs the daemon (its parent) on its first run: the change was
    not confirmed, so the next daemon runs the hook again rather than losing it."""
    host = Host(tmp_path)
    log = tmp_path / "hook.log"
    first = tmp_path / "first-run-done"
    hook = (f'echo "$CERTKEEPER_CERTIFICATE" >> "{log}"; '
            f'if [ "$CERTKEEPER_CERTIFICATE" = web ] && [ ! -e "{first}" ]; then touch "{first}"; kill -KILL $PPID; fi')
    host.apply(CA_AND_ISSUER + "---\n" + leaf("web"))
    d = host.daemon("--on-renew", hook)
    _killed(d, "the hook")
    _settled(host, hook, "web")
    assert log.read_text().split().count("web") == 2
    cond = host.condition("web", "RenewHookPending")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "HookSucceeded"), cond
