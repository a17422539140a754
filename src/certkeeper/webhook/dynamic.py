"""The webhook's own serving certificate, as cert-manager's webhook makes it by default.

A chicken-and-egg problem: the webhook cannot wait for certkeeper to issue its
certificate, because the API server refuses every cert-manager object while the webhook
is unreachable. So the webhook keeps a small CA in a Secret of its own
(``--dynamic-serving-ca-secret-name`` in ``--dynamic-serving-ca-secret-namespace``),
creates it if missing, and signs its serving leaf in memory for
``--dynamic-serving-dns-names``. The cainjector copies the Secret's ``ca.crt`` into the
webhook configurations (``cert-manager.io/inject-ca-from-secret``; the Secret carries
``cert-manager.io/allow-direct-injection``).

The leaf is signed again when two thirds of its life have passed, when the CA in the
Secret changes (another replica, or a person rotating it by deleting the Secret) and when
the CA itself nears its end; the next connection gets the new leaf, nothing restarts.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..store.base import AlreadyExists, Conflict, NotFound, StoreError
from .tls import server_context

log = logging.getLogger("certkeeper.webhook")

ALLOW_DIRECT_INJECTION = "cert-manager.io/allow-direct-injection"
CA_COMMON_NAME = "cert-manager-webhook-ca"
RENEW_FRACTION = 2 / 3


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    pem: bytes

    @classmethod
    def load(cls, data: dict[str, str]) -> Authority | None:
        try:
            pem = base64.b64decode(data["tls.crt"])
            key = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), None)
            cert = x509.load_pem_x509_certificate(pem)
        except (KeyError, ValueError, TypeError):
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return None
        return cls(cert, key, pem)


def _due(cert: x509.Certificate, now: dt.datetime) -> bool:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return now >= start + (end - start) * RENEW_FRACTION


def new_authority(now: dt.datetime, duration: dt.timedelta) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + duration)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key, cert.public_bytes(serialization.Encoding.PEM))


def sign_leaf(ca: Authority, dns_names: list[str], now: dt.datetime, duration: dt.timedelta) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for a TLS server with these names (IP literals too)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in dns_names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    end = min(now + duration, ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class DynamicServing:
    """A CertificateSource backed by the CA Secret; ``run`` keeps it current until ``stop``."""

    def __init__(
        self,
        client: Any,
        namespace: str,
        secret_name: str,
        dns_names: list[str],
        leaf_duration: dt.timedelta = dt.timedelta(days=7),
        ca_duration: dt.timedelta = dt.timedelta(days=365),
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if not dns_names:
            raise ValueError("--dynamic-serving-dns-names is needed with a dynamic serving CA")
        self.client = client
        self.path = f"/api/v1/namespaces/{namespace}/secrets"
        self.secret_name = secret_name
        self.dns_names = dns_names
        self.leaf_duration = leaf_duration
        self.ca_duration = ca_duration
        self._now = now
        self._lock = threading.Lock()
        self._ca: Authority | None = None
        self._leaf: x509.Certificate | None = None
        self._ctx: ssl.SSLContext | None = None
        self.signed = 0

    # -- the CA Secret -----------------------------------------------------------------
    def _read(self) -> tuple[Authority | None, dict[str, Any] | None]:
        try:
            secret = self.client.json("GET", f"{self.path}/{self.secret_name}")
        except NotFound:
            return None, None
        return Authority.load(secret.get("data") or {}), secret

    def _write(self, ca: Authority, existing: dict[str, Any] | None) -> None:
        key_pem = ca.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        data = {k: base64.b64encode(v).decode() for k, v in
                (("tls.crt", ca.pem), ("tls.key", key_pem), ("ca.crt", ca.pem))}
        meta: dict[str, Any] = {"name": self.secret_name, "annotations": {ALLOW_DIRECT_INJECTION: "true"}}
        body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta, "data": data}
        if existing is None:
            self.client.json("POST", self.path, body)
        else:
            meta["resourceVersion"] = existing["metadata"]["resourceVersion"]
            meta["annotations"] = {**(existing["metadata"].get("annotations") or {}), **meta["annotations"]}
            self.client.json("PUT", f"{self.path}/{self.secret_name}", body)

    def ensure_authority(self) -> Authority:
        """The CA in the Secret, made (or replaced when unusable or due) if needed; several
        replicas race on create or update and all end with the winner's."""
        for _ in range(5):
            ca, secret = self._read()
            if ca is not None and not _due(ca.cert, self._now()):
                return ca
            fresh = new_authority(self._now(), self.ca_duration)
            try:
                self._write(fresh, secret)
                log.info("wrote a new serving CA to Secret %s/%s", self.path.split("/")[4], self.secret_name)
                return fresh
            except (AlreadyExists, Conflict):
                continue  # another replica wrote one: use it
        raise StoreError(f"cannot settle the serving CA Secret {self.secret_name}")

    # -- the leaf ----------------------------------------------------------------------
    def refresh(self) -> bool:
        """Bring the CA and the leaf up to date; True when a new leaf was signed."""
        ca = self.ensure_authority()
        with self._lock:
            if self._leaf is not None and self._ca is not None and self._ca.pem == ca.pem \
                    and not _due(self._leaf, self._now()):
                return False
            cert_pem, key_pem = sign_leaf(ca, self.dns_names, self._now(), self.leaf_duration)
            self._ctx = server_context(cert_pem, key_pem)
            self._leaf = x509.load_pem_x509_certificate(cert_pem)
            self._ca = ca
            self.signed += 1
        log.info("signed a serving certificate for %s, valid until %s", ",".join(self.dns_names),
                 self._leaf.not_valid_after_utc.isoformat())
        return True

    def context(self) -> ssl.SSLContext:
        with self._lock:
            ctx = self._ctx
        if ctx is None:
            self.refresh()
            with self._lock:
                ctx = self._ctx
        assert ctx is not None
        return ctx

    def run(self, stop: threading.Event, period: float = 60.0) -> None:
        """Watch the Secret (a change re-signs at once); re-check every ``period`` seconds
        for the leaf's and the CA's renewal time."""
        while not stop.is_set():
            try:
                self.refresh()
                self._watch(stop, period)
            except StoreError as e:
                log.warning("keeping the serving certificate current failed: %s; retrying", e)
                stop.wait(period)

    def _watch(self, stop: threading.Event, period: float) -> None:
        params = {"fieldSelector": f"metadata.name={self.secret_name}"}
        deadline = time.monotonic() + period
        for _line in self.client.watch_lines(self.path, params, timeout=max(1.0, period)):
            if stop.is_set():
                return
            self.refresh()
            if time.monotonic() > deadline:
                return
