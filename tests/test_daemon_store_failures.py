"""The real `certkeeper run` when its store fails under it: a full disk is waited out, the
CLI and a busy daemon share the store without "database is locked", and removing the
lock file or the store file never leaves two daemons acting."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from certkeeper.api.certificate import Certificate
from certkeeper.api.meta import get_condition
from certkeeper.store.sqlite import SqliteStore

from .daemons import CLI, Daemon
from .harness import CA_SETUP, leaf_certificate
from .smallfs import fill, tmpfs

NO_HTTP01 = ("--http01-address", "")


def certkeeper(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, env=env, capture_output=True, text=True, timeout=180)


def ready_names(store: SqliteStore) -> set[str]:
    out = set()
    for cert in store.list(Certificate):
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        if cond is not None and cond.status == "True":
            out.add(cert.name)
    return out


def wait_until(predicate: object, store: SqliteStore, timeout: float) -> bool:
    """Re-check ``predicate`` on every change of the store, until it holds or time runs out."""
    assert callable(predicate)
    changed = threading.Condition()

    def on_event(_event: object) -> None:
        with changed:
            changed.notify_all()

    stop = store.watch(on_event)
    try:
        with changed:
            return changed.wait_for(lambda: bool(predicate()), timeout)
    finally:
        stop()


def lease_holder(path: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT holder FROM leases WHERE name = 'certkeeper-controller'").fetchone()
    return None if row is None else str(row[0])


@contextlib.contextmanager
def started(env: dict[str, str]) -> Iterator[Daemon]:
    daemon = Daemon(env, list(NO_HTTP01))
    try:
        assert daemon.wait_for("serving in", 60), daemon.log()
        yield daemon
    finally:
        daemon.stop(9)


# ---------------------------------------------------------------- item 9: a full disk


def test_daemon_waits_out_a_full_disk_and_says_so(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", 16 * 1024) as fs:
        env = {**os.environ, "CERTKEEPER_STORE": str(fs / "store.db")}
        assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
        with started(env) as daemon:
            store = SqliteStore(fs / "store.db")
            try:
                assert wait_until(lambda: "root-ca" in ready_names(store), store, 60), daemon.log()
                mark = len(daemon.lines)
                filler = fill(fs)
                # the lease is renewed every 5 s: the next renewal meets the full disk
                assert daemon.wait_for("store unavailable", 30, after=mark), daemon.log()
                assert "no space left on the device" in daemon.log()
                # one more renewal on the full disk, and the daemon is still there
                renewals = len(daemon.lines)
                assert daemon.exited(timeout=6) is None, daemon.log()
                assert "Traceback" not in "".join(daemon.lines[mark:renewals]), daemon.log()
                filler.unlink()
                assert daemon.wait_for("store available again", 30, after=mark), daemon.log()
                leaf = certkeeper(env, "apply", "-f", "-", stdin=leaf_certificate("after-full"))
                assert leaf.returncode == 0, leaf.stderr
                assert wait_until(lambda: "after-full" in ready_names(store), store, 60), daemon.log()
                assert daemon.proc.poll() is None
            finally:
                store.close()


# ---------------------------------------------------------------- item 9: the CLI and a busy daemon


def test_cli_applies_and_reads_while_the_daemon_issues_hundreds_of_certificates(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    count = 500
    leaves = {f"leaf-{i}" for i in range(count)}
    with started(env) as daemon:
        store = SqliteStore(tmp_path / "store.db")
        try:
            manifest = "---\n".join(leaf_certificate(name) for name in sorted(leaves))
            assert certkeeper(env, "apply", "-f", "-", stdin=manifest).returncode == 0
            failures: list[str] = []
            #: how many of the leaves were ready when each command ran
            progress: list[int] = []

            def loop(worker: int) -> None:
                rounds = 0
                while rounds < 100:
                    rounds += 1
                    done = len(leaves & ready_names(store))
                    progress.append(done)
                    if done == count:
                        return
                    for args, stdin in (
                        (("apply", "-f", "-"), leaf_certificate(f"probe-{worker}-{rounds % 5}")),
                        (("get", "certificates", "-o", "name"), None),
                        (("describe", "certificate", "leaf-7"), None),
                    ):
                        proc = certkeeper(env, *args, stdin=stdin)
                        if proc.returncode != 0 or "Traceback" in proc.stderr or "locked" in proc.stderr:
                            failures.append(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]}")

            workers = [threading.Thread(target=loop, args=(n,)) for n in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            assert failures == []
            during = [p for p in progress if p < count]
            assert len(during) >= 4, f"the commands must run while the daemon is issuing: {progress}"
            assert wait_until(lambda: leaves <= ready_names(store), store, 300)
            assert daemon.proc.poll() is None
        finally:
            store.close()


# ---------------------------------------------------------------- item 9: the store's lock


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process holding the store's write lock (BEGIN IMMEDIATE) until the block ends."""
    holder = subprocess.Popen(
        [*CLI[:1], "-c",
         "import sqlite3, sys\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"
         "c.execute('ROLLBACK')\n", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_reading_verbs_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with write_lock_held(tmp_path / "store.db"):
        # a reader of a WAL store never needs the write lock: with a 5 s limit this
        # proves the read did not queue behind the writer (which holds it for the
        # whole block)
        proc = certkeeper(env, "--request-timeout", "5s", "get", "issuers", "-o", "name")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["issuer.cert-manager.io/ca", "issuer.cert-manager.io/selfsigned"]


def test_a_writer_waits_for_the_lock_and_then_gives_up_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with write_lock_held(tmp_path / "store.db"):
        proc = certkeeper(env, "--request-timeout", "1s", "apply", "-f", "-", stdin=leaf_certificate("late"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: store {tmp_path / 'store.db'} is locked by another process; gave up waiting after 1s; "
        "nothing was applied"
    ]
    # the lock is gone: the same apply now succeeds
    assert certkeeper(env, "apply", "-f", "-", stdin=leaf_certificate("late")).returncode == 0


# ---------------------------------------------------------------- item 10: one leader


def test_lease_holder_names_the_process(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with started(env) as daemon:
        holder = lease_holder(tmp_path / "store.db")
        assert holder is not None
        host, pid, start = holder.split("_")
        assert host == socket.gethostname()
        assert int(pid) == daemon.proc.pid
        assert float(start) > 0
        assert holder in daemon.log()


def test_removing_the_lock_file_never_leaves_two_leaders(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with started(env) as first:
        (tmp_path / "store.db.lock").unlink()
        second = Daemon(env, list(NO_HTTP01))
        try:
            assert second.wait_for("waiting as a standby", 60), second.log()
            # either the first noticed at once and locked a new file (the second then waits
            # on it), or the second locked it first: then the first stops at its next renewal
            code = first.exited(timeout=20)
            if code is None:
                assert first.wait_for("locked it again", 1), first.log()
                assert not second.wait_for("serving in", 6), "two daemons act on one store"
                leader = first
            else:
                assert code == 1
                assert first.wait_for("another daemon holds the new one; stopping", 1), first.log()
                assert second.wait_for("serving in", 30), second.log()
                leader = second
            holder = lease_holder(tmp_path / "store.db")
            assert holder is not None and holder.split("_")[1] == str(leader.proc.pid)
        finally:
            second.stop(9)


def test_removing_the_store_file_stops_the_daemon(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with started(env) as daemon:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (tmp_path / f"store.db{suffix}").unlink()
        assert daemon.exited(timeout=20) == 1, daemon.log()
        assert "was removed or replaced while in use" in daemon.log()
        assert "stopping" in daemon.log()


def test_a_store_file_replaced_under_the_daemon_stops_it(tmp_path: Path) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(tmp_path / "store.db")}
    assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
    with started(env) as daemon:
        aside = tmp_path / "old.db"
        os.rename(tmp_path / "store.db", aside)
        # a new store at the same path: the CLI writes to it, the old daemon must not go on
        assert certkeeper(env, "apply", "-f", "-", stdin=CA_SETUP).returncode == 0
        assert daemon.exited(timeout=20) == 1, daemon.log()
        assert "was removed or replaced while in use" in daemon.log()
