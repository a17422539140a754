"""``[]byte`` fields (CertificateRequest ``spec.request``, ``status.certificate``,
``status.ca``; Order ``spec.request``, ``status.certificate``) have Kubernetes' wire form:
base64 of the PEM in manifests, in ``get -o json|yaml`` and in the models' JSON, which a
Kubernetes backend sends to the API server as it is. Stores written when these fields
held raw PEM are still read."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.api.acme import Order
from certkeeper.api.certificate import CertificateRequest
from certkeeper.api.core import Secret
from certkeeper.api.loader import load_documents
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import public_keys_equal

from .harness import BACKENDS, CA_SETUP, Harness
from .test_cli_support import Cli

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture(params=BACKENDS)
def h(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """On SQLite and on a real API server, whose CRD declares these fields ``format: byte``
    and refuses anything but base64."""
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    harness = Harness(tmp_path, cluster)
    yield harness
    harness.close()


def _csr(cn: str = "app.example.com") -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


def _request_manifest(request_text: str) -> str:
    """A CertificateRequest the way cert-manager's documentation writes one."""
    return f"""\
apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata:
  name: my-cr
spec:
  request: {request_text}
  isCA: false
  usages: [signing, digital signature, server auth]
  duration: 90h
  issuerRef:
    name: ca
    kind: Issuer
    group: cert-manager.io
"""


def test_request_written_as_base64_is_signed_and_printed_as_base64(h: Harness, tmp_path: Path) -> None:
    h.apply(CA_SETUP)
    h.settle()
    pem, key = _csr()
    b64 = base64.b64encode(pem).decode()
    manifest = tmp_path / "cr.yaml"
    manifest.write_text(_request_manifest(b64))
    ck = Cli(tmp_path)
    r = ck.on(h.store, "apply", "-f", str(manifest))
    assert r.exit_code == 0, r.output
    h.settle()

    r = ck.on(h.store, "get", "certificaterequest", "my-cr", "-o", "json")
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    assert printed["spec"]["request"] == b64
    ready = [c for c in printed["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", printed["status"]
    chain = parse_certificates(base64.b64decode(printed["status"]["certificate"], validate=True))
    assert public_keys_equal(chain[0].public_key(), key.public_key())
    assert chain[0].subject.rfc4514_string() == "CN=app.example.com"
    root = h.get(Secret, "root-ca").get("tls.crt")
    assert base64.b64decode(printed["status"]["ca"], validate=True) == root
    assert chain[0].issuer == parse_certificates(root or b"")[0].subject

    r = ck.on(h.store, "get", "cr", "my-cr", "-o", "yaml")
    as_yaml = yaml.safe_load(r.stdout)
    assert as_yaml["spec"]["request"] == b64
    assert as_yaml["status"]["certificate"] == printed["status"]["certificate"]

    # in the process the fields are the PEM itself
    cr = h.get(CertificateRequest, "my-cr")
    assert cr.spec.request == pem
    assert cr.status is not None and cr.status.certificate is not None
    assert cr.status.certificate.startswith(b"-----BEGIN CERTIFICATE-----")


def test_request_made_by_the_daemon_is_base64_in_json(h: Harness, tmp_path: Path) -> None:
    """What the store (and a Kubernetes backend) serialises is what the API server stores."""
    h.apply(CA_SETUP)
    h.settle()
    cr = h.requests("root-ca")[0]
    wire = cr.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert wire == cr.to_dict() | {"apiVersion": wire["apiVersion"], "kind": wire["kind"]}
    csr = x509.load_pem_x509_csr(base64.b64decode(wire["spec"]["request"], validate=True))
    assert csr.subject.rfc4514_string() == "CN=Test Root CA"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(wire["status"]["certificate"], validate=True))
    assert leaf.subject.rfc4514_string() == "CN=Test Root CA"
    # a round trip through the JSON gives the same object
    assert CertificateRequest.model_validate_json(json.dumps(wire)) == cr
    if h.on_kube:
        return  # the API server accepted and returned it; the rest looks at the SQLite row
    # the row on disk holds the same text, nothing PEM-shaped
    with sqlite3.connect(tmp_path / "store.db") as db:
        (data,) = db.execute(
            "SELECT data FROM objects WHERE name = ? AND data LIKE '%CertificateRequest%'", (cr.name,)
        ).fetchone()
    assert "-----BEGIN" not in data
    assert json.loads(data)["spec"]["request"] == wire["spec"]["request"]


def test_raw_pem_in_a_manifest_is_refused_as_the_api_server_does() -> None:
    pem, _ = _csr()
    text = _request_manifest("|\n" + "".join("    " + line + "\n" for line in pem.decode().splitlines()))
    result = load_documents(text, "cr.yaml")
    assert result.objects == []
    assert len(result.errors) == 1
    shown = json.dumps(pem.decode())
    assert result.errors[0] == (
        f'cr.yaml (document 1): CertificateRequest "default/my-cr" is invalid: spec.request: Invalid value: '
        f"{shown}: spec.request in body must be of type byte: {shown}"
    )


def test_not_base64_and_wrong_type_are_schema_errors() -> None:
    result = load_documents(_request_manifest('"not base64!"'), "cr.yaml")
    assert [e.split(" is invalid: ")[1] for e in result.errors] == [
        'spec.request: Invalid value: "not base64!": spec.request in body must be of type byte: "not base64!"'
    ]
    result = load_documents(_request_manifest("12"), "cr.yaml")
    assert [e.split(" is invalid: ")[1] for e in result.errors] == [
        'spec.request: Invalid value: "integer": spec.request in body must be of type string: "integer"'
    ]


def test_order_fields_are_base64_on_the_wire() -> None:
    pem, _ = _csr()
    order = Order.new("o", "default")
    order.spec.request = pem
    d = order.to_dict()
    assert base64.b64decode(d["spec"]["request"], validate=True) == pem
    assert Order.model_validate(d).spec.request == pem


def _legacy_rows(db_path: Path, kind: str, fields: list[tuple[str, str]]) -> None:
    """Rewrite rows the way the previous version stored them: raw PEM in the byte fields."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT rowid, data FROM objects WHERE kind LIKE ?", (f"%{kind}%",)).fetchall()
        assert rows
        for rowid, data in rows:
            d = json.loads(data)
            for part, name in fields:
                if name in (d.get(part) or {}):
                    d[part][name] = base64.b64decode(d[part][name]).decode()
            db.execute("UPDATE objects SET data = ? WHERE rowid = ?", (json.dumps(d), rowid))


def test_a_store_written_with_raw_pem_still_reads(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.apply(CA_SETUP)
    h.settle()
    cr_name = h.requests("root-ca")[0].name
    before = h.get(CertificateRequest, cr_name)
    h.close()
    fields = [("spec", "request"), ("status", "certificate"), ("status", "ca")]
    _legacy_rows(tmp_path / "store.db", "CertificateRequest", fields)
    with sqlite3.connect(tmp_path / "store.db") as db:
        (data,) = db.execute("SELECT data FROM objects WHERE name = ? AND data LIKE '%\"request\"%'",
                             (cr_name,)).fetchone()
    assert json.loads(data)["spec"]["request"].startswith("-----BEGIN CERTIFICATE REQUEST-----")

    ck = Cli(tmp_path)
    r = ck("get", "cr", cr_name, "-o", "json")
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    assert printed["spec"]["request"] == base64.b64encode(before.spec.request or b"").decode()
    assert before.status is not None
    assert printed["status"]["certificate"] == base64.b64encode(before.status.certificate or b"").decode()

    # the controllers keep working on it: the Certificate stays Ready, no new request
    h = Harness(tmp_path)
    try:
        h.settle()
        after = h.get(CertificateRequest, cr_name)
        assert after.spec.request == before.spec.request
        assert after.status is not None and after.status.certificate == before.status.certificate
        assert h.ready("root-ca") is not None and h.ready("root-ca")[0] == "True"  # type: ignore[index]
        assert [cr.name for cr in h.requests("root-ca")] == [cr_name]
        # a status write stores the base64 form
        after.status.failure_time = "2026-03-01T12:00:00Z"
        h.store.update_status(after)
    finally:
        h.close()
    with sqlite3.connect(tmp_path / "store.db") as db:
        (data,) = db.execute("SELECT data FROM objects WHERE name = ? AND data LIKE '%\"request\"%'",
                             (cr_name,)).fetchone()
    status = json.loads(data)["status"]
    assert base64.b64decode(status["certificate"], validate=True) == before.status.certificate
