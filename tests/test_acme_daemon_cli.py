"""ACME through the ``certkeeper`` command, as a user runs it: manifests applied with
``certkeeper apply -f``, the daemon as a ``certkeeper run`` process answering HTTP-01 on
Pebble's validation port and DNS-01 through BIND, and ``certkeeper wait`` until Ready."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from certkeeper.api.issuer import Issuer
from certkeeper.store.sqlite import SqliteStore
from tests.daemons import NO_PORTS
from tests.peers import BindServer, PebbleServer
from tests.test_acme_daemon_support import assert_chains_to, sans, unique

pytest_plugins = ["tests.peers"]
pytestmark = pytest.mark.peers


def command() -> list[str]:
    exe = shutil.which("certkeeper")
    return [exe] if exe else [sys.executable, "-m", "certkeeper"]


def cli(store: Path, *args: str, stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), "--store", str(store), *args], input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "CERTKEEPER_STORE": str(store)},
    )


@contextmanager
def run_daemon(store: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``certkeeper run`` until it says it started its controllers (read from its log pipe)."""
    proc = subprocess.Popen(
        [*command(), "--store", str(store), "run", *NO_PORTS, *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "starting controllers" in line:
                break
        else:
            pytest.fail(f"certkeeper run exited early ({proc.wait()}): {''.join(seen)}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def manifests(pebble: PebbleServer, bind: BindServer, http_name: str, dns_name: str) -> str:
    bundle = base64.b64encode(pebble.ca_bundle).decode()
    docs = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tsig"},
         "stringData": {"secret": bind.tsig.secret}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "pebble"},
         "spec": {"acme": {
             "server": pebble.directory_url, "caBundle": bundle, "email": "cli@example.test",
             "privateKeySecretRef": {"name": "pebble-account"},
             "solvers": [
                 {"http01": {"ingress": {}}},
                 {"selector": {"dnsNames": [dns_name]},
                  "dns01": {"rfc2136": {"nameserver": bind.address, "tsigKeyName": bind.tsig.name,
                                        "tsigAlgorithm": "HMACSHA256",
                                        "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}},
             ],
         }}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web"},
         "spec": {"secretName": "web-tls", "dnsNames": [http_name], "issuerRef": {"name": "pebble"},
                  "privateKey": {"algorithm": "ECDSA"}}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "dns"},
         "spec": {"secretName": "dns-tls", "dnsNames": [dns_name], "issuerRef": {"name": "pebble"},
                  "privateKey": {"algorithm": "ECDSA"}}},
    ]
    return yaml.safe_dump_all(docs)


def test_apply_run_wait(tmp_path: Path, pebble: PebbleServer, bind: BindServer) -> None:
    store = tmp_path / "store.db"
    http_name = f"{unique('cli-http')}.example.test"
    dns_name = f"{unique('cli-dns')}.example.test"
    manifest = tmp_path / "acme.yaml"
    manifest.write_text(manifests(pebble, bind, http_name, dns_name))
    applied = cli(store, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    secrets_dir = tmp_path / "files"
    with run_daemon(
        store,
        "--http01-address", f"127.0.0.1:{pebble.http_port}",
        "--acme-http01-solver-nameservers", bind.address,
        "--dns01-recursive-nameservers", bind.address,
        "--secrets-dir", str(secrets_dir),
    ):
        waited = cli(store, "wait", "certificate/web", "certificate/dns", "--for", "condition=Ready",
                     "--timeout", "60s")
        assert waited.returncode == 0, waited.stderr + waited.stdout
    # the ACME account key and the TSIG secret stay in the store: only Certificates' Secrets are files
    assert sorted(p.name for p in (secrets_dir / "default").iterdir() if not p.name.startswith("..")) == [
        "dns-tls", "web-tls"]
    for cert_name, secret_name, dns in (("web", "web-tls", http_name), ("dns", "dns-tls", dns_name)):
        folder = secrets_dir / "default" / secret_name
        chain = x509.load_pem_x509_certificates((folder / "tls.crt").read_bytes())
        assert sans(chain[0]) == [dns], cert_name
        assert_chains_to(chain, pebble.root_pem(0))
        assert not (folder / "ca.crt").exists()  # ACME Secrets carry no ca.crt
    db = SqliteStore(store)
    try:
        issuer = db.get(Issuer, "default", "pebble")
        assert issuer.status is not None and issuer.status.acme is not None
        assert issuer.status.acme.last_registered_email == "cli@example.test"
    finally:
        db.close()
