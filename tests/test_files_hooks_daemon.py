"""The renewal hook in the real daemon: slow hooks have a pool of their own and a
timeout, a stopping daemon stops them, and a bad --secrets-dir stops the daemon at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from .daemons import NO_PORTS
from .files_daemon import CA_AND_ISSUER, Host, leaf

SLOW_HOOK = (
    'if [ "$CERTKEEPER_CERTIFICATE" = fast ] || [ "$CERTKEEPER_CERTIFICATE" = root-ca ]; then exit 0; fi; '
    'sleep 600 & echo $! >> "{pids}"; wait'
)


def _until(what: Callable[[], bool], timeout: float, message: str) -> None:
    """Wait for a condition another process brings about, with a deadline."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


CLUSTER_ISSUER = """\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: late}
spec: {selfSigned: {}}
"""


def test_hung_hooks_hold_up_neither_files_nor_issuers_and_stop_with_the_daemon(tmp_path: Path) -> None:
    """Item 1: hooks shared the I/O threads with ACME, issuer set-up and the files, so a
    few hung hooks stalled everything else; on SIGTERM they were left running."""
    host = Host(tmp_path)
    pids = tmp_path / "pids"
    host.apply(CA_AND_ISSUER + "".join(f"---\n{leaf(f'slow-{i}')}\n" for i in range(3)))
    d = host.daemon("--io-workers", "2", "--on-renew-workers", "2", "--on-renew-timeout", "10m",
                    "--on-renew", SLOW_HOOK.format(pids=pids))
    try:
        _until(lambda: len(_pids(pids)) == 2, 60, f"two hooks should be running:\n{d.log()}")
        host.apply(leaf("fast") + "\n---\n" + CLUSTER_ISSUER)
        started = time.monotonic()
        _until(lambda: (host.out / "default" / "fast" / "tls.key").exists(), 30,
               f"fast's files waited for the hung hooks:\n{d.log()}")
        r = host.cli("wait", "clusterissuer/late", "--for", "condition=Ready", "--timeout", "30s")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - started < 30
        running = _pids(pids)
        assert len(running) == 2 and all(_alive(p) for p in running)
        t0 = time.monotonic()
        assert d.stop(signal.SIGTERM) == 0, d.log()
        assert time.monotonic() - t0 < 15
        assert "stopped 2 running on-renew hook(s)" in d.log()
        _until(lambda: not any(_alive(p) for p in running), 10, "the hooks' children outlived the daemon")
    finally:
        d.stop(signal.SIGKILL)
        for p in _pids(pids):
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    # they are still pending: the next daemon runs them again
    cond = host.condition("slow-0", "RenewHookPending")
    assert cond is not None and cond["status"] == "True", cond


def test_a_hook_that_runs_too_long_is_killed_and_says_timed_out(tmp_path: Path) -> None:
    host = Host(tmp_path)
    pids = tmp_path / "pids"
    host.apply(CA_AND_ISSUER + "---\n" + leaf("slow-0"))
    d = host.daemon("--on-renew-timeout", "1s", "--on-renew", SLOW_HOOK.format(pids=pids))
    try:
        assert d.wait_for("on-renew hook for default/slow-0 timed out after 1s; its process group was killed"), \
            d.log()
        _until(lambda: bool(_pids(pids)) and not _alive(_pids(pids)[0]), 10, "the hook's child survived")
        cond = host.condition("slow-0", "RenewHookPending")
        assert cond is not None and cond["reason"] == "HookFailed" and "timed out after 1s" in cond["message"]
        r = host.cli("status", "certificate", "slow-0")
        assert "Renewal hook: failing, retried with back-off: the on-renew hook timed out" in r.stdout, r.stdout
    finally:
        assert d.stop() == 0


def test_the_daemon_checks_its_secrets_dir_and_flags_at_start_up(tmp_path: Path) -> None:
    """Item 5: an unusable --secrets-dir stops the daemon at start-up with the reason,
    instead of a Ready certificate whose files are never written."""
    host = Host(tmp_path, secrets_dir=tmp_path / "a-file")
    (tmp_path / "a-file").write_text("x")
    d = host.daemon()
    assert d.wait_exit(60) == 2
    assert "Invalid value for '--secrets-dir'" in d.log() and "is a file" in d.log(), d.log()

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    d = Host(tmp_path, secrets_dir=shared).daemon()
    assert d.wait_exit(60) == 2
    assert "is writable by other users" in d.log()

    d = Host(tmp_path).daemon("--secrets-mode", "0666")
    assert d.wait_exit(60) == 2
    assert "--secrets-mode: '0666' grants more than reading" in d.log()

    d = Host(tmp_path).daemon("--secrets-selector", "a=b,,c")
    assert d.wait_exit(60) == 2
    assert "--secrets-selector" in d.log()


def test_hook_and_file_flags_without_a_secrets_dir_are_a_usage_error(tmp_path: Path) -> None:
    """A hook that could never run (no files are written without --secrets-dir) was
    silently accepted."""
    host = Host(tmp_path)
    for flags in (["--on-renew", "systemctl reload nginx"], ["--secrets-group", "0"]):
        r = host.cli("run", *NO_PORTS, *flags)
        assert r.returncode == 2, r.stderr
        assert f"{flags[0]} needs --secrets-dir" in r.stderr


def test_apply_refuses_file_settings_that_cannot_be_used(tmp_path: Path) -> None:
    host = Host(tmp_path)
    r = host.cli("apply", "-f", "-", input=CA_AND_ISSUER + "---\n" + leaf(
        "web", annotations={"certkeeper.io/secrets-mode": "0666", "certkeeper.io/secrets-group": "www data"}))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "spec.secretTemplate.annotations[certkeeper.io/secrets-mode]" in r.stderr
    assert "grants more than reading to the group or others" in r.stderr
    assert "spec.secretTemplate.annotations[certkeeper.io/secrets-group]" in r.stderr
    assert host.cli("get", "certificate", "web").returncode != 0  # all or nothing: nothing stored


def test_get_and_status_say_when_files_are_not_written(tmp_path: Path) -> None:
    """Item 5 through the command: Ready was True while no file was written."""
    host = Host(tmp_path)
    host.apply(CA_AND_ISSUER)
    d = host.daemon()
    try:
        r = host.cli("wait", "certificate/root-ca", "--for", "condition=FilesWritten", "--timeout", "60s")
        assert r.returncode == 0, r.stderr
        foreign = host.out / "default" / "web"
        foreign.mkdir()
        (foreign / "index.html").write_text("not certkeeper's")
        host.apply(leaf("web"))
        r = host.cli("wait", "certificate/web", "--for", "condition=Ready=False", "--timeout", "60s")
        assert r.returncode == 0, r.stderr
        r = host.cli("get", "certificate", "web")
        assert r.stdout.splitlines()[1].split()[:2] == ["web", "False"], r.stdout
        r = host.cli("status", "certificate", "web")
        assert f"Files: not written (ForeignFolder): the Secret's files are not written: {foreign} exists and was " \
               "not created by certkeeper" in r.stdout, r.stdout
        assert "Ready: False, Reason: FilesNotWritten" in r.stdout
        assert os.listdir(foreign) == ["index.html"]
    finally:
        assert d.stop() == 0
