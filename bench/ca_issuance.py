"""Benchmark: Certificates issued from a CA Issuer through the real daemon.

    python bench/ca_issuance.py --count 1000            # throughput and peak memory
    python bench/ca_issuance.py --idle 10000            # idle CPU, start-up, resident memory

The daemon is the real ``certkeeper run`` process on a fresh SQLite store. Throughput is
reported beside the raw cost of the same cryptography done directly with the
``cryptography`` package in the same run (P-256 key, CSR, CA signature, PEM round trip),
because shared machines are noisy: the ratio is the figure that means something.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.api.certificate import Certificate
from certkeeper.api.issuer import Issuer
from certkeeper.api.meta import get_condition
from certkeeper.store.base import WatchEvent
from certkeeper.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.daemons import free_listen_flags  # noqa: E402

CA_SETUP = [
    {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "selfsigned", "namespace": "bench"},
     "spec": {"selfSigned": {}}},
    {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "ca", "namespace": "bench"},
     "spec": {"isCA": True, "commonName": "bench CA", "secretName": "ca", "issuerRef": {"name": "selfsigned"},
              "privateKey": {"algorithm": "ECDSA", "size": 256}}},
    {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": "bench"},
     "spec": {"ca": {"secretName": "ca"}}},
]


def leaf(i: int, prefix: str = "leaf", algorithm: str = "ECDSA", size: int = 256) -> Certificate:
    return Certificate.model_validate({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": f"{prefix}-{i}", "namespace": "bench"},
        "spec": {"secretName": f"{prefix}-{i}", "dnsNames": [f"{prefix}-{i}.bench.test"], "issuerRef": {"name": "ca"},
                 "privateKey": {"algorithm": algorithm, "size": size}},
    })


# -- raw crypto baseline ---------------------------------------------------------------

def raw_crypto(count: int) -> list[float]:
    """Per certificate: what issuance needs cryptographically, done directly: a P-256
    key, a CSR signed and verified, a certificate signed by the CA and verified against
    it, and the PEM encodings written and read back."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raw CA")])
    now = dt.datetime.now(dt.UTC)
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    times = []
    for i in range(count):
        t = time.perf_counter()
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"leaf-{i}.bench.test"
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
            .sign(key, hashes.SHA256())
        )
        csr_pem = csr.public_bytes(serialization.Encoding.PEM)
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_name)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        # the chain check every issuance makes (cert-manager's single-chain parse)
        x509.load_pem_x509_certificate(pem).verify_directly_issued_by(ca_cert)
        serialization.load_pem_private_key(key_pem, None)
        times.append(time.perf_counter() - t)
    return times


# -- the daemon ------------------------------------------------------------------------

class Daemon:
    """``certkeeper run`` on the SQLite store at ``store_path``, or with ``argv`` (the
    arguments after ``python -m certkeeper``) on whatever they name."""

    def __init__(self, store_path: Path | None, log_path: Path, argv: list[str] | None = None) -> None:
        env = {**os.environ}
        if store_path is not None:
            env["CERTKEEPER_STORE"] = str(store_path)
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        argv = argv or ["run"]
        # the default configuration (metrics and probes on), on ports no other daemon holds
        listen = free_listen_flags(argv)
        #: where its /metrics is served (None: argv placed it)
        self.metrics_address = next(
            (listen[i + 1] for i, a in enumerate(listen) if a == "--metrics-listen-address"), None
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "certkeeper", *argv, *listen], env=env, stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def scrape(self) -> tuple[int, float]:
        """One scrape as Prometheus sends it (OpenMetrics, gzip): (bytes received, the
        daemon's CPU seconds it cost)."""
        assert self.metrics_address is not None
        req = urllib.request.Request(f"http://{self.metrics_address}/metrics", headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            "Accept-Encoding": "gzip",
        })
        cpu0 = self.cpu_seconds()
        with urllib.request.urlopen(req, timeout=600) as resp:
            body = resp.read()
        return len(body), self.cpu_seconds() - cpu0

    def status(self, field: str) -> int:
        """A /proc/<pid>/status value in kB (VmHWM peak, VmRSS resident)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def wait_for_log(self, text: str, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log_path.read_text(errors="replace"):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode} before logging {text!r}")
            time.sleep(0.01)
        raise TimeoutError(text)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


def wait_ready(store: SqliteStore, names: set[str], timeout: float) -> None:
    """Block until every named Certificate is Ready, through the store's watch."""
    pending = set(names)
    lock = threading.Lock()
    done = threading.Event()

    def check(cert: Certificate) -> None:
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        if cond is not None and cond.status == "True":
            with lock:
                pending.discard(cert.name)
                if not pending:
                    done.set()

    def on_event(event: WatchEvent) -> None:
        if event.kind == "Certificate" and isinstance(event.obj, Certificate):
            check(event.obj)

    stop = store.watch(on_event)
    try:
        for cert in store.list(Certificate, "bench"):
            if cert.name in names:
                check(cert)
        if not done.wait(timeout):
            raise TimeoutError(f"{len(pending)} certificates not Ready after {timeout}s")
    finally:
        stop()


def setup(store: SqliteStore) -> None:
    for doc in CA_SETUP:
        cls = Issuer if doc["kind"] == "Issuer" else Certificate
        store.create(cls.model_validate(doc))


def issue(store: SqliteStore, count: int) -> float:
    certs = [leaf(i) for i in range(count)]
    t = time.perf_counter()
    for cert in certs:
        store.create(cert)
    wait_ready(store, {c.name for c in certs}, timeout=max(600.0, count * 0.5))
    return time.perf_counter() - t


def host_throughput(count: int, work: Path) -> tuple[float, int]:
    """Issue ``count`` leaves through a daemon on a fresh SQLite store in ``work``:
    (seconds from the first create to the last Ready, the daemon's VmHWM in kB)."""
    elapsed, peak_kb, _ = host_run(count, work)
    return elapsed, peak_kb


def host_run(count: int, work: Path) -> tuple[float, int, float]:
    """``host_throughput`` and the CPU seconds the daemon spent meanwhile (all its
    threads): on a shared machine the wall time also measures the neighbours, the CPU
    time much less so."""
    store = SqliteStore(work / "store.db")
    setup(store)
    daemon = Daemon(work / "store.db", work / "daemon.log")
    try:
        wait_ready(store, {"ca"}, timeout=60)
        cpu = daemon.cpu_seconds()
        elapsed = issue(store, count)
        cpu = daemon.cpu_seconds() - cpu
        peak_kb = daemon.status("VmHWM")
    finally:
        daemon.stop()
        store.close()
    return elapsed, peak_kb, cpu


def throughput(count: int, work: Path) -> None:
    elapsed, peak_kb, cpu = host_run(count, work)
    raw = raw_crypto(count)
    daemon_per_cert = elapsed / count
    raw_median = statistics.median(raw)
    print(f"certificates issued through the daemon : {count}")
    print(f"daemon: wall time                      : {elapsed:.2f} s ({count / elapsed:.0f} certificates/s)")
    print(f"daemon: per certificate                : {daemon_per_cert * 1000:.2f} ms")
    print(f"raw crypto (cryptography), median      : {raw_median * 1000:.3f} ms ({1 / raw_median:.0f} /s)")
    print(f"ratio daemon / raw crypto              : {daemon_per_cert / raw_median:.1f}x (target <= 10x)")
    print(f"daemon: CPU per certificate            : {cpu / count * 1000:.2f} ms "
          f"({cpu / count / raw_median:.1f}x raw crypto)")
    print(f"daemon peak resident memory (VmHWM)    : {peak_kb / 1024:.0f} MB")


def ready_leaves(store: SqliteStore) -> int:
    """Leaf Certificates of the bench namespace that are Ready (a kept store's count)."""
    n = 0
    for cert in store.scan(Certificate):
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        if cert.name.startswith("leaf-") and cond is not None and cond.status == "True":
            n += 1
    return n


def idle(count: int, work: Path, window: float, store_path: Path | None = None) -> None:
    """``store_path``: a store kept from an earlier run with the same count is used as it is
    (issuing 100,000 certificates takes a while); a new one is made there otherwise."""
    db = store_path or work / "store.db"
    fresh = not db.exists()
    store = SqliteStore(db)
    if fresh:
        setup(store)
    have = 0 if fresh else ready_leaves(store)
    if have != count:
        if have:
            raise SystemExit(f"{db} holds {have} Ready leaves, not {count}: give another --store path")
        daemon = Daemon(db, work / "daemon-1.log")
        try:
            wait_ready(store, {"ca"}, timeout=60)
            elapsed = issue(store, count)
        finally:
            daemon.stop()
        print(f"issued {count} certificates in {elapsed:.1f} s (setup for the idle run)", flush=True)
    else:
        print(f"{db}: {have} Ready certificates kept from an earlier run", flush=True)
    daemon = Daemon(db, work / "daemon-2.log")
    try:
        startup = daemon.wait_for_log("serving in", timeout=600)
        sweep = daemon.wait_for_log("initial sync done", timeout=600)
        rss_start = daemon.status("VmRSS")
        cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
        time.sleep(window)  # measuring idleness is the point: nothing should happen meanwhile
        cpu1, t1 = daemon.cpu_seconds(), time.monotonic()
        rss = daemon.status("VmRSS")
        # metrics are on by default: what the first scrapes add (the first builds the
        # exposition, the next ones send what is kept)
        scrapes = [daemon.scrape() for _ in range(3)] if daemon.metrics_address else []
        rss_scraped = daemon.status("VmRSS")
        peak = daemon.status("VmHWM")
    finally:
        daemon.stop()
        store.close()
    idle_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    # the targets: 10,000 certificates (the first ones), 100,000 on one host
    start_target, rss_target = ("5 s", "150 MB") if count <= 10_000 else ("30 s", "1 GB")
    print(f"ready certificates                     : {count}")
    print(f"start-up (spawn to serving, timers set) : {startup:.2f} s (target < {start_target})")
    print(f"initial verification of every object   : {sweep:.2f} s after spawn (runs behind live work)")
    print(f"idle CPU over {window:.0f} s                   : {idle_pct:.3f} % of a core (target < 0.5 %)")
    print(f"resident memory after start / idle     : {rss_start / 1024:.0f} MB / {rss / 1024:.0f} MB (target < {rss_target})")
    for i, (size, cpu) in enumerate(scrapes, 1):
        print(f"metrics scrape {i} (OpenMetrics, gzip)   : {size / 1024:.0f} KB, {cpu * 1000:.0f} ms of the daemon's CPU")
    print(f"resident memory after the scrapes      : {rss_scraped / 1024:.0f} MB; peak (VmHWM) {peak / 1024:.0f} MB "
          f"(target < {rss_target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="certificates to issue (throughput run)")
    parser.add_argument("--idle", type=int, default=0, help="run the idle benchmark with this many certificates")
    parser.add_argument("--window", type=float, default=30.0, help="idle measurement window, seconds")
    parser.add_argument("--store", type=Path, default=None,
                        help="idle run: keep the store here, and use it as it is when it already holds --idle "
                             "Ready certificates")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certkeeper-bench-") as tmp:
        if args.idle:
            idle(args.idle, Path(tmp), args.window, args.store)
        else:
            throughput(args.count, Path(tmp))


if __name__ == "__main__":
    main()
