"""Benchmark: the daemon on a real Kubernetes control plane, beside host mode and raw crypto.

    python bench/kube_issuance.py --count 1000                      # throughput and API requests
    python bench/kube_issuance.py --ready 10000 --secrets 50000     # start-up, memory, idle requests

The control plane is the tests' own (``tests/kubecluster.py``: etcd, kube-apiserver and
kube-controller-manager built by ``scripts/build-testcluster.sh``), started fresh in a
temporary folder with certkeeper's CRDs. The daemon is the real ``certkeeper --kubeconfig K
run`` process, with its Prometheus endpoint on loopback: its
``certkeeper_kubernetes_api_requests_total`` is the count of requests its store client
sent. The API server's ``apiserver_request_total`` is read beside it, so the count is
checked from the server's side too (that one also holds this script's own requests and
kube-controller-manager's, which are subtracted or listed).

The throughput run also issues the same certificates through a daemon on SQLite
(``bench/ca_issuance.py``'s host mode) and times the raw cryptography, all in the same run:
the machine is shared, and the ratios are the figures that mean something.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.kubecluster import ControlPlane, admin_client, crd_documents, create_namespace, free_port  # noqa: E402

from ca_issuance import CA_SETUP, Daemon, host_throughput, leaf, raw_crypto  # noqa: E402
from certkeeper.api.certificate import Certificate  # noqa: E402
from certkeeper.api.core import Secret  # noqa: E402
from certkeeper.api.issuer import Issuer  # noqa: E402
from certkeeper.api.meta import Resource, get_condition  # noqa: E402
from certkeeper.store.base import EventType  # noqa: E402
from certkeeper.store.kube import KubeClient, KubeStore  # noqa: E402
from certkeeper.store.kube.informer import Informer  # noqa: E402

NAMESPACE = "bench"
UNRELATED = "unrelated"
REQUESTS = "certkeeper_kubernetes_api_requests_total"


# -- the daemon on the cluster -------------------------------------------------------------

class KubeDaemon(Daemon):
    """``certkeeper --kubeconfig K run`` with its metrics on a loopback port."""

    def __init__(self, plane: ControlPlane, log_path: Path, qps: float, extra: list[str]) -> None:
        self.metrics_port = free_port()
        super().__init__(None, log_path, [
            "--kubeconfig", str(plane.kubeconfig), "run",
            "--leader-election-namespace", "default",
            "--kube-api-qps", f"{qps:g}",
            "--metrics-listen-address", f"127.0.0.1:{self.metrics_port}",
            *extra,
        ])

    def requests_made(self) -> int:
        """The daemon's own count, from its metrics endpoint (the scrape is no API request)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == REQUESTS:
                    return int(s.value)
        raise KeyError(REQUESTS)


def wait_metrics(daemon: KubeDaemon, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            daemon.requests_made()
            return
        except OSError:
            if time.monotonic() > end or daemon.proc.poll() is not None:
                raise
            time.sleep(0.1)  # waiting for the daemon's endpoint to come up


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the API server's side ------------------------------------------------------------------

def server_requests(client: KubeClient) -> Counter[tuple[str, str]]:
    """``apiserver_request_total`` summed by (verb, resource[/subresource]). Long-running
    requests (WATCH) are counted when they end."""
    text = client.request("GET", "/metrics", accept="text/plain").text
    out: Counter[tuple[str, str]] = Counter()
    for fam in text_string_to_metric_families(text):
        if fam.name != "apiserver_request":
            continue
        for s in fam.samples:
            if s.name != "apiserver_request_total":
                continue
            res = s.labels.get("resource") or "(non-resource)"
            if s.labels.get("subresource"):
                res += "/" + s.labels["subresource"]
            out[(s.labels.get("verb", ""), res)] += int(s.value)
    return out


def show_requests(delta: Counter[tuple[str, str]], per: float = 1.0, unit: str = "") -> str:
    rows = sorted(((n, v, r) for (v, r), n in delta.items() if n > 0), reverse=True)
    return "; ".join(f"{v} {r} {n / per:.2f}{unit}" if per != 1.0 else f"{v} {r} {n}" for n, v, r in rows)


# -- the cluster's objects -------------------------------------------------------------------

def start_cluster(work: Path) -> tuple[ControlPlane, KubeClient, KubeStore]:
    t = time.monotonic()
    plane = ControlPlane(work / "cluster").start(crd_documents())
    create_namespace(plane, NAMESPACE, isolated=False)
    client = admin_client(plane)
    store = KubeStore(client, cached=False)
    print(f"control plane up in {time.monotonic() - t:.1f} s ({plane.server})", flush=True)
    return plane, client, store


def setup(store: KubeStore) -> None:
    for doc in CA_SETUP:
        cls = Issuer if doc["kind"] == "Issuer" else Certificate
        store.create(cls.model_validate(doc))


class ReadyWatch:
    """Certificates of the bench namespace that are Ready, seen through a watch of the
    admin client (an informer of Certificates only)."""

    def __init__(self, client: KubeClient) -> None:
        self.ready: set[str] = set()
        #: perf_counter() when each name was first seen Ready
        self.ready_at: dict[str, float] = {}
        self._cond = threading.Condition()
        self._inf = Informer(client, Certificate, self._on, namespace=NAMESPACE)
        self._inf.start()
        self._inf.wait_synced(120)
        for _, entry in self._inf.entries(NAMESPACE, None, None):
            self._on(EventType.ADDED, Certificate.model_validate_json(entry.raw))

    def _on(self, etype: EventType, obj: Resource) -> None:
        if not isinstance(obj, Certificate):
            return
        cond = get_condition(obj.status.conditions if obj.status else None, "Ready")
        with self._cond:
            if cond is not None and cond.status == "True" and etype is not EventType.DELETED:
                self.ready_at.setdefault(obj.name, time.perf_counter())
                self.ready.add(obj.name)
            else:
                self.ready.discard(obj.name)
            self._cond.notify_all()

    def wait(self, names: set[str], timeout: float, progress: float = 60.0) -> None:
        end = time.monotonic() + timeout
        next_note = time.monotonic() + progress
        with self._cond:
            while not names <= self.ready:
                now = time.monotonic()
                if now > end:
                    raise TimeoutError(f"{len(names - self.ready)} certificates not Ready after {timeout:.0f} s")
                if now > next_note:
                    print(f"  ... {len(names & self.ready)}/{len(names)} Ready", flush=True)
                    next_note = now + progress
                self._cond.wait(min(1.0, end - now))

    def stop(self) -> None:
        self._inf.stop()


def watch_ready(store: KubeStore) -> set[str]:
    """The Certificates of the bench namespace that are Ready now (one LIST)."""
    out = set()
    for cert in store.list(Certificate, NAMESPACE):
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        if cond is not None and cond.status == "True":
            out.add(cert.name)
    return out


def in_parallel(fn: Callable[[int], Any], items: Iterable[int], threads: int) -> None:
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fn, items):
            pass


def create_leaves(store: KubeStore, start: int, count: int, threads: int = 4) -> set[str]:
    in_parallel(lambda i: store.create(leaf(i)), range(start, start + count), threads)
    return {f"leaf-{i}" for i in range(start, start + count)}


def check_issued(store: KubeStore, names: list[str], sample: int = 20) -> int:
    """Decode a sample of the issued Secrets: a P-256 key that matches the certificate,
    whose only name is the one asked for."""
    checked = 0
    for name in random.sample(names, min(sample, len(names))):
        secret = store.get(Secret, NAMESPACE, name)
        cert = x509.load_pem_x509_certificate(secret.get("tls.crt") or b"")
        key = load_pem_private_key(secret.get("tls.key") or b"", None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1), name
        assert key.public_key() == cert.public_key(), f"{name}: tls.key does not match tls.crt"
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [f"{name}.bench.test"], name
        checked += 1
    return checked


def create_unrelated_secrets(
    plane: ControlPlane, count: int, size: int, timeout: float, threads: int = 16
) -> tuple[int, float]:
    """``count`` Opaque Secrets of ``size`` random bytes, not labelled as certkeeper's, in
    their own namespace; created by the admin in parallel, until ``timeout`` seconds have
    passed. Returns how many were created and the seconds it took."""
    create_namespace(plane, UNRELATED, isolated=False)
    clients = [admin_client(plane) for _ in range(threads)]
    local = threading.local()
    pool_ids = iter(range(threads))
    lock = threading.Lock()
    path = f"/api/v1/namespaces/{UNRELATED}/secrets"

    end = time.monotonic() + timeout
    made = [0] * threads

    def one(i: int) -> None:
        if time.monotonic() > end:
            return
        if not hasattr(local, "client"):
            with lock:
                local.client = clients[next(pool_ids)]
        body = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": f"unrelated-{i}", "labels": {"app": "unrelated"}},
            "data": {"blob": base64.b64encode(os.urandom(size)).decode()},
        }
        local.client.json("POST", path, body)
        made[clients.index(local.client)] += 1

    t = time.perf_counter()
    try:
        in_parallel(one, range(count), threads)
    finally:
        for c in clients:
            c.close()
    return sum(made), time.perf_counter() - t


# -- 1: throughput ----------------------------------------------------------------------------

def throughput(count: int, work: Path, qps: float, extra: list[str], with_host: bool) -> None:
    plane, client, store = start_cluster(work)
    watch: ReadyWatch | None = None
    daemon: KubeDaemon | None = None
    try:
        setup(store)
        daemon = KubeDaemon(plane, work / "daemon.log", qps, extra)
        watch = ReadyWatch(client)
        watch.wait({"ca"}, timeout=120)
        wait_metrics(daemon)
        pids = {name: p.pid for name, p in plane.procs.items()}
        d0, a0, s0 = daemon.requests_made(), client.requests_made, server_requests(client)
        cpu0 = {"daemon": daemon.cpu_seconds(), **{n: proc_cpu(p) for n, p in pids.items()}}
        t = time.perf_counter()
        names = create_leaves(store, 0, count)
        created = time.perf_counter() - t
        watch.wait(names, timeout=max(600.0, count * 1.0))
        elapsed = time.perf_counter() - t
        first = min(watch.ready_at[n] for n in names) - t
        cpu1 = {"daemon": daemon.cpu_seconds(), **{n: proc_cpu(p) for n, p in pids.items()}}
        a1 = client.requests_made
        d1, s1 = daemon.requests_made(), server_requests(client)
        peak_kb = daemon.status("VmHWM")
        checked = check_issued(store, sorted(names))
    finally:
        if watch is not None:
            watch.stop()
        if daemon is not None:
            daemon.stop()
        store.close()
        plane.stop()
    server_delta = s1 - s0
    own = a1 - a0  # this script's requests the server counted: the first scrape, the creates
    host: tuple[float, int] | None = None
    if with_host:
        (work / "host").mkdir()
        host = host_throughput(count, work / "host")
    raw = statistics.median(raw_crypto(count))

    per_cert = elapsed / count
    daemon_requests = d1 - d0
    print(f"certificates issued through the daemon on the cluster : {count} ({checked} Secrets decoded and checked)")
    print(f"cluster: wall time                     : {elapsed:.2f} s ({count / elapsed:.1f} certificates/s); "
          f"the {count} creates took {created:.2f} s; first Ready after {first:.2f} s")
    print(f"cluster: per certificate               : {per_cert * 1000:.2f} ms")
    print(f"cluster: API requests per certificate  : {daemon_requests / count:.2f} "
          f"({daemon_requests} by the daemon's own count)")
    server_total = sum(server_delta.values())
    print(f"API server: requests during the batch  : {server_total} in all; {own} of them this script's creates "
          f"(and its watch); the rest {server_total - own} = {(server_total - own) / count:.2f} per certificate "
          "(daemon + kube-controller-manager; watches still open are not counted yet)")
    print(f"API server: by verb and resource       : {show_requests(server_delta)}")
    cpu = {n: cpu1[n] - cpu0[n] for n in cpu0}
    print("CPU during the batch, s (% of one core): "
          + ", ".join(f"{n} {v:.1f} ({100 * v / elapsed:.0f} %)" for n, v in cpu.items()))
    print(f"cluster: daemon peak resident memory (VmHWM) : {peak_kb / 1024:.0f} MB")
    if host is not None:
        h_elapsed, h_peak = host
        print(f"host (SQLite): wall time               : {h_elapsed:.2f} s ({count / h_elapsed:.1f} certificates/s); "
              f"per certificate {h_elapsed / count * 1000:.2f} ms; VmHWM {h_peak / 1024:.0f} MB")
        print(f"ratio cluster / host                   : {elapsed / h_elapsed:.2f}x")
    print(f"raw crypto (cryptography), median      : {raw * 1000:.3f} ms ({1 / raw:.0f} /s)")
    print(f"ratio cluster / raw crypto             : {per_cert / raw:.1f}x")
    if host is not None:
        print(f"ratio host / raw crypto                : {host[0] / count / raw:.1f}x")
    print(f"load average at the end                : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


# -- 2 and 3: Ready certificates at rest, unrelated Secrets ---------------------------------

def measure_start(daemon: KubeDaemon, label: str) -> tuple[float, float, int]:
    serving = daemon.wait_for_log("serving in", timeout=900)
    synced = daemon.wait_for_log("initial sync done", timeout=1800)
    rss = daemon.status("VmRSS")
    print(f"{label}: spawn to serving (every cache listed and synced, timers armed) : {serving:.2f} s", flush=True)
    print(f"{label}: spawn to initial sync done (every object re-checked)           : {synced:.2f} s", flush=True)
    print(f"{label}: resident memory after the initial sync                         : {rss / 1024:.0f} MB", flush=True)
    return serving, synced, rss


def idle(
    ready: int, secrets: int, secret_bytes: int, window: float, work: Path, qps: float, extra: list[str],
    setup_extra: list[str], setup_timeout: float, secrets_timeout: float,
) -> None:
    plane, client, store = start_cluster(work)
    watch: ReadyWatch | None = None
    daemon: KubeDaemon | None = None
    try:
        setup(store)
        daemon = KubeDaemon(plane, work / "daemon-1.log", qps, setup_extra)
        watch = ReadyWatch(client)
        watch.wait({"ca"}, timeout=120)
        daemon.wait_for_log("initial sync done", timeout=600)
        base_rss = daemon.status("VmRSS")
        print(f"empty cluster (the CA only): resident memory after the initial sync : {base_rss / 1024:.0f} MB",
              flush=True)
        t = time.perf_counter()
        names = create_leaves(store, 0, ready)
        try:
            watch.wait(names, timeout=setup_timeout)
        except TimeoutError as e:
            # what the session's time allows: measure with the certificates that are Ready
            print(f"setup stopped: {e}; the rest are deleted and the runs below use those Ready", flush=True)
        issued = time.perf_counter() - t
        watch.stop()
        watch = None
        daemon.stop()
        daemon = None
        late = sorted(names - watch_ready(store))
        if late:
            in_parallel(lambda i: store.delete(Certificate, NAMESPACE, late[i]), range(len(late)), 8)
            names -= set(late)
            ready = len(names)
        print(f"issued {ready} certificates on the cluster in {issued:.1f} s ({ready / issued:.1f}/s; "
              "setup for the runs below)", flush=True)
        print(f"checked {check_issued(store, sorted(names))} Secrets", flush=True)

        daemon = KubeDaemon(plane, work / "daemon-2.log", qps, extra)
        measure_start(daemon, f"{ready} Ready")
        wait_metrics(daemon)
        cpu0, d0, a0 = daemon.cpu_seconds(), daemon.requests_made(), client.requests_made
        s0, t0 = server_requests(client), time.monotonic()
        time.sleep(window)  # measuring idleness is the point: nothing should happen meanwhile
        cpu1, d1, a1 = daemon.cpu_seconds(), daemon.requests_made(), client.requests_made
        s1, t1 = server_requests(client), time.monotonic()
        rss = daemon.status("VmRSS")
        daemon.stop()
        daemon = None
        minutes = (t1 - t0) / 60
        delta = s1 - s0
        print(f"{ready} Ready: idle window                 : {t1 - t0:.0f} s")
        print(f"{ready} Ready: API requests by the daemon  : {d1 - d0} ({(d1 - d0) / minutes:.1f} per minute)")
        print(f"{ready} Ready: API server, every client    : {sum(delta.values())} ({a1 - a0} of them this script's "
              f"scrape); by verb and resource: {show_requests(delta)}")
        print(f"{ready} Ready: idle CPU                    : {100 * (cpu1 - cpu0) / (t1 - t0):.3f} % of a core")
        print(f"{ready} Ready: resident memory at the end  : {rss / 1024:.0f} MB (target < 300 MB); "
              f"{(rss - base_rss) * 1024 / max(ready, 1):.0f} bytes per Ready Certificate above the empty cluster's",
              flush=True)

        if secrets:
            secrets, took = create_unrelated_secrets(plane, secrets, secret_bytes, secrets_timeout)
            print(f"created {secrets} unrelated Secrets of {secret_bytes} random bytes in {took:.1f} s "
                  f"({secrets / took:.0f}/s)", flush=True)
            daemon = KubeDaemon(plane, work / "daemon-3.log", qps, extra)
            _, _, rss3 = measure_start(daemon, f"{ready} Ready + {secrets} unrelated Secrets")
            wait_metrics(daemon)
            time.sleep(min(window, 10.0))  # the same daemon a little later: memory settled, not growing
            rss3b = daemon.status("VmRSS")
            print(f"... resident memory {min(window, 10.0):.0f} s later : {rss3b / 1024:.0f} MB; the Secrets added "
                  f"{(rss3b - rss) / 1024:.0f} MB = {(rss3b - rss) * 1024 / secrets:.0f} bytes per unrelated Secret")
    finally:
        if watch is not None:
            watch.stop()
        if daemon is not None:
            daemon.stop()
        store.close()
        plane.stop()
    print(f"load average at the end                : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="certificates to issue (throughput run)")
    parser.add_argument("--ready", type=int, default=0, help="run the at-rest benchmark with this many certificates")
    parser.add_argument("--secrets", type=int, default=0, help="then add this many unrelated Secrets (--ready run)")
    parser.add_argument("--secret-bytes", type=int, default=2048, help="random data in each unrelated Secret")
    parser.add_argument("--window", type=float, default=60.0, help="idle measurement window, seconds")
    parser.add_argument("--kube-api-qps", type=float, default=0.0, help="the daemon's client rate limit (0: none)")
    parser.add_argument("--workers", type=int, default=0,
                        help="the daemon's --workers (default: its own default, 1)")
    parser.add_argument("--setup-workers", type=int, default=0,
                        help="--workers of the daemon that issues the --ready certificates (not measured)")
    parser.add_argument("--setup-timeout", type=float, default=0,
                        help="seconds the --ready certificates may take; those not Ready by then are deleted "
                             "(default: the count in seconds, at least 1800)")
    parser.add_argument("--secrets-timeout", type=float, default=3600,
                        help="stop creating unrelated Secrets after this many seconds and go on with those made")
    parser.add_argument("--no-host", action="store_true", help="skip the host-mode run of the throughput benchmark")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) and print its path")
    args = parser.parse_args()
    extra = ["--workers", str(args.workers)] if args.workers else []
    work = Path(tempfile.mkdtemp(prefix="certkeeper-kbench-"))
    try:
        if args.ready:
            idle(args.ready, args.secrets, args.secret_bytes, args.window, work, args.kube_api_qps, extra,
                 ["--workers", str(args.setup_workers)] if args.setup_workers else extra,
                 args.setup_timeout or max(1800.0, args.ready), args.secrets_timeout)
        else:
            throughput(args.count, work, args.kube_api_qps, extra, not args.no_host)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
