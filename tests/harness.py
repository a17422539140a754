"""A daemon run step by step: the real store on disk, the real controllers, a fake clock.

``settle()`` processes every key that is ready now; ``advance()`` moves the clock, which
fires the queues' timers (renewal, back-off). Nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypeVar

import yaml

from certkeeper.api import registry
from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret
from certkeeper.api.meta import Resource, get_condition
from certkeeper.daemon import DaemonOptions, build_manager
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import decode_private_key, public_keys_equal
from certkeeper.runtime.clock import FakeClock
from certkeeper.runtime.manager import Manager
from certkeeper.store.sqlite import SqliteStore

R = TypeVar("R", bound=Resource)

START = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


#: the Store backends every behavioural test runs on
BACKENDS = ["sqlite", "kube"]


class Harness:
    """``cluster``: run on the Kubernetes backend against that real control plane, in its
    ``default`` namespace, emptied first (``wipe=False`` keeps what a previous harness
    left: a restart). Otherwise on an SQLite store in ``tmp``."""

    def __init__(self, tmp: Path, cluster: Any = None, wipe: bool = True, **opts: Any) -> None:
        self.clock = FakeClock(START)
        self.store: Any
        self.cluster = cluster
        self.on_kube = cluster is not None
        if cluster is not None:
            from certkeeper.store.kube import open_kube_store

            from .kubecluster import wipe_namespaces

            if wipe:
                wipe_namespaces(cluster)
            # a cluster may name one namespace: the store is then limited to it (``run -n``)
            self.store = open_kube_store(
                str(cluster.kubeconfig), cached=True, clock=self.clock, qps=0,
                namespace=getattr(cluster, "namespace", None),
            )
        else:
            self.store = SqliteStore(tmp / "store.db", clock=self.clock)
        self.opts = DaemonOptions(**opts)
        self.manager: Manager = build_manager(self.store, self.opts, self.clock)
        self.manager.start()

    # -- driving -----------------------------------------------------------------
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

    def settle(self, batched: bool = False) -> int:
        """Process until nothing is left to do now. On the Kubernetes backend the
        controllers' writes come back through the watches asynchronously: wait for them
        (``flush``) and go on until a round leaves nothing queued. ``batched``: the main
        pool's ready keys share store transactions, as in the daemon."""
        flush = getattr(self.store, "flush", None)
        steps = self.manager.settle(batched=batched)
        if flush is None:
            return steps
        from .kubecluster import has_orphans, wait_collected

        while True:
            flush()
            if self.manager.idle():
                if not has_orphans(self.store):
                    return steps
                # objects whose every owner is gone: kube-controller-manager's garbage
                # collector deletes them (the SQLite store does it in the deleting write)
                if not wait_collected(self.store):
                    raise RuntimeError("the garbage collector left objects whose owners are gone")
                flush()
            steps += self.manager.settle()

    def advance(self, delta: dt.timedelta) -> None:
        self.clock.advance(delta)
        self.settle()

    def close(self) -> None:
        self.manager.stop()
        self.store.close()

    # -- reading -----------------------------------------------------------------
    def get(self, cls: type[R], name: str, namespace: str | None = "default") -> R:
        return self.store.get(cls, namespace if cls.NAMESPACED else None, name)

    def cert(self, name: str, namespace: str = "default") -> Certificate:
        return self.get(Certificate, name, namespace)

    def condition(self, obj: Resource, ctype: str) -> tuple[str, str, str] | None:
        status = getattr(obj, "status", None)
        cond = get_condition(status.conditions if status else None, ctype)
        if cond is None:
            return None
        return cond.status, cond.reason or "", cond.message or ""

    def ready(self, name: str, namespace: str = "default") -> tuple[str, str, str] | None:
        return self.condition(self.cert(name, namespace), "Ready")

    def requests(self, cert_name: str, namespace: str = "default") -> list[CertificateRequest]:
        cert = self.cert(cert_name, namespace)
        return sorted(
            (cr for cr in self.store.list(CertificateRequest, namespace) if cr.is_controlled_by(cert)),
            key=lambda cr: cr.name,
        )

    def leaf(self, secret_name: str, namespace: str = "default") -> Any:
        secret = self.get(Secret, secret_name, namespace)
        return parse_certificates(secret.get(TLS_CERT) or b"")[0]

    def assert_pair_matches(self, secret_name: str, namespace: str = "default") -> None:
        secret = self.get(Secret, secret_name, namespace)
        key = decode_private_key(secret.get(TLS_KEY) or b"")
        leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0]
        assert public_keys_equal(leaf.public_key(), key), f"{secret_name}: tls.key does not match tls.crt"


CA_SETUP = """
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: root-ca}
spec:
  isCA: true
  commonName: Test Root CA
  secretName: root-ca
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: root-ca}}
"""


def leaf_certificate(name: str, secret: str | None = None, **spec: Any) -> str:
    body: dict[str, Any] = {
        "secretName": secret or name,
        "dnsNames": [f"{name}.example.test"],
        "issuerRef": {"name": "ca"},
        "privateKey": {"algorithm": "ECDSA"},
    }
    body.update(spec)
    body = {k: v for k, v in body.items() if v is not None}
    return yaml.safe_dump(
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name}, "spec": body}
    )
