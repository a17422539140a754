"""RSA keys made by worker processes (``runtime/keypool.py``, ``pki/keyworker.py``).

The key manager hands RSA generation to other processes and is woken when the key is
there; these tests check that the workers really make the keys (real processes, keys
decoded), that ECDSA stays inline, that a worker that dies is replaced, that the daemon
issues correct RSA certificates through them, and that no worker outlives the daemon,
whether it stops on SIGTERM with keys in flight or is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certkeeper.api.certificate import Certificate, CertificatePrivateKey
from certkeeper.api.constants import LABEL_NEXT_PRIVATE_KEY
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret
from certkeeper.api.meta import get_condition
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import (
    PrivateKey,
    decode_private_key,
    encode_pkcs8,
    encode_private_key,
    generate_private_key,
    public_keys_equal,
)
from certkeeper.runtime.keypool import KeyWorkerError, PooledKeys
from certkeeper.store.sqlite import SqliteStore

from .daemons import Daemon
from .harness import CA_SETUP, Harness, leaf_certificate

CLI = [sys.executable, "-m", "certkeeper"]
WORKER = b"certkeeper.pki.keyworker"


def rsa_spec(bits: int) -> CertificatePrivateKey:
    return CertificatePrivateKey(algorithm="RSA", size=bits)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running key worker (a zombie left to a non-reaping init is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and WORKER in cmdline


def worker_children(pid: int) -> list[int]:
    """The key worker processes whose parent is ``pid``."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
        out += [int(child) for child in children if alive(int(child))]
    return out


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])


def wait_until(condition: object, timeout: float, what: str) -> None:
    """Poll ``condition()`` until true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_usable_rsa(key: PrivateKey, bits: int) -> None:
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == bits
    signature = key.sign(b"certkeeper", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"certkeeper", padding.PKCS1v15(), hashes.SHA256())


# -- the pool ------------------------------------------------------------------------------

def test_rsa_keys_come_from_worker_processes_and_ecdsa_stays_inline() -> None:
    pool = PooledKeys(2)
    try:
        ecdsa = pool.generate(CertificatePrivateKey(algorithm="ECDSA", size=384))
        assert ecdsa.done(), "an ECDSA key is made inline"
        key = ecdsa.result()
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384
        assert pool.pids() == [], "no worker process for ECDSA keys"

        futures = [(bits, pool.generate(rsa_spec(bits))) for bits in (2048, 2048, 3072, 2048)]
        keys = [(bits, f.result(timeout=120)) for bits, f in futures]
        pids = pool.pids()
        assert len(pids) == 2, pids
        assert all(alive(pid) and pid != os.getpid() for pid in pids)
        assert sorted(worker_children(os.getpid())) == sorted(pids)
        for bits, key in keys:
            assert_usable_rsa(key, bits)
        assert len({k.private_numbers().d for _, k in keys}) == 4, "every key is a new one"
        # the PEM of a key the worker made decodes to the same key
        assert public_keys_equal(decode_private_key(encode_pkcs8(keys[0][1])), keys[0][1])
        assert pool.made == 4
    finally:
        pool.close()
    assert not any(alive(pid) for pid in pids), "close() leaves no worker behind"
    with pytest.raises(KeyWorkerError):
        pool.generate(rsa_spec(2048))


def test_a_dead_worker_fails_its_key_and_is_replaced() -> None:
    pool = PooledKeys(1)
    try:
        pool.generate(rsa_spec(2048)).result(timeout=120)
        (first,) = pool.pids()
        doomed = pool.generate(rsa_spec(4096))
        # the worker is busy with the 4096-bit key once it uses CPU for it
        start = cpu_ticks(first)
        wait_until(lambda: cpu_ticks(first) > start + 2, 60, "the worker to work on the key")
        os.kill(first, signal.SIGKILL)
        with pytest.raises(KeyWorkerError):
            doomed.result(timeout=60)
        assert_usable_rsa(pool.generate(rsa_spec(2048)).result(timeout=120), 2048)
        (second,) = pool.pids()
        assert second != first
    finally:
        pool.close()
    assert not alive(second)


def test_close_with_busy_workers_is_prompt_and_cancels_the_queue() -> None:
    pool = PooledKeys(2)
    futures = [pool.generate(rsa_spec(4096)) for _ in range(8)]
    wait_until(lambda: len(pool.pids()) == 2, 60, "two workers")
    pids = pool.pids()
    start = sum(cpu_ticks(p) for p in pids)
    wait_until(lambda: sum(cpu_ticks(p) for p in pids) > start + 2, 60, "the workers to work")
    t = time.monotonic()
    pool.close()
    assert time.monotonic() - t < 5
    assert not any(alive(pid) for pid in pids)
    outcomes = [f.cancelled() or f.exception(timeout=10) is not None or f.result() is not None for f in futures]
    assert all(outcomes)
    assert any(f.cancelled() for f in futures), "keys still queued at close are cancelled"


def test_keys_encoded_here_are_not_checked_again_and_others_are() -> None:
    """OpenSSL's check of an RSA key on load costs about its generation: a key this process
    made or checked is remembered by its PEM, any other PEM is still checked in full."""
    key = generate_private_key(rsa_spec(2048))
    assert decode_private_key(encode_pkcs8(key)) is key
    assert decode_private_key(encode_private_key(key, "PKCS1")) is key
    numbers = key.private_numbers()
    broken = rsa.RSAPrivateNumbers(
        p=numbers.p, q=numbers.q, d=numbers.d, dmp1=numbers.dmp1, dmq1=numbers.dmq1,
        iqmp=(numbers.iqmp + 1) % numbers.p, public_numbers=numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = broken.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(PKIError):
        decode_private_key(pem)


# -- the key manager, stepped -------------------------------------------------------------

class HeldKeys:
    """A key source whose keys arrive when the test releases them."""

    def __init__(self) -> None:
        self.asked: list[tuple[CertificatePrivateKey | None, Future[PrivateKey]]] = []

    def generate(self, spec: CertificatePrivateKey | None) -> Future[PrivateKey]:
        future: Future[PrivateKey] = Future()
        self.asked.append((spec, future))
        return future

    def release(self, index: int) -> None:
        spec, future = self.asked[index]
        future.set_result(generate_private_key(spec))


def next_key_secrets(h: Harness) -> list[Secret]:
    return h.store.list(Secret, "default", {LABEL_NEXT_PRIVATE_KEY: "true"})


def test_the_key_manager_waits_for_the_key_without_holding_its_worker(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        keys = HeldKeys()
        h.manager.by_name["certificates-key-manager"].keys = keys  # type: ignore[attr-defined]
        h.apply(CA_SETUP)
        h.settle()
        h.apply(leaf_certificate("web", privateKey={"algorithm": "RSA", "size": 2048}))
        h.settle()
        # the CA's ECDSA key was asked for too: find the leaf's request
        (index,) = [i for i, (spec, _) in enumerate(keys.asked) if spec is not None and spec.algorithm == "RSA"]
        for i in range(len(keys.asked)):
            if i != index:
                keys.release(i)
        h.settle()
        assert h.ready("root-ca") is not None and h.ready("root-ca")[0] == "True"
        assert next_key_secrets(h) == [], "nothing is stored before the key exists"
        assert h.ready("web") is None or h.ready("web")[0] != "True"

        # the spec changes while the key is being made: that key is not used
        cert = h.cert("web")
        cert.spec.private_key = CertificatePrivateKey(algorithm="RSA", size=3072)
        h.store.update(cert)
        h.settle()
        assert keys.asked[index][1].cancelled()
        (again,) = [i for i, (spec, _) in enumerate(keys.asked) if spec is not None and spec.size == 3072]
        keys.release(again)  # wakes the key manager through its queue
        h.settle()
        assert h.ready("web") is not None and h.ready("web")[0] == "True"
        h.assert_pair_matches("web")
        key = decode_private_key(h.get(Secret, "web").get(TLS_KEY) or b"")
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072
        assert next_key_secrets(h) == []
    finally:
        h.close()


# -- the daemon ----------------------------------------------------------------------------

def rsa_leaves(prefix: str, sizes: list[int]) -> str:
    return "---\n".join(
        leaf_certificate(f"{prefix}{i}", privateKey={"algorithm": "RSA", "size": bits}) for i, bits in enumerate(sizes)
    )


def assert_rsa_issued(store: SqliteStore, name: str, bits: int) -> None:
    cert = store.get(Certificate, "default", name)
    ready = get_condition(cert.status.conditions if cert.status else None, "Ready")
    assert ready is not None and ready.status == "True", (name, ready)
    secret = store.get(Secret, "default", name)
    key = decode_private_key(secret.get(TLS_KEY) or b"")
    leaf, *_ = parse_certificates(secret.get(TLS_CERT) or b"")
    assert_usable_rsa(key, bits)
    assert public_keys_equal(leaf.public_key(), key), f"{name}: key and certificate differ"
    ca, *_ = parse_certificates(store.get(Secret, "default", "root-ca").get(TLS_CERT) or b"")
    leaf.verify_directly_issued_by(ca)


def made_keys(daemon: Daemon) -> int:
    (line,) = [ln for ln in daemon.lines if "key workers stopped" in ln]
    return int(line.rsplit("made ", 1)[1].split()[0])


@pytest.mark.timeout(600)
def test_daemon_issues_rsa_through_workers_and_leaves_none_behind(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    env = {**os.environ, "CERTKEEPER_STORE": str(db)}

    def apply(text: str) -> None:
        path = tmp_path / f"m{time.monotonic_ns()}.yaml"
        path.write_text(text)
        subprocess.run([*CLI, "apply", "-f", str(path)], check=True, env=env, capture_output=True)

    def wait_ready(names: list[str]) -> None:
        subprocess.run([*CLI, "wait", *(f"certificate/{n}" for n in names), "--for", "condition=Ready",
                        "--timeout", "300s"], check=True, env=env, capture_output=True)

    first = [2048, 2048, 3072, 2048]
    apply(CA_SETUP + "---\n" + rsa_leaves("a", first))
    daemon = Daemon(env)
    try:
        assert daemon.wait_for("serving in", timeout=90), daemon.log()
        wait_ready([f"a{i}" for i in range(len(first))])
        assert daemon.wait_for("key worker", timeout=10), daemon.log()
        pids = worker_children(daemon.proc.pid)
        assert 1 <= len(pids) <= len(os.sched_getaffinity(0)), pids
        store = SqliteStore(db)
        try:
            for i, bits in enumerate(first):
                assert_rsa_issued(store, f"a{i}", bits)
        finally:
            store.close()

        # SIGTERM with the workers busy on 4096-bit keys: a prompt, clean stop
        start = {p: cpu_ticks(p) for p in pids}
        apply(rsa_leaves("b", [4096] * 4))
        wait_until(lambda: any(cpu_ticks(p) > start[p] + 2 for p in pids), 120, "the workers to work")
        t = time.monotonic()
        assert daemon.stop() == 0, daemon.log()
        stopped_in = time.monotonic() - t
    finally:
        if daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)
    print(f"stopped {stopped_in:.2f} s after SIGTERM with the key workers busy")
    assert stopped_in < 10, daemon.log()
    assert not any(alive(p) for p in pids), "a key worker outlived the daemon"
    made = made_keys(daemon)
    assert len(first) <= made < len(first) + 4, daemon.log()  # keys were still being made

    # SIGKILL while the workers are busy: they exit on their own
    killed = Daemon(env)
    try:
        wait_until(lambda: len(worker_children(killed.proc.pid)) > 0, 120, "key workers of the second daemon")
        pids = worker_children(killed.proc.pid)
        start = {p: cpu_ticks(p) for p in pids}
        wait_until(lambda: any(cpu_ticks(p) > start[p] + 2 for p in pids), 120, "the workers to work")
    finally:
        killed.stop(signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in pids), 60, "the orphaned key workers to exit")

    # a third daemon finishes the work; every pair matches
    last = Daemon(env)
    try:
        wait_ready([f"b{i}" for i in range(4)])
    finally:
        assert last.stop() == 0, last.log()
    store = SqliteStore(db)
    try:
        for i, bits in enumerate(first):
            assert_rsa_issued(store, f"a{i}", bits)
        for i in range(4):
            assert_rsa_issued(store, f"b{i}", 4096)
        assert store.list(Secret, "default", {LABEL_NEXT_PRIVATE_KEY: "true"}) == []
    finally:
        store.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("processes", [0, 1])
def test_key_processes_flag(tmp_path: Path, processes: int) -> None:
    """``--key-processes 1``: one worker makes every RSA key; ``0``: none, keys made inline."""
    db = tmp_path / "store.db"
    env = {**os.environ, "CERTKEEPER_STORE": str(db)}
    manifests = tmp_path / "m.yaml"
    manifests.write_text(CA_SETUP + "---\n" + rsa_leaves("k", [2048, 2048, 2048]))
    subprocess.run([*CLI, "apply", "-f", str(manifests)], check=True, env=env, capture_output=True)
    daemon = Daemon(env, ["--key-processes", str(processes)])
    seen: set[int] = set()
    try:
        assert daemon.wait_for("serving in", timeout=90), daemon.log()
        waiter = subprocess.Popen([*CLI, "wait", "certificate/k0", "certificate/k1", "certificate/k2",
                                   "--for", "condition=Ready", "--timeout", "240s"], env=env)
        while waiter.poll() is None:  # the workers, sampled while the keys are made
            seen.update(worker_children(daemon.proc.pid))
            time.sleep(0.01)
        assert waiter.returncode == 0
    finally:
        assert daemon.stop() == 0, daemon.log()
    store = SqliteStore(db)
    try:
        for i in range(3):
            assert_rsa_issued(store, f"k{i}", 2048)
    finally:
        store.close()
    if processes == 0:
        assert seen == set()
        assert "key worker" not in daemon.log()
    else:
        assert len(seen) == 1, seen
        assert made_keys(daemon) == 3
