"""Shared pieces of the ACME daemon tests (no tests here): the daemon's controllers run
for real, on real time, against real Pebble and BIND.

:class:`LiveDaemon` is the real-time sibling of tests/harness.py: the store on disk, every
controller ``certkeeper run`` starts, worker threads, and waits that block on the store's
watch (no sleeps) until a condition holds or a timeout says what was last seen.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import itertools
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from certkeeper.api import registry
from certkeeper.api.acme import Challenge, Order
from certkeeper.api.certificate import CertificateRequest
from certkeeper.api.core import Secret
from certkeeper.api.meta import Resource, get_condition
from certkeeper.controllers.acme import stop_services
from certkeeper.daemon import DaemonOptions, build_manager
from certkeeper.store.base import Conflict, WatchEvent
from certkeeper.store.sqlite import SqliteStore
from tests.peers import BindServer, PebbleServer

R = TypeVar("R", bound=Resource)
T = TypeVar("T")

_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{time.monotonic_ns() % 10**6}"


class LiveDaemon:
    """The controllers on worker threads, on an SQLite store in ``tmp`` or, with
    ``cluster``, on that real Kubernetes control plane (shared namespaces emptied first)."""

    def __init__(self, tmp: Path, cluster: Any = None, **opts: Any) -> None:
        self.cluster = cluster
        self.store: Any
        if cluster is not None:
            from certkeeper.store.kube import open_kube_store

            from .kubecluster import wipe_namespaces

            wipe_namespaces(cluster)
            self.store = open_kube_store(str(cluster.kubeconfig), cached=True, qps=0)
        else:
            self.store = SqliteStore(tmp / "store.db")
        self.opts = DaemonOptions(**opts)
        self._cond = threading.Condition()
        self._version = 0
        self.events: list[WatchEvent] = []
        self._unwatch = self.store.watch(self._on_event)
        self.manager = build_manager(self.store, self.opts)
        self.manager.start()
        self.manager.run_workers()

    def _on_event(self, event: WatchEvent) -> None:
        with self._cond:
            self._version += 1
            self.events.append(event)
            self._cond.notify_all()

    def close(self) -> None:
        self.manager.stop()
        stop_services(self.manager.ctx)
        self._unwatch()
        self.store.close()

    # -- driving ----------------------------------------------------------------
    def apply(self, text: str, namespace: str = "default") -> list[Resource]:
        out = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            cls = registry.by_kind(doc["kind"])
            assert cls is not None, doc["kind"]
            obj = cls.from_dict(doc)
            if obj.NAMESPACED and not obj.metadata.namespace:
                obj.metadata.namespace = namespace
            if self.cluster is not None and obj.NAMESPACED:
                from .kubecluster import ensure_namespace

                ensure_namespace(self.cluster, obj.metadata.namespace or namespace)
            if isinstance(obj, Secret):
                obj.fold_string_data()
            out.append(self.store.create(obj))
        return out

    def wait_for(self, check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
        """Re-evaluate ``check`` after every store change until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._version
            result = check()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
            with self._cond:
                self._cond.wait_for(partial(self._changed_since, seen), timeout=min(remaining, 0.5))

    def _changed_since(self, seen: int) -> bool:
        return self._version != seen

    def edit(self, cls: type[R], name: str, change: Callable[[R], None], namespace: str | None = "default") -> R:
        """Change an object as a person would beside the running daemon: read it, change it,
        write it, and on a Conflict (the daemon wrote in between) read it again and redo the
        change, as kubectl's edit and patch do."""
        deadline = time.monotonic() + 30
        while True:
            obj = self.get(cls, name, namespace)
            assert obj is not None, f"{cls.KIND} {name} is not there"
            change(obj)
            try:
                return self.store.update(obj)
            except Conflict:
                if time.monotonic() > deadline:
                    raise

    # -- reading ----------------------------------------------------------------
    def get(self, cls: type[R], name: str, namespace: str | None = "default") -> R | None:
        return self.store.try_get(cls, namespace if cls.NAMESPACED else None, name)

    def condition(self, obj: Resource | None, ctype: str = "Ready") -> tuple[str, str, str] | None:
        status = getattr(obj, "status", None) if obj is not None else None
        cond = get_condition(status.conditions if status else None, ctype)
        if cond is None:
            return None
        return cond.status, cond.reason or "", cond.message or ""

    def wait_ready(self, kind: type[Resource], name: str, namespace: str | None = "default",
                   timeout: float = 30.0) -> tuple[str, str, str]:
        def check() -> tuple[str, str, str] | None:
            cond = self.condition(self.get(kind, name, namespace))
            return cond if cond is not None and cond[0] == "True" else None

        try:
            return self.wait_for(check, timeout, f"{kind.KIND} {name} Ready")
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {self.describe(kind, name, namespace)}") from None

    def describe(self, kind: type[Resource], name: str, namespace: str | None = "default") -> str:
        obj = self.get(kind, name, namespace)
        lines = [f"{kind.KIND} {name}: {obj.to_dict().get('status') if obj else None}"]
        ns = namespace if kind.NAMESPACED else None
        for cls in (CertificateRequest, Order, Challenge):
            for o in self.store.list(cls, ns):
                lines.append(f"  {cls.KIND} {o.name}: {o.to_dict().get('status')}")
        return "\n".join(lines)

    def orders(self, namespace: str = "default") -> list[Order]:
        return self.store.list(Order, namespace)

    def chain(self, secret_name: str, namespace: str = "default") -> list[x509.Certificate]:
        secret = self.get(Secret, secret_name, namespace)
        assert secret is not None
        return x509.load_pem_x509_certificates(secret.get("tls.crt") or b"")


# --------------------------------------------------------------------------- manifests


def acme_issuer(
    name: str,
    pebble: PebbleServer,
    solvers: list[dict[str, Any]],
    *,
    kind: str = "Issuer",
    email: str | None = "ops@example.test",
    key_secret: str | None = None,
    **extra: Any,
) -> str:
    spec: dict[str, Any] = {
        "server": pebble.directory_url,
        # a []byte field: base64, as the API server requires and every manifest writes it
        "caBundle": base64.b64encode(pebble.ca_bundle).decode(),
        "privateKeySecretRef": {"name": key_secret or f"{name}-account"},
        "solvers": solvers,
        **extra,
    }
    if email:
        spec["email"] = email
    return yaml.safe_dump(
        {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": {"name": name}, "spec": {"acme": spec}}
    )


HTTP01_SOLVER: dict[str, Any] = {"http01": {"ingress": {}}}


def rfc2136_solver(bind: BindServer, secret: str = "tsig", protocol: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "nameserver": bind.address,
        "tsigKeyName": bind.tsig.name,
        "tsigAlgorithm": "HMACSHA256",
        "tsigSecretSecretRef": {"name": secret, "key": "secret"},
    }
    if protocol:
        block["protocol"] = protocol
    return {"dns01": {"rfc2136": block}}


def tsig_secret(bind: BindServer, name: str = "tsig", namespace: str | None = None) -> str:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"secret": bind.tsig.secret}}
    )


def certificate(name: str, dns_names: list[str], issuer: str, *, kind: str = "Issuer", **spec: Any) -> str:
    body: dict[str, Any] = {
        "secretName": name,
        "issuerRef": {"name": issuer, "kind": kind},
        "privateKey": {"algorithm": "ECDSA"},
        **spec,
    }
    if dns_names:
        body["dnsNames"] = dns_names
    return yaml.safe_dump(
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name}, "spec": body}
    )


# --------------------------------------------------------------------------- checks


def sans(cert: x509.Certificate) -> list[str]:
    return sorted(
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    )


def assert_chains_to(chain: list[x509.Certificate], root_pem: bytes) -> None:
    """Each certificate is signed by the next, the last by ``root_pem``."""
    root = x509.load_pem_x509_certificate(root_pem)
    for child, parent in zip(chain, [*chain[1:], root], strict=True):
        assert child.issuer == parent.subject
        child.verify_directly_issued_by(parent)


def root_common_name(root_pem: bytes) -> str:
    root = x509.load_pem_x509_certificate(root_pem)
    return str(root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
