"""Load on ``certkeeper webhook``: many concurrent AdmissionReviews, latency percentiles.

Starts the real webhook (``python -m certkeeper webhook``) as a separate process on
loopback with a serving certificate made here, then C client threads, each with its own
keep-alive HTTPS connection (as the API server holds them), send R reviews each, all
released at once. Half are Certificate creations to ``/validate``, half CertificateRequest
creations (with a real CSR) to ``/mutate``, which is what a cluster sends most.

    python bench/webhook_load.py --concurrency 200 --requests 20
    python bench/webhook_load.py --concurrency 200 --requests 1 --new-connections

Prints the count of failures (transport errors, non-200, wrong verdicts), throughput and
the p50/p90/p99/max latency in milliseconds. Bounded: the webhook is stopped on the way
out, also after an error.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import ipaddress
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pki(folder: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("app.example.com")]), critical=False)
           .sign(key, hashes.SHA256()))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def reviews() -> list[tuple[str, bytes]]:
    """(path, body) of the two kinds of review sent, alternately."""
    user = {"username": "system:serviceaccount:cert-manager:certkeeper", "uid": "u-1",
            "groups": ["system:serviceaccounts", "system:authenticated"]}
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com", "www.example.com"],
                     "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}, "privateKey": {"algorithm": "ECDSA"}}}
    cr = {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
          "metadata": {"name": "web-1", "namespace": "shop"},
          "spec": {"request": _csr(), "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}
    out = []
    for path, obj in (("/validate", cert), ("/mutate", cr)):
        group, _, version = obj["apiVersion"].rpartition("/")  # type: ignore[attr-defined]
        req = {"uid": secrets.token_hex(8), "kind": {"group": group, "version": version, "kind": obj["kind"]},
               "operation": "CREATE", "namespace": "shop", "name": obj["metadata"]["name"],  # type: ignore[index]
               "userInfo": user, "object": obj}
        out.append((path, json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                      "request": req}).encode()))
    return out


def run(concurrency: int, per_client: int, new_connections: bool, folder: Path) -> dict[str, float]:
    ca, cert, key = _pki(folder)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "CERTKEEPER_STORE")}
    proc = subprocess.Popen([sys.executable, "-m", "certkeeper", "webhook", "--listen-address", "127.0.0.1",
                             "--secure-port", str(port), "--tls-cert-file", str(cert),
                             "--tls-private-key-file", str(key)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving the admission webhook" in line:
                break
        else:
            raise RuntimeError("the webhook did not start")
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
        ctx = ssl.create_default_context(cafile=str(ca))
        bodies = reviews()
        latencies: list[float] = []
        firsts: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(concurrency + 1)

        def client(i: int) -> None:
            conn: http.client.HTTPSConnection | None = None
            mine: list[float] = []
            start.wait()
            for j in range(per_client):
                path, body = bodies[(i + j) % 2]
                t0 = time.perf_counter()
                try:
                    if conn is None or new_connections:
                        if conn is not None:
                            conn.close()
                        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
                    conn.request("POST", path, body, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    answer = json.loads(data)["response"]
                    ok = resp.status == 200 and answer["allowed"] is True
                    if path == "/mutate":
                        ok = ok and "patch" in answer
                    if not ok:
                        raise RuntimeError(f"{resp.status} {data[:200]!r}")
                except Exception as e:  # every failure is counted, none ends the run
                    with lock:
                        failures.append(f"{type(e).__name__}: {e}")
                    conn = None
                    continue
                mine.append(time.perf_counter() - t0)
            if conn is not None:
                conn.close()
            with lock:
                if mine and not new_connections and per_client > 1:
                    firsts.append(mine.pop(0))  # includes the TLS handshake: reported apart
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        alive = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies.sort()
    firsts.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    for f in failures[:5]:
        print("failure:", f)
    return {"requests": concurrency * per_client, "failures": len(failures), "alive": float(alive),
            "wall_s": wall, "per_s": len(latencies) / wall, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
            "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
            "first_p50_ms": firsts[len(firsts) // 2] * 1000 if firsts else float("nan"),
            "first_max_ms": firsts[-1] * 1000 if firsts else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--requests", type=int, default=20, help="reviews per client")
    ap.add_argument("--new-connections", action="store_true", help="a new TLS connection for every review")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="certkeeper-bench-") as d:
        r = run(args.concurrency, args.requests, args.new_connections, Path(d))
    print(f"requests {r['requests']:.0f}, failures {r['failures']:.0f}, webhook alive: {bool(r['alive'])}")
    print(f"wall {r['wall_s']:.2f} s, {r['per_s']:.0f} reviews/s")
    print(f"latency ms: p50 {r['p50_ms']:.1f}  p90 {r['p90_ms']:.1f}  p99 {r['p99_ms']:.1f}  max {r['max_ms']:.1f}")
    if r["first_p50_ms"] == r["first_p50_ms"]:  # not NaN
        print(f"first review of each connection (TLS handshake included), ms: p50 {r['first_p50_ms']:.1f}  "
              f"max {r['first_max_ms']:.1f} (not in the percentiles above)")
    return 0 if r["failures"] == 0 and r["alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
