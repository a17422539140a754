"""Shared pieces of the CLI tests: a store in a temporary folder, the command run through
click's CliRunner, and a real certificate chain made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certkeeper.api.core import Secret
from certkeeper.cli.main import cli
from certkeeper.cli.state import CliState
from certkeeper.store import SqliteStore, Store

ISSUER_AND_CERT = """\
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: foo
  labels: {app: web}
spec:
  secretName: foo-tls
  dnsNames: [example.com]
  issuerRef: {name: selfsigned}
"""


class Cli:
    """The ``certkeeper`` command on one store file."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "store.db"
        self.url = f"sqlite://{self.path}"
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input, env={"CERTKEEPER_STORE": self.url})

    def on(self, store: Store, *args: str) -> Result:
        """Run against an already open store (a test harness's), which stays open."""
        return self.runner.invoke(cli, list(args), obj=CliState(_store=store))

    def store(self) -> SqliteStore:
        return SqliteStore(self.path)


def certkeeper_command() -> list[str]:
    """The installed console script if on PATH, else the same entry point via -m."""
    exe = shutil.which("certkeeper")
    return [exe] if exe else [sys.executable, "-m", "certkeeper"]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Chain:
    leaf_pem: bytes
    ca_pem: bytes
    key_pem: bytes
    leaf: x509.Certificate
    ca: x509.Certificate


def make_chain(dns_name: str = "www.example.com") -> Chain:
    """A P-256 leaf signed by an RSA CA, both valid now."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Root CA"))
        .issuer_name(_name("Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Chain(
        leaf_pem=leaf.public_bytes(serialization.Encoding.PEM),
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        leaf=leaf,
        ca=ca,
    )


def tls_secret(name: str, chain: Chain, namespace: str = "default") -> Secret:
    secret = Secret.new(name, namespace, type="kubernetes.io/tls")
    secret.set("tls.crt", chain.leaf_pem + chain.ca_pem)
    secret.set("tls.key", chain.key_pem)
    secret.set("ca.crt", chain.ca_pem)
    return secret
