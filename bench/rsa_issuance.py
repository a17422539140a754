"""Benchmark: RSA-2048 Certificates from a CA Issuer through the daemon, beside raw key
generation spread over both cores.

    python bench/rsa_issuance.py                  # 200 certificates, one round
    python bench/rsa_issuance.py --rounds 3       # three rounds, medians
    python bench/rsa_issuance.py --probes         # also: does RSA generation release the GIL,
                                                  # and what a process hop costs an ECDSA key

An RSA-2048 key costs tens of milliseconds of CPU, much more than everything else an
issuance does, so the figure that means something is the daemon's wall time for N RSA
certificates beside the wall time of N bare ``rsa.generate_private_key(65537, 2048)``
calls over a pool of as many processes as the daemon may use, measured in the same run
(before and after each daemon round: the machine is shared and noisy).

The daemon is the real ``certkeeper run`` process on a fresh SQLite store, set up as in
``ca_issuance.py`` (self-signed Issuer, P-256 CA Certificate, CA Issuer); the leaves ask
for RSA-2048 keys. Every issued Secret is decoded: an RSA-2048 key that matches the
certificate, signed by the CA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca_issuance import Daemon, leaf, setup, wait_ready
from certkeeper.api.certificate import Certificate
from certkeeper.api.core import Secret
from certkeeper.store.sqlite import SqliteStore


def rsa_leaf(i: int) -> Certificate:
    return leaf(i, "rsa", "RSA", 2048)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpus() -> int:
    return len(os.sched_getaffinity(0))


# -- baselines ---------------------------------------------------------------------------

def _keygen(_: int) -> tuple[int, float]:
    """One RSA-2048 key: (its size, the CPU seconds it took)."""
    t = time.thread_time()
    size = rsa.generate_private_key(public_exponent=65537, key_size=2048).key_size
    return size, time.thread_time() - t


def raw_pool(count: int, workers: int) -> tuple[float, float]:
    """(wall time of ``count`` RSA-2048 generations over ``workers`` processes, started and
    warmed before the clock starts; mean CPU seconds of one key)."""
    with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
        list(pool.map(_keygen, range(workers)))
        t = time.perf_counter()
        results = list(pool.map(_keygen, range(count)))
        elapsed = time.perf_counter() - t
    assert [size for size, _ in results] == [2048] * count
    return elapsed, statistics.fmean(cpu for _, cpu in results)


def gil_probe(count: int) -> tuple[float, float, float, float]:
    """``count`` keys in one thread, then in two: (wall of one, wall of two, CPU/wall of
    one, CPU/wall of two). With the GIL released two threads would use two cores (CPU/wall
    near 2 on an idle machine); holding it, they use what one thread uses."""
    cpu0, t = time.process_time(), time.perf_counter()
    for i in range(count):
        _keygen(i)
    one = time.perf_counter() - t
    util_one = (time.process_time() - cpu0) / one
    cpu0, t = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(_keygen, range(count)))
    two = time.perf_counter() - t
    return one, two, util_one, (time.process_time() - cpu0) / two


def load_probe(count: int) -> tuple[float, float, float]:
    """Median CPU ms of an RSA-2048 key: generated, loaded from PEM with OpenSSL's full
    check (what reading a key from the store costs), loaded without it."""
    gen, checked, unchecked = [], [], []
    for _ in range(count):
        t = time.thread_time()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        gen.append(time.thread_time() - t)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        t = time.thread_time()
        serialization.load_pem_private_key(pem, None)
        checked.append(time.thread_time() - t)
        t = time.thread_time()
        serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        unchecked.append(time.thread_time() - t)
    return statistics.median(gen) * 1000, statistics.median(checked) * 1000, statistics.median(unchecked) * 1000


def _ec_pem(_: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def hop_probe(count: int) -> tuple[float, float]:
    """(median ms of a P-256 key + PKCS#8 PEM inline, median ms of the same through a warm
    one-process pool, submit to result)."""
    inline = []
    for i in range(count):
        t = time.perf_counter()
        _ec_pem(i)
        inline.append(time.perf_counter() - t)
    hop = []
    with ProcessPoolExecutor(1, mp_context=get_context("forkserver")) as pool:
        pool.submit(_ec_pem, 0).result()
        for i in range(count):
            t = time.perf_counter()
            pool.submit(_ec_pem, i).result()
            hop.append(time.perf_counter() - t)
    return statistics.median(inline) * 1000, statistics.median(hop) * 1000


# -- the daemon --------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tasks:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def tree_cpu(pid: int) -> tuple[float, float]:
    """(CPU seconds of ``pid`` itself, of its live descendants), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ticks

    own, rest, todo = cpu(pid), 0.0, _children(pid)
    while todo:
        p = todo.pop()
        rest += cpu(p)
        todo += _children(p)
    return own, rest


def check_secrets(store: SqliteStore, count: int) -> None:
    """Every issued Secret: an RSA-2048 key matching its certificate, signed by the CA."""
    ca = x509.load_pem_x509_certificate(store.get(Secret, "bench", "ca").get("tls.crt") or b"")
    for i in range(count):
        secret = store.get(Secret, "bench", f"rsa-{i}")
        cert = x509.load_pem_x509_certificate(secret.get("tls.crt") or b"")
        # the bench's own check of its own output: the key is compared, not validated
        key = serialization.load_pem_private_key(secret.get("tls.key") or b"", None,
                                                 unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048, f"rsa-{i}: not an RSA-2048 key"
        assert key.public_key().public_numbers() == cert.public_key().public_numbers(), f"rsa-{i}: key mismatch"
        cert.verify_directly_issued_by(ca)


def daemon_round(count: int, work: Path, argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds of ``count`` RSA certificates, daemon CPU, its children's CPU)."""
    work.mkdir()
    store = SqliteStore(work / "store.db")
    setup(store)
    daemon = Daemon(work / "store.db", work / "daemon.log", argv)
    try:
        wait_ready(store, {"ca"}, timeout=120)
        certs = [rsa_leaf(i) for i in range(count)]
        own0, kids0 = tree_cpu(daemon.proc.pid)
        t = time.perf_counter()
        for cert in certs:
            store.create(cert)
        wait_ready(store, {c.name for c in certs}, timeout=max(600.0, count * 2.0))
        elapsed = time.perf_counter() - t
        own1, kids1 = tree_cpu(daemon.proc.pid)
        check_secrets(store, count)
    finally:
        daemon.stop()
        store.close()
    return elapsed, own1 - own0, kids1 - kids0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="RSA certificates per round")
    parser.add_argument("--rounds", type=int, default=1, help="daemon rounds, each between two baselines")
    parser.add_argument("--pool", type=int, default=0, help="processes of the baseline pool (default: the CPUs)")
    parser.add_argument("--probes", action="store_true", help="measure the GIL and the process hop too")
    args = parser.parse_args()
    workers = args.pool or cpus()
    print(f"CPUs available: {cpus()}; load average at the start: {load()}")
    if args.probes:
        one, two, util_one, util_two = gil_probe(40)
        print(f"GIL probe: 40 RSA-2048 keys, 1 thread {one:.2f} s (CPU/wall {util_one:.2f}), "
              f"2 threads {two:.2f} s (CPU/wall {util_two:.2f}; near 2 if the GIL were released)")
        gen, checked, unchecked = load_probe(40)
        print(f"RSA-2048 CPU, median of 40: generated {gen:.1f} ms; loaded from PEM with OpenSSL's check "
              f"{checked:.1f} ms, without {unchecked:.3f} ms")
        inline, hop = hop_probe(200)
        print(f"ECDSA P-256 key + PEM, median: inline {inline:.3f} ms, through a warm process pool {hop:.3f} ms")
    first, key_cpu = raw_pool(args.count, workers)
    baselines, key_cpus = [first], [key_cpu]
    rounds: list[tuple[float, float, float]] = []
    #: per round: the daemon's wall time / the mean of the baselines just before and after it
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="certkeeper-bench-") as tmp:
        for r in range(args.rounds):
            rounds.append(daemon_round(args.count, Path(tmp) / f"round-{r}", ["run"]))
            base, key_cpu = raw_pool(args.count, workers)
            baselines.append(base)
            key_cpus.append(key_cpu)
            wall, own, kids = rounds[-1]
            around = (baselines[-2] + baselines[-1]) / 2
            ratios.append(wall / around)
            print(f"round {r + 1}: daemon {wall:.2f} s (CPU: daemon {own:.1f} s, key workers {kids:.1f} s); "
                  f"baselines before and after {baselines[-2]:.2f} {baselines[-1]:.2f} s; ratio {ratios[-1]:.2f}x; "
                  f"load {load()}")
    wall = statistics.median(r[0] for r in rounds)
    base = statistics.median(baselines)
    ratio = statistics.median(ratios)
    print(f"RSA-2048 certificates per round          : {args.count}")
    own = statistics.median(r[1] for r in rounds)
    kids = statistics.median(r[2] for r in rounds)
    print(f"daemon: wall time (median of {len(rounds)})        : {wall:.2f} s; per certificate {wall / args.count * 1000:.1f} ms")
    print(f"daemon: CPU per certificate (median)     : {own / args.count * 1000:.1f} ms in the daemon, "
          f"{kids / args.count * 1000:.1f} ms in its key workers")
    print(f"raw keygen over {workers} processes (median of {len(baselines)}): {base:.2f} s; "
          f"per key {base / args.count * 1000:.1f} ms wall, {statistics.median(key_cpus) * 1000:.1f} ms CPU (mean)")
    print(f"ratio daemon / raw keygen, median of the rounds' ratios: {ratio:.2f}x "
          f"(target <= 1.5x: {'met' if ratio <= 1.5 else 'not met'}); each round's: {' '.join(f'{x:.2f}' for x in ratios)}")
    key_cpu = statistics.median(key_cpus)
    print(f"CPU ratio (daemon + key workers) / bare  : {(own + kids) / args.count / key_cpu:.2f}x "
          f"(the wall ratio's floor when the batch has both cores to itself)")
    print(f"load average at the end                  : {load()}")
    sys.stdout.flush()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
