"""The webhook's decisions without a cluster: the in-process server on loopback with a
certificate made here (the API server's part is tests/test_webhook_kube.py)."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.webhook import identity
from certkeeper.webhook.admission import Admitter
from certkeeper.webhook.dynamic import new_authority, sign_leaf
from certkeeper.webhook.review import UserInfo
from certkeeper.webhook.server import MAX_BODY, WebhookServer
from certkeeper.webhook.tls import FileCertificate

from .admission import review


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebhookServer, ssl.SSLContext]]:
    folder = tmp_path_factory.mktemp("wh")
    now = dt.datetime.now(dt.UTC)
    ca = new_authority(now, dt.timedelta(days=1))
    cert, key = sign_leaf(ca, ["127.0.0.1", "localhost"], now, dt.timedelta(hours=1))
    (folder / "tls.crt").write_bytes(cert)
    (folder / "tls.key").write_bytes(key)
    srv = WebhookServer(("127.0.0.1", 0), FileCertificate(folder / "tls.crt", folder / "tls.key"), Admitter(None))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv, ssl.create_default_context(cadata=ca.pem.decode())
    finally:
        srv.shutdown()
        srv.server_close()


def _post(server: tuple[WebhookServer, ssl.SSLContext], path: str, body: bytes,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    srv, ctx = server
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=30)
    try:
        conn.request("POST", path, body, headers or {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data.startswith(b"{") else {}
    finally:
        conn.close()


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]))
           .sign(key, hashes.SHA256()))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _cr(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"request": _csr(), "issuerRef": {"name": "ca"}, **spec}}


def _patch(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(base64.b64decode(answer["response"]["patch"]))  # type: ignore[no-any-return]


def test_mutate_sets_the_identity_and_removes_what_the_user_has_not(server: Any) -> None:
    # a client-certificate user has no uid and no extra: forged ones are removed
    user = {"username": "jane", "groups": ["dev", "system:authenticated"]}
    body = review(_cr(username="admin", uid="0", extra={"k": ["v"]}), user=user)
    status, answer = _post(server, "/mutate", body)
    assert status == 200 and answer["response"]["allowed"] is True
    assert answer["response"]["patchType"] == "JSONPatch"
    assert sorted(_patch(answer), key=lambda op: op["path"]) == [
        {"op": "remove", "path": "/spec/extra"},
        {"op": "add", "path": "/spec/groups", "value": ["dev", "system:authenticated"]},
        {"op": "remove", "path": "/spec/uid"},
        {"op": "add", "path": "/spec/username", "value": "jane"},
    ]


def test_mutate_leaves_other_kinds_and_updates_alone(server: Any) -> None:
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"secretName": "s", "dnsNames": ["a.example.com"], "issuerRef": {"name": "ca"}}}
    for body in (review(cert), review(_cr(), operation="UPDATE", old=_cr())):
        _, answer = _post(server, "/mutate", body)
        assert answer["response"]["allowed"] is True
        assert "patch" not in answer["response"]


def test_validate_refuses_an_identity_that_is_not_the_requesters(server: Any) -> None:
    body = review(_cr(username="admin"), user={"username": "jane"})
    _, answer = _post(server, "/validate", body)
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == \
        "spec.username: Forbidden: username identity must be that of the requester"


def test_several_errors_are_one_bracketed_message(server: Any) -> None:
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"secretName": "s", "ipAddresses": ["x"], "emailAddresses": ["y"], "issuerRef": {"name": "ca"}}}
    _, answer = _post(server, "/validate", review(cert))
    message = answer["response"]["status"]["message"]
    assert message.startswith("[spec.ipAddresses[0]: Invalid value: \"x\": invalid IP address, ")
    assert message.endswith("]")


def test_without_a_cluster_an_approval_is_refused_saying_why(server: Any) -> None:
    old = _cr(username="jane")
    new = json.loads(json.dumps(old))
    new["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "r", "message": "m"}]}
    _, answer = _post(server, "/validate", review(new, "UPDATE", old, {"username": "jane"}, "status"))
    assert answer["response"]["allowed"] is False
    assert "cannot check approvals" in answer["response"]["status"]["message"]


def test_delete_is_allowed_and_reviews_without_uid_or_request_are_denied(server: Any) -> None:
    body = json.loads(review(_cr()))
    body["request"]["operation"] = "DELETE"
    assert _post(server, "/validate", json.dumps(body).encode())[1]["response"]["allowed"] is True
    del body["request"]["uid"]
    answer = _post(server, "/validate", json.dumps(body).encode())[1]["response"]
    assert answer["allowed"] is False and answer["status"]["message"] == "request.uid is missing"
    wrong = {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}
    answer = _post(server, "/validate", json.dumps(wrong).encode())[1]["response"]
    assert "expected apiVersion admission.k8s.io/v1" in answer["status"]["message"]


def test_an_oversized_body_is_refused_before_it_is_read(server: Any) -> None:
    status, answer = _post(server, "/validate", b"{}", {"Content-Length": str(MAX_BODY + 1)})
    assert status == 200
    assert answer["response"]["status"]["code"] == 413


def test_identity_check_on_update_names_the_changed_field() -> None:
    from certkeeper.api.certificate import CertificateRequest

    old = CertificateRequest.from_dict(_cr(username="jane", groups=["a"]))
    new = CertificateRequest.from_dict(_cr(username="jane", groups=["b"]))
    assert [str(e) for e in identity.check(UserInfo("x"), new, old)] == [
        "spec.groups: Forbidden: groups identity cannot be changed once set"]


def test_a_path_other_than_the_two_is_not_found(server: Any) -> None:
    status, _ = _post(server, "/convert", review(_cr()))
    assert status == 404


def test_file_certificate_keeps_serving_when_the_new_pair_is_broken(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca = new_authority(now, dt.timedelta(days=1))
    cert, key = sign_leaf(ca, ["127.0.0.1"], now, dt.timedelta(hours=1))
    (tmp_path / "c").write_bytes(cert)
    (tmp_path / "k").write_bytes(key)
    source = FileCertificate(tmp_path / "c", tmp_path / "k")
    first = source.context()
    (tmp_path / "c").write_bytes(b"not a certificate")
    assert source.context() is first and source.loads == 1
    cert2, key2 = sign_leaf(ca, ["127.0.0.1"], now, dt.timedelta(hours=1))
    (tmp_path / "k").write_bytes(key2)
    (tmp_path / "c").write_bytes(cert2 + b"\n")  # a new size and mtime: a matching pair again
    assert source.context() is not first and source.loads == 2


def test_a_stored_object_that_does_not_decode_does_not_block_fixing_it(server: Any) -> None:
    good = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"secretName": "s", "dnsNames": ["a.example.com"], "issuerRef": {"name": "ca"}}}
    stored = json.loads(json.dumps(good))
    stored["spec"]["dnsNames"] = "a.example.com"  # kept from before a schema was installed
    assert _post(server, "/validate", review(good, "UPDATE", stored))[1]["response"]["allowed"] is True
    answer = _post(server, "/validate", review(_cr(), "UPDATE", {**_cr(), "spec": {"request": 5}}))[1]["response"]
    assert answer["allowed"] is False
    assert answer["status"]["message"].startswith("the stored object does not decode: ")
