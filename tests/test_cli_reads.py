"""``get`` and ``wait`` render the host store's JSON without building the models
(``cli/reads.py``); what they print must be, byte for byte, what the same verb prints when
it reads the models (the only way on a cluster, and the way before). Each command runs
twice on one store holding every kind ``get`` shows, in varied states: once on the store
itself, once through a store that offers only the model reads. The start-up test
(``tests/test_cli_startup.py``) checks that the first way imports no pydantic at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
import typing
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import BaseModel

from certkeeper.api import bytefield, registry
from certkeeper.api.constants import ANN_REVISION
from certkeeper.api.event import Event
from certkeeper.api.meta import OwnerReference
from certkeeper.cli.reads import RawReads
from certkeeper.runtime.clock import FakeClock
from certkeeper.store import SqliteStore, Store
from certkeeper.store.sqlite import kind_key, resource_name

from .test_cli_support import Cli, make_chain, tls_secret

CREATED = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30)
STAMP = CREATED.strftime("%Y-%m-%dT%H:%M:%SZ")
ISSUER_REF = {"name": "ca", "kind": "Issuer"}
PEM_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"


def _cond(ctype: str, status: str, message: str | None = None) -> dict[str, Any]:
    c = {"type": ctype, "status": status, "reason": ctype, "lastTransitionTime": STAMP}
    return c if message is None else {**c, "message": message}


def _obj(kind: str, name: str, namespace: str | None = "default", **body: Any) -> dict[str, Any]:
    k = registry.find(kind)
    assert k is not None
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if k.namespaced else {})}
    meta.update(body.pop("metadata", {}))
    return {"apiVersion": k.api_version, "kind": k.kind, "metadata": meta, **body}


OBJECTS = [
    _obj("Issuer", "ca", spec={"selfSigned": {}}, status={"conditions": [_cond("Ready", "True", "Signing CA verified")]}),
    _obj("Issuer", "quiet", "other", spec={"selfSigned": {}}),
    _obj("ClusterIssuer", "plain", spec={"selfSigned": {}}),
    _obj("ClusterIssuer", "broken", spec={"selfSigned": {}},
         status={"conditions": [_cond("Ready", "False", "line one\nline two")]}),
    _obj("Certificate", "ready", metadata={"labels": {"app": "web", "tier": "1"}},
         spec={"secretName": "ready-tls", "dnsNames": ["ready.test"], "issuerRef": ISSUER_REF},
         status={"conditions": [_cond("Ready", "True", "Certificate is up to date and has not expired")],
                 "notAfter": "2027-01-01T00:00:00Z", "renewalTime": "2026-12-01T00:00:00Z", "revision": 2}),
    _obj("Certificate", "failing", metadata={"labels": {"app": "api"}},
         spec={"secretName": "failing-tls", "dnsNames": ["failing.test"], "issuerRef": {"name": "broken", "kind": "ClusterIssuer"}},
         status={"conditions": [_cond("Ready", "False", "Issuing certificate as Secret does not exist"),
                                _cond("Issuing", "True")]}),
    _obj("Certificate", "new", spec={"secretName": "new-tls", "dnsNames": ["new.test"], "issuerRef": ISSUER_REF}),
    _obj("Certificate", "elsewhere", "other", metadata={"labels": {"app": "web"}},
         spec={"secretName": "e-tls", "commonName": "e.test", "issuerRef": ISSUER_REF},
         status={"conditions": [_cond("Ready", "True")]}),
    _obj("CertificateRequest", "ready-1", spec={"request": "", "issuerRef": ISSUER_REF, "username": "system:admin"},
         status={"conditions": [_cond("Approved", "True"), _cond("Ready", "True", "Certificate fetched from issuer")]}),
    _obj("CertificateRequest", "denied-1", spec={"request": "", "issuerRef": ISSUER_REF},
         status={"conditions": [_cond("Denied", "True", "no"), _cond("Ready", "False", "The CertificateRequest was denied")]}),
    _obj("CertificateRequest", "legacy-1", spec={"request": "", "issuerRef": ISSUER_REF}),
    _obj("Order", "ready-1-1", spec={"request": "", "issuerRef": {"name": "acme", "kind": "Issuer"},
                                     "dnsNames": ["ready.test"]},
         status={"state": "valid", "url": "https://acme.test/order/1"}),
    _obj("Order", "failing-1-2", spec={"request": "", "issuerRef": {"name": "acme", "kind": "Issuer"}},
         status={"state": "errored", "reason": "Failed to finalize"}),
    _obj("Order", "new-1-3", spec={"request": "", "issuerRef": {"name": "acme", "kind": "Issuer"}}),
    _obj("Challenge", "ready-1-1-4", spec={"dnsName": "ready.test", "type": "HTTP-01", "token": "t", "key": "k",
                                          "url": "https://acme.test/chall/1", "issuerRef": {"name": "acme"}},
         status={"state": "pending", "reason": "Waiting for HTTP-01 challenge propagation", "processing": True,
                 "presented": True}),
    _obj("Challenge", "new-1-3-5", spec={"dnsName": "*.new.test", "type": "DNS-01"}),
    _obj("Secret", "opaque", type="Opaque"),
]

SELECTOR_ERROR = "app in (web"

COMMANDS = [
    ["get", "certificates"], ["get", "certs", "-o", "wide"], ["get", "certs", "-o", "name"],
    ["get", "certs", "-A"], ["get", "certs", "-A", "-o", "wide"], ["get", "certs", "-n", "other"],
    ["get", "certs", "-l", "app=web"], ["get", "certs", "-l", "app!=web"], ["get", "certs", "-A", "-l", "app in (web,api),tier"],
    ["get", "certs", "-l", "!tier"], ["get", "certs", "-l", SELECTOR_ERROR], ["get", "certs", "-n", "empty"],
    ["get", "certs", "-A", "-l", "app=none"],
    ["get", "certificate", "ready"], ["get", "certificate", "ready", "nope"], ["get", "cert/ready", "cert/failing"],
    ["get", "cert", "ready", "-o", "wide"], ["get", "cert", "ready", "-o", "name"], ["get", "cert", "nope"],
    ["get", "cert", "ready", "-o", "yaml"], ["get", "cert", "ready", "-o", "json"], ["get", "certs", "-A", "-o", "json"],
    ["get", "certificaterequests"], ["get", "cr", "-o", "wide"], ["get", "cr", "legacy-1", "-o", "yaml"], ["get", "cr", "-o", "json"],
    ["get", "issuers"], ["get", "issuers", "-A", "-o", "wide"], ["get", "clusterissuers", "-o", "wide"],
    ["get", "clusterissuers", "-o", "name"], ["get", "clusterissuer", "broken", "-n", "other"], ["get", "ciss", "-A"],
    ["get", "orders"], ["get", "orders", "-o", "wide"], ["get", "challenges"], ["get", "challenges", "-o", "wide"],
    ["get", "secrets"], ["get", "secrets", "-o", "wide"], ["get", "secret", "ready-tls", "-o", "name"],
    ["get", "events"], ["get", "events", "-o", "wide"], ["get", "events", "-A"], ["get", "ev", "-n", "other"],
    ["get", "certs,issuers"], ["get", "certs,issuers", "-o", "name"], ["get", "certs,cr", "-o", "yaml"],
    ["get", "orders,challenges,secrets", "-A", "-o", "wide"], ["get", "ciss,issuers", "-n", "empty"],
    ["get", "namespaces"], ["get", "widgets"], ["get", "certs", "-o", "table"],
    ["wait", "--for=condition=Ready", "cert/ready"], ["wait", "--for=condition=Ready", "cert/failing", "--timeout", "0"],
    ["wait", "--for=condition=ready=false", "cert/failing"], ["wait", "--for=condition=Ready", "certs", "--all", "--timeout=0"],
    ["wait", "--for=condition=Ready", "certs", "-l", "app=web", "-A"], ["wait", "--for=condition=Ready", "cert", "-l", "app=none"],
    ["wait", "--for=delete", "cert/nope"], ["wait", "--for=condition=Ready", "cert/nope"],
    ["wait", "--for=condition=Approved", "cr", "--all", "--timeout", "0"], ["wait", "--for=condition=Denied", "cr/denied-1"],
    ["wait", "--for=condition=Ready", "clusterissuer/broken", "--timeout=0"], ["wait", "--for=condition=Ready", "ciss", "plain", "--timeout=0"],
    ["wait", "--for=condition=Ready", "issuer/ca", "issuer/quiet", "--timeout=0"], ["wait", "--for=nonsense", "cert/ready"],
    ["wait", "--for=condition=Ready", "cert", "-l", SELECTOR_ERROR],
    ["get", "certs", "-o", "yaml"], ["get", "issuers,ciss,secrets,challenges,events", "-A", "-o", "json"],
    ["get", "orders", "-o", "yaml"],
    ["describe", "cert", "ready"], ["describe", "certificates"], ["describe", "certs", "-A", "-l", "app=web"],
    ["describe", "cert", "ready", "nope"], ["describe", "cert", "nope"], ["describe", "certs", "-n", "empty"],
    ["describe", "cr", "legacy-1"], ["describe", "certificaterequests"], ["describe", "issuer", "ca"],
    ["describe", "issuers", "-A"], ["describe", "ciss"], ["describe", "clusterissuer", "broken"],
    ["describe", "secret", "ready-tls"], ["describe", "secrets"], ["describe", "orders"], ["describe", "challenges"],
    ["describe", "events", "-n", "other"], ["describe", "cert/ready", "cert/failing"],
    ["status", "certificate", "ready"], ["status", "certificate", "failing"], ["status", "certificate", "new"],
    ["status", "certificate", "elsewhere", "-n", "other"], ["status", "certificate", "nope"],
]


class ModelsOnly:
    """The store without ``list_raw``/``get_raw``: the command reads it through the models,
    as it reads a cluster."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("list_raw", "get_raw"):
            raise AttributeError(name)
        return getattr(self._store, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    path = tmp_path_factory.mktemp("reads") / "store.db"
    st = SqliteStore(path, clock=FakeClock(CREATED))
    for d in OBJECTS:
        cls = registry.by_kind(d["kind"])
        assert cls is not None
        status = d.pop("status", None)
        obj = st.create(cls.model_validate(d))
        if status is not None:
            st.update_status(obj.model_copy(update={"status": type(obj).model_fields["status"].annotation
                                                    .__args__[0].model_validate(status)}))  # type: ignore[union-attr]
    st.create(tls_secret("ready-tls", make_chain("ready.test")))
    # what status follows: a Certificate's requests, a request's Orders, an Order's Challenges
    for kind, name, owner_kind, owner, revision in [
        ("certificaterequest", "ready-1", "certificate", "ready", "2"),
        ("certificaterequest", "denied-1", "certificate", "failing", "1"),
        ("order", "ready-1-1", "certificaterequest", "ready-1", None),
        ("challenge", "ready-1-1-4", "order", "ready-1-1", None),
    ]:
        _own(st, kind, name, owner_kind, owner, revision)
    cert = st.get(registry.lookup("certificate"), "default", "ready")  # type: ignore[arg-type]
    events = [
        Event.model_validate({
            "metadata": {"name": f"ready.{i}", "namespace": ns},
            "involvedObject": {"kind": "Certificate", "name": "ready", "namespace": ns, "uid": cert.uid},
            "reason": reason, "message": message, "type": etype, "count": count,
            "firstTimestamp": STAMP, "lastTimestamp": STAMP, "source": {"component": "cert-manager-certificates-issuing"},
        })
        for i, (ns, reason, message, etype, count) in enumerate([
            ("default", "Issuing", "The certificate has been successfully issued", "Normal", 1),
            ("default", "Failed", "issuer broken:\nline two", "Warning", 3),
            ("other", "Requested", "Created new CertificateRequest resource", "Normal", 1),
        ])
    ]
    st.record_events(events)
    # a row written before []byte fields were base64: raw PEM in spec.request
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE objects SET data = json_set(data, '$.spec.request', ?) WHERE name = 'legacy-1'", (PEM_CSR,))
    return st


def _own(st: SqliteStore, kind: str, name: str, owner_kind: str, owner: str, revision: str | None) -> None:
    cls, owner_cls = registry.lookup(kind), registry.lookup(owner_kind)
    assert cls is not None and owner_cls is not None
    obj, by = st.get(cls, "default", name), st.get(owner_cls, "default", owner)
    obj.metadata.owner_references = [
        OwnerReference(api_version=owner_cls.API_VERSION, kind=owner_cls.KIND, name=owner, uid=by.uid, controller=True)
    ]
    if revision is not None:
        obj.metadata.annotations = {ANN_REVISION: revision}
    st.update(obj)


def test_the_two_ways_are_what_they_say(store: SqliteStore) -> None:
    assert isinstance(store, RawReads)
    assert not isinstance(ModelsOnly(store), RawReads)
    k = registry.find("cert")
    assert k is not None
    assert store.get_raw(k.key, "default", "ready") == store.get(k.load(), "default", "ready").to_dict()


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_output_is_the_model_paths(argv: list[str], store: SqliteStore, tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    raw = ck.on(store, *argv)
    models = ck.on(cast(Store, ModelsOnly(store)), *argv)
    assert (raw.exit_code, raw.stdout, raw.stderr) == (models.exit_code, models.stdout, models.stderr)
    assert raw.stdout or raw.stderr


def _has_byte_field(model: Any, seen: set[Any]) -> bool:
    """Whether a model or any model inside it has an ``api.bytefield.ByteField``."""
    if model in seen or not isinstance(model, type) or not issubclass(model, BaseModel):
        return False
    seen.add(model)
    for f in model.model_fields.values():
        found = [*f.metadata, *_types(f.annotation)]  # Annotated's metadata is among its args
        if any(getattr(m, "func", None) is bytefield._read or _has_byte_field(m, seen) for m in found):
            return True
    return False


def _types(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation, *(t for a in args for t in _types(a))]


def test_byte_field_kinds_are_the_models_own() -> None:
    """``describe`` and ``get -o json|yaml`` read the stored JSON of every kind that has
    no ``[]byte`` field; ``KindName.byte_fields`` must say which have one."""
    said = {k.kind for k in registry.NAMES if k.byte_fields}
    assert said == {k.kind for k in registry.NAMES if _has_byte_field(k.load(), set())}
    assert said == {"CertificateRequest", "Order"}


def test_registry_names_agree_with_the_store() -> None:
    """The raw reads find rows by ``KindName.key`` and name them by ``resource`` and
    ``qualified``; the store and the model commands derive the same from the classes."""
    from certkeeper.cli.state import qualified

    for k in registry.NAMES:
        cls = k.load()
        assert (k.key, k.resource, k.qualified, k.namespaced) == (kind_key(cls), resource_name(cls), qualified(cls),
                                                                   cls.NAMESPACED)
