"""Benchmark: the CPU one ``/metrics`` scrape costs the daemon with 10,000 Ready Certificates.

    python bench/metrics_scrape.py                          # 10,000 Certificates, 30 scrapes of each kind
    python bench/metrics_scrape.py --count 1000 --scrapes 10

The store is filled directly rather than through the daemon (issuing 10,000 would take
minutes): a CA key pair, then for each Certificate what the controllers would have
written, computed by the project's own functions (the CSR from the spec, the CA signer's
signature, the issuing controller's Secret, the readiness controller's status). The run
checks that the daemon takes them as they are: every Certificate Ready at revision 1 and
no CertificateRequest created after its initial verification.

The daemon is the real ``certkeeper run`` process in its default configuration (metrics
on, on a free loopback port). A scrape's cost is the daemon's CPU during it, read per
thread from ``/proc/<pid>/task/*/schedstat`` (nanoseconds; ``/proc/<pid>/stat`` counts
10 ms ticks) over one kept-alive connection, as Prometheus keeps its own. The baseline,
measured in the same run in this process on the same rows: prometheus_client's
``generate_latest`` of a registry of the previous collectors, what every scrape cost
before (and its gzip at prometheus_client's level, as its server does when asked).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ca_issuance import Daemon, leaf  # noqa: E402
from certkeeper.api import constants as c  # noqa: E402
from certkeeper.api.certificate import (  # noqa: E402
    Certificate,
    CertificateRequest,
    CertificateRequestSpec,
    CertificateStatus,
)
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret  # noqa: E402
from certkeeper.api.issuer import Issuer  # noqa: E402
from certkeeper.api.meta import format_time, get_condition, set_condition  # noqa: E402
from certkeeper.controllers.certificates.issuing import build_apply  # noqa: E402
from certkeeper.controllers.certificates.secretapply import apply_secret  # noqa: E402
from certkeeper.metrics.collectors import ResourceCollector  # noqa: E402
from certkeeper.metrics.table import MetricsTable  # noqa: E402
from certkeeper.pki.chain import normalize_chain  # noqa: E402
from certkeeper.pki.csr import build_csr, decode_csr  # noqa: E402
from certkeeper.pki.keys import generate_private_key  # noqa: E402
from certkeeper.pki.renewal import renewal_time  # noqa: E402
from certkeeper.pki.sign import sign_certificate  # noqa: E402
from certkeeper.store.sqlite import SqliteStore  # noqa: E402

#: what the issue gave as the cost of one scrape at 10,000 Certificates before this change
OLD_FIGURE_S = 1.5
TARGET_MS = 50.0
#: Prometheus's own request headers (it asks OpenMetrics first, and gzip)
PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
PLAIN = {"Accept": "text/plain"}


# -- the store, filled as the controllers would have filled it -------------------------

def seed(store: SqliteStore, count: int) -> None:
    """A CA Issuer and ``count`` Ready Certificates with their Secrets (no requests kept:
    cert-manager's policies skip the request checks when there is none)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench metrics CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_secret = Secret.model_validate({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                                       "metadata": {"name": "ca", "namespace": "bench"}})
    ca_secret.set(TLS_CERT, ca_cert.public_bytes(serialization.Encoding.PEM))
    ca_secret.set(TLS_KEY, ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    store.create(ca_secret)
    store.create(Issuer.model_validate({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                                        "metadata": {"name": "ca", "namespace": "bench"},
                                        "spec": {"ca": {"secretName": "ca"}}}))
    for i in range(count):
        cert = leaf(i)
        key = generate_private_key(cert.spec.private_key)
        csr_pem = build_csr(cert.spec, key)
        request = CertificateRequestSpec(duration=cert.spec.duration, issuer_ref=cert.spec.issuer_ref,
                                         request=csr_pem, is_ca=cert.spec.is_ca, usages=cert.spec.usages)
        signed = sign_certificate(request, decode_csr(csr_pem), ca_key, ca_cert, now)
        chain_pem, ca_pem = normalize_chain([ca_cert, signed])
        apply_secret(store, build_apply(store, cert, key, chain_pem, ca_pem, cert.spec.issuer_ref, False))
        created = store.create(cert)
        status = created.status or CertificateStatus()
        status.revision = 1
        status.not_before = format_time(signed.not_valid_before_utc)
        status.not_after = format_time(signed.not_valid_after_utc)
        when = renewal_time(signed.not_valid_before_utc, signed.not_valid_after_utc, cert.spec)
        status.renewal_time = format_time(when) if when else None
        status.conditions = set_condition(None, c.COND_READY, "True", "Ready",
                                          "Certificate is up to date and has not expired", now,
                                          created.metadata.generation)
        created.status = status
        store.update_status(created)


def check_taken_as_they_are(store: SqliteStore, count: int) -> None:
    ready = 0
    for cert in store.scan(Certificate):
        if cert.namespace != "bench" or not cert.name.startswith("leaf-"):
            continue
        cond = get_condition(cert.status.conditions if cert.status else None, "Ready")
        assert cert.status is not None and cert.status.revision == 1, (cert.name, cert.status)
        ready += cond is not None and cond.status == "True"
    requests = sum(1 for _ in store.scan(CertificateRequest))
    if ready != count or requests:
        raise SystemExit(f"the daemon did not take the store as it is: {ready}/{count} Ready, {requests} requests")


# -- measuring -------------------------------------------------------------------------

def thread_cpu_ns(pid: int) -> int:
    """The CPU time of every live thread of ``pid`` (nanoseconds, from schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


class Scraper:
    """One kept-alive HTTP connection to the daemon's endpoint."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, headers: dict[str, str]) -> bytes:
        self.conn.request("GET", "/metrics", headers=headers)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"/metrics answered {resp.status}: {body[:200]!r}")
        return gzip.decompress(body) if resp.getheader("Content-Encoding") == "gzip" else body


def scrape_cpu(pid: int, scraper: Scraper, headers: dict[str, str], n: int) -> list[float]:
    """The daemon's CPU (ms) for each of ``n`` scrapes."""
    out = []
    for _ in range(n):
        before = thread_cpu_ns(pid)
        scraper.get(headers)
        out.append((thread_cpu_ns(pid) - before) / 1e6)
    return out


def wait_quiet(daemon: Daemon, timeout: float = 120.0) -> None:
    """Until the daemon used no CPU tick over half a second (its work after a change done)."""
    end = time.monotonic() + timeout
    last = daemon.cpu_seconds()
    while time.monotonic() < end:
        time.sleep(0.5)  # sampling the daemon's CPU counter is the point here
        now = daemon.cpu_seconds()
        if now == last:
            return
        last = now
    raise TimeoutError("the daemon did not go quiet")


def cpu_ms(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.process_time()
        fn()
        out.append((time.process_time() - t) * 1000)
    return out


def renew(store_path: Path, name: str) -> None:
    env = {**os.environ, "CERTKEEPER_STORE": str(store_path)}
    subprocess.run([sys.executable, "-m", "certkeeper", "renew", "-n", "bench", name], env=env, check=True,
                   capture_output=True, timeout=120)
    subprocess.run([sys.executable, "-m", "certkeeper", "wait", "-n", "bench", f"certificate/{name}", "--for",
                    "condition=Ready", "--timeout", "120s"], env=env, check=True, capture_output=True, timeout=180)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):8.2f} ms (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="Ready Certificates in the store")
    parser.add_argument("--scrapes", type=int, default=30, help="scrapes measured per kind")
    parser.add_argument("--changes", type=int, default=5, help="scrapes measured right after a renewal")
    parser.add_argument("--baseline-runs", type=int, default=3, help="renderings of the previous path")
    args = parser.parse_args()
    print(f"load average at start                  : {load()}")
    with tempfile.TemporaryDirectory(prefix="certkeeper-metrics-") as tmp:
        work = Path(tmp)
        store = SqliteStore(work / "store.db")
        t = time.monotonic()
        seed(store, args.count)
        print(f"store filled with {args.count} Ready Certificates in {time.monotonic() - t:.1f} s")
        from tests.daemons import free_port  # noqa: PLC0415 - the path is set above

        port = free_port()
        daemon = Daemon(work / "store.db", work / "daemon.log",
                        ["run", "--http01-address", "", "--metrics-listen-address", f"127.0.0.1:{port}"])
        try:
            daemon.wait_for_log("initial sync done", timeout=900)
            check_taken_as_they_are(store, args.count)
            print("daemon verified the store              : every Certificate Ready at revision 1, no request")
            wait_quiet(daemon)
            pid = daemon.proc.pid
            scraper = Scraper(port)
            rss0 = daemon.status("VmRSS")
            first = scrape_cpu(pid, scraper, PROMETHEUS, 1)[0]
            series = sum(1 for line in scraper.get(PLAIN).splitlines() if line.startswith(b"certmanager_"))
            prom = scrape_cpu(pid, scraper, PROMETHEUS, args.scrapes)
            plain = scrape_cpu(pid, scraper, PLAIN, args.scrapes)
            rss1 = daemon.status("VmRSS")
            changed = []
            for i in range(args.changes):
                renew(work / "store.db", f"leaf-{i}")
                wait_quiet(daemon)
                changed += scrape_cpu(pid, scraper, PROMETHEUS, 1)
            scraper.conn.close()
        finally:
            daemon.stop()
        print(f"series served                          : {series} certmanager_* series")
        print(f"daemon resident memory before / after  : {rss0 / 1024:.0f} MB / {rss1 / 1024:.0f} MB")

        # the baseline: the previous path over the same rows, in this process
        table = MetricsTable()
        table.start(store)
        old = CollectorRegistry(auto_describe=False)
        old.register(ResourceCollector(table))
        text = cpu_ms(lambda: generate_latest(old), args.baseline_runs)
        om = cpu_ms(lambda: gzip.compress(openmetrics_latest(old)), args.baseline_runs)
        table.stop()
        store.close()
    prom_med = statistics.median(prom)
    print(f"first scrape (renders the families)    : {first:8.2f} ms")
    print(f"scrape, Prometheus's headers (OM+gzip) : {med(prom)}")
    print(f"scrape, plain text                     : {med(plain)}")
    print(f"scrape right after a renewal           : {med(changed)}")
    print(f"baseline: previous path, OM + gzip     : {med(om)}")
    print(f"baseline: previous path, plain text    : {med(text)}")
    print(f"previous figure (before this change)   : {OLD_FIGURE_S * 1000:8.0f} ms")
    print(f"ratio previous path / now (Prometheus) : {statistics.median(om) / prom_med:.0f}x")
    verdict = "met" if prom_med < TARGET_MS and statistics.median(plain) < TARGET_MS else "NOT met"
    print(f"target < {TARGET_MS:.0f} ms per scrape              : {verdict}")
    print(f"load average at end                    : {load()}")


if __name__ == "__main__":
    main()
