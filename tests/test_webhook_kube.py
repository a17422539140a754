"""``certkeeper webhook`` as a separate process on loopback, called by the real API server
by URL through a Validating- and a MutatingWebhookConfiguration: kubectl's refusals carry
the webhook's field paths, CertificateRequests carry their creator's identity, and bad
AdmissionReviews are denied with a message, never a crash."""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.store.base import StoreError
from tests.kubecluster import ControlPlane, admin_client

from .admission import (
    WEBHOOK_NAME,
    Webhook,
    configurations,
    grant,
    labelled_namespace,
    register,
    review,
    service_account,
    unregister,
    wait_enforced,
)
from .corpus_index import CORPUS, INVALID, VALID, as_json, documents

pytest_plugins = ["tests.kubecluster"]

CERT_MANAGER_KINDS = {"Certificate", "CertificateRequest", "Issuer", "ClusterIssuer", "Order", "Challenge"}
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")
"""scripts/test.sh builds one at the control plane's pin where none is installed."""


@dataclass
class Hooked:
    plane: ControlPlane
    webhook: Webhook
    namespace: str
    selector: str
    folder: Path
    ca: Path


@pytest.fixture(scope="module")
def hooked(kube_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooked]:
    assert kube_cluster.ca is not None
    folder = tmp_path_factory.mktemp("webhook")
    cert, key = kube_cluster.ca.issue(folder, "serving", "certkeeper-webhook", server_names=["127.0.0.1"])
    webhook = Webhook(["--tls-cert-file", str(cert), "--tls-private-key-file", str(key)], kube_cluster.kubeconfig)
    selector = secrets.token_hex(4)
    name = f"certkeeper-webhook-{selector}"
    try:
        register(kube_cluster, configurations(webhook.url, kube_cluster.ca.cert_path.read_bytes(), selector, name))
        namespace = labelled_namespace(kube_cluster, selector)
        wait_enforced(kube_cluster, namespace)
        yield Hooked(kube_cluster, webhook, namespace, selector, folder, kube_cluster.ca.cert_path)
    finally:
        unregister(kube_cluster, name)
        webhook.stop()


# --------------------------------------------------------------------- the corpus, by kubectl


def _kubectl_apply(hooked: Hooked, docs: list[dict[str, Any]], name: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL, "kubectl is installed by scripts/test.sh"
    path = hooked.folder / name
    path.write_text(yaml.safe_dump_all(docs))
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(hooked.plane.kubeconfig), "apply", "--dry-run=server", "-f", str(path)],
        capture_output=True, text=True, timeout=60,
    )


def _placed(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Into the test's namespace, unless the example's namespace is a ``<...>`` placeholder
    (that placeholder is why some examples are invalid)."""
    doc = copy.deepcopy(as_json(doc))
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        doc["metadata"].pop(field, None)
    doc.pop("status", None)
    if doc["kind"] != "ClusterIssuer" and "<" not in str(doc["metadata"].get("namespace", "")):
        doc["metadata"]["namespace"] = namespace
    return doc


def _cert_manager_docs(name: str, namespace: str) -> list[dict[str, Any]]:
    return [_placed(d, namespace) for d in documents(CORPUS / name) if d.get("kind") in CERT_MANAGER_KINDS]


#: the field path each invalid example is refused at
REFUSED_AT = {
    "configuration-acme--4.yaml": "spec.acme.server",
    "configuration-acme--11.yaml": "spec.acme.privateKeySecretRef",
    "configuration-acme-dns01-acme-dns--1.yaml": "spec.acme.server",
    "configuration-acme-dns01-route53--2.yaml": "spec.acme.server",
    "configuration-acme-http01--5.yaml": "spec.acme.server",
    "configuration-acme-http01--6.yaml": "spec.secretName",
    "configuration-vault--3.yaml": "spec.vault.caBundle",
    "configuration-vault--4.yaml": "spec.vault.caBundle",
    "configuration-venafi--1.yaml": "metadata.namespace",
    "configuration-venafi--2.yaml": "metadata.namespace",
    "configuration-venafi--3.yaml": "metadata.namespace",
    "configuration-venafi--5.yaml": "spec",
    "releases-release-notes-release-notes-1.0--1.yaml": "spec.acme.server",
    "releases-release-notes-release-notes-1.0--2.yaml": "spec.acme.privateKeySecretRef",
    "releases-release-notes-release-notes-1.0--3.yaml": "spec.acme.privateKeySecretRef",
    "releases-release-notes-release-notes-1.2--1.yaml": "spec.jks",
    "releases-release-notes-release-notes-1.9--1.yaml": "spec.issuerRef",
    "tutorials-certificate-defaults--5.yaml": "spec.issuerRef",
    "tutorials-venafi-venafi--1.yaml": "spec.venafi.tpp.caBundle",
    "usage-certificate--3.yaml": "spec.nameConstraints.permitted.emailAddress",
}


def test_every_invalid_example_has_its_field() -> None:
    assert sorted(REFUSED_AT) == sorted(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_example_is_refused_by_kubectl_apply_at_its_field(hooked: Hooked, name: str) -> None:
    docs = _cert_manager_docs(name, hooked.namespace)
    result = _kubectl_apply(hooked, docs, name)
    assert result.returncode != 0, result.stdout
    placeholder = next((d["metadata"]["namespace"] for d in docs if "<" in d["metadata"].get("namespace", "")), None)
    if placeholder:
        # the API server looks the namespace up before anything else
        assert f'namespaces "{placeholder}" not found' in result.stderr, result.stderr
    else:
        # every one of the corpus's invalid examples is already refused by the CRD schema
        # (a required member missing, a placeholder in a ``format: byte`` field, an
        # unknown field), which the API server checks before it calls a validating webhook
        assert REFUSED_AT[name] in result.stderr, result.stderr
    # and the webhook refuses every one of them itself, whatever refused it first
    messages = []
    for doc in docs:
        answer = hooked.webhook.post("/validate", review(doc), hooked.ca)["response"]
        if not answer["allowed"]:
            messages.append(answer["status"]["message"])
    assert any(REFUSED_AT[name] in m for m in messages), messages


@pytest.mark.parametrize("name", VALID, ids=VALID)
def test_valid_example_is_accepted_by_kubectl_apply(hooked: Hooked, name: str) -> None:
    docs = _cert_manager_docs(name, hooked.namespace)
    result = _kubectl_apply(hooked, docs, name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(docs), result.stdout


def test_the_message_is_the_validation_line(hooked: Hooked) -> None:
    doc = {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "bad-name", "namespace": hooked.namespace},
        "spec": {"secretName": "s", "issuerRef": {"name": "ca"}, "dnsNames": ["ok.example.com"],
                 "ipAddresses": ["192.0.2.1", "not-an-ip"]},
    }
    result = _kubectl_apply(hooked, [doc], "bad-name.yaml")
    assert result.returncode != 0
    assert f'admission webhook "{WEBHOOK_NAME}" denied the request: spec.ipAddresses[1]: Invalid value: ' \
           '"not-an-ip": invalid IP address' in result.stderr, result.stderr


# ------------------------------------------------------------------ CertificateRequest identity


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("app.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _request(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"request": _csr(), "issuerRef": {"name": "ca", "kind": "Issuer"}, **spec},
    }


CR_RULES = [
    {"apiGroups": ["cert-manager.io"], "resources": ["certificaterequests"], "verbs": ["create", "get", "list", "update"]},
    {"apiGroups": ["cert-manager.io"], "resources": ["certificaterequests/status"], "verbs": ["update", "patch"]},
]


@pytest.fixture
def requester(hooked: Hooked) -> tuple[Any, str, str]:
    """A user with a uid (a ServiceAccount token) that may create requests and write their
    status, but holds no ``approve`` on any signer: (client, username, uid)."""
    from certkeeper.store.kube import KubeClient, load_config

    name = f"requester-{secrets.token_hex(3)}"
    kubeconfig, uid = service_account(hooked.plane, hooked.namespace, name, hooked.folder)
    user = f"system:serviceaccount:{hooked.namespace}:{name}"
    grant(hooked.plane, name, CR_RULES, {"kind": "ServiceAccount", "name": name, "namespace": hooked.namespace},
          hooked.namespace)
    return KubeClient(load_config(str(kubeconfig)), qps=0), user, uid


def _crs(namespace: str) -> str:
    return f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificaterequests"


def test_a_request_carries_its_creators_identity(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, user, uid = requester
    created = client.json("POST", _crs(hooked.namespace), _request(hooked.namespace, "mine"))
    spec = created["spec"]
    assert spec["username"] == user
    assert spec["uid"] == uid
    assert sorted(spec["groups"]) == sorted(
        ["system:serviceaccounts", f"system:serviceaccounts:{hooked.namespace}", "system:authenticated"]
    )
    assert "authentication.kubernetes.io/credential-id" in spec["extra"]


def test_a_forged_identity_is_replaced_by_the_real_one(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, user, uid = requester
    forged = _request(hooked.namespace, "forged", username="system:admin", uid="0000",
                      groups=["system:masters"], extra={"x": ["y"]})
    spec = client.json("POST", _crs(hooked.namespace), forged)["spec"]
    assert (spec["username"], spec["uid"]) == (user, uid)
    assert "system:masters" not in spec["groups"]
    assert "x" not in spec["extra"]


def test_the_spec_and_identity_cannot_change(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, _, _ = requester
    created = client.json("POST", _crs(hooked.namespace), _request(hooked.namespace, "frozen"))
    changed = copy.deepcopy(created)
    changed["spec"]["username"] = "someone-else"
    changed["spec"]["duration"] = "2h"
    with pytest.raises(StoreError) as e:
        client.json("PUT", f"{_crs(hooked.namespace)}/frozen", changed)
    message = str(e.value)
    assert f'admission webhook "{WEBHOOK_NAME}" denied the request' in message
    assert "spec: Forbidden: cannot change spec after creation" in message
    assert "spec.username: Forbidden: username identity cannot be changed once set" in message


# ---------------------------------------------------------------------------- bad input


def test_a_body_that_is_not_json_is_denied_with_a_message(hooked: Hooked) -> None:
    answer = hooked.webhook.post("/validate", b"{not json", hooked.ca)
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["allowed"] is False
    assert "not JSON" in answer["response"]["status"]["message"]
    answer = hooked.webhook.post("/mutate", b"[1, 2]", hooked.ca)
    assert answer["response"]["allowed"] is False
    assert "not an AdmissionReview" in answer["response"]["status"]["message"]
    assert _healthy(hooked)


def test_an_unknown_kind_is_denied_with_a_message(hooked: Hooked) -> None:
    body = review({"apiVersion": "cert-manager.io/v1", "kind": "Certificat",
                   "metadata": {"name": "x", "namespace": "default"}, "spec": {}})
    for path in ("/validate", "/mutate"):
        answer = hooked.webhook.post(path, body, hooked.ca)["response"]
        assert answer["allowed"] is False
        assert "unknown kind Certificat in cert-manager.io/v1" in answer["status"]["message"]
        assert answer["uid"] == json.loads(body)["request"]["uid"]
    assert _healthy(hooked)


def test_an_object_that_does_not_decode_is_denied_with_its_field(hooked: Hooked) -> None:
    body = review({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "x", "namespace": "default"},
                   "spec": {"secretName": 5, "issuerRef": {"name": "ca"}, "dnsNames": "a.example.com"}})
    answer = hooked.webhook.post("/validate", body, hooked.ca)["response"]
    assert answer["allowed"] is False
    assert 'spec.secretName: Invalid value: "integer": spec.secretName in body must be of type string' in \
        answer["status"]["message"]
    assert "spec.dnsNames: Invalid value" in answer["status"]["message"]
    no_object = json.loads(body)
    no_object["request"]["object"] = "a string"
    answer = hooked.webhook.post("/validate", json.dumps(no_object).encode(), hooked.ca)["response"]
    assert answer["allowed"] is False and "request.object is not an object" in answer["status"]["message"]
    assert _healthy(hooked)


def _healthy(hooked: Hooked) -> bool:
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(hooked.ca))
    for path in ("/healthz", "/livez"):
        with urllib.request.urlopen(hooked.webhook.url + path, context=ctx, timeout=10) as r:
            if r.status != 200 or r.read() != b"ok":
                return False
    return hooked.webhook.proc.poll() is None


def test_tls_below_1_2_is_refused(hooked: Hooked) -> None:
    import socket

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(hooked.ca))
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", hooked.webhook.port), timeout=10) as s:
        old.wrap_socket(s, server_hostname="127.0.0.1")
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(hooked.ca))
        ctx.minimum_version = ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", hooked.webhook.port), timeout=10) as s, \
                ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


# ------------------------------------------------------------------------------ approval


def _set_condition(client: Any, namespace: str, name: str, ctype: str) -> dict[str, Any]:
    cr = client.json("GET", f"{_crs(namespace)}/{name}")
    cond = {"type": ctype, "status": "True", "reason": "Test", "message": "by the test",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}
    cr["status"] = {"conditions": [*((cr.get("status") or {}).get("conditions") or []), cond]}
    return client.json("PUT", f"{_crs(namespace)}/{name}/status", cr)  # type: ignore[no-any-return]


def test_a_user_without_approve_on_the_signer_cannot_approve(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, user, _ = requester
    client.json("POST", _crs(hooked.namespace), _request(hooked.namespace, "unapproved"))
    for ctype in ("Approved", "Denied"):
        with pytest.raises(StoreError) as e:
            _set_condition(client, hooked.namespace, "unapproved", ctype)
        message = str(e.value)
        assert f'admission webhook "{WEBHOOK_NAME}" denied the request' in message
        assert (f'status.conditions: Forbidden: user "{user}" does not have permissions to set approved/denied '
                "conditions for issuer {ca Issuer cert-manager.io}") in message


def _approver(hooked: Hooked, signer_names: list[str]) -> tuple[Any, Path]:
    """A user (client certificate) with ``approve`` on these signers, and what ``certkeeper
    approve`` needs to read and write a request's status."""
    from certkeeper.store.kube import KubeClient, load_config

    name = f"approver-{secrets.token_hex(3)}"
    kubeconfig = hooked.plane.client_kubeconfig(name)
    grant(hooked.plane, name, [
        *CR_RULES,
        {"apiGroups": ["cert-manager.io"], "resources": ["signers"], "verbs": ["approve"],
         "resourceNames": signer_names},
    ], {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
    return KubeClient(load_config(str(kubeconfig)), qps=0), kubeconfig


def test_a_user_with_approve_on_the_signer_can_approve_once(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, _, _ = requester
    ns = hooked.namespace
    client.json("POST", _crs(ns), _request(ns, "to-approve"))
    approver, _ = _approver(hooked, [f"issuers.cert-manager.io/{ns}.ca"])
    approved = _set_condition(approver, ns, "to-approve", "Approved")
    assert [c["type"] for c in approved["status"]["conditions"]] == ["Approved"]
    # set once: not denied afterwards, not even by an approver
    with pytest.raises(StoreError, match="both 'Denied' and 'Approved' conditions cannot coexist"):
        _set_condition(approver, ns, "to-approve", "Denied")
    # the signer is the issuer: approve on another issuer's name does not count
    client.json("POST", _crs(ns), _request(ns, "other-issuer", issuerRef={"name": "other", "kind": "Issuer"}))
    with pytest.raises(StoreError, match="does not have permissions to set approved/denied conditions"):
        _set_condition(approver, ns, "other-issuer", "Approved")


def test_the_wildcard_signer_name_and_cluster_issuers(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    client, _, _ = requester
    ns = hooked.namespace
    client.json("POST", _crs(ns), _request(ns, "any-issuer", issuerRef={"name": "x", "kind": "Issuer"}))
    client.json("POST", _crs(ns), _request(ns, "cluster", issuerRef={"name": "root", "kind": "ClusterIssuer"}))
    client.json("POST", _crs(ns), _request(ns, "external",
                                           issuerRef={"name": "v", "kind": "VaultThing", "group": "example.com"}))
    approver, _ = _approver(hooked, ["issuers.cert-manager.io/*", "clusterissuers.cert-manager.io/root"])
    _set_condition(approver, ns, "any-issuer", "Approved")
    _set_condition(approver, ns, "cluster", "Denied")
    with pytest.raises(StoreError, match=r"referenced signer resource does not exist: \{v VaultThing example.com\}"):
        _set_condition(approver, ns, "external", "Approved")


def test_certkeeper_approve_works_for_an_authorised_user(hooked: Hooked, requester: tuple[Any, str, str]) -> None:
    import sys

    client, _, _ = requester
    ns = hooked.namespace
    client.json("POST", _crs(ns), _request(ns, "by-cli"))
    client.json("POST", _crs(ns), _request(ns, "by-cli-refused"))
    _, allowed_cfg = _approver(hooked, [f"issuers.cert-manager.io/{ns}.ca"])
    _, other_cfg = _approver(hooked, [f"issuers.cert-manager.io/{ns}.someone-else"])
    env = {k: v for k, v in os.environ.items() if k not in ("CERTKEEPER_STORE", "KUBECONFIG")}
    cli = [sys.executable, "-m", "certkeeper"]
    ok = subprocess.run([*cli, "--kubeconfig", str(allowed_cfg), "approve", "by-cli", "-n", ns],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert f"Approved CertificateRequest '{ns}/by-cli'" in ok.stdout
    refused = subprocess.run([*cli, "--kubeconfig", str(other_cfg), "approve", "by-cli-refused", "-n", ns],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 1
    assert "does not have permissions to set approved/denied conditions" in refused.stderr, refused.stderr
    admin = admin_client(hooked.plane)
    try:
        conds = admin.json("GET", f"{_crs(ns)}/by-cli")["status"]["conditions"]
        assert [(c["type"], c["status"]) for c in conds] == [("Approved", "True")]
        assert not (admin.json("GET", f"{_crs(ns)}/by-cli-refused").get("status") or {}).get("conditions")
    finally:
        admin.close()


def _served_serial(hooked: Hooked) -> int:
    import socket

    ctx = ssl.create_default_context(cafile=str(hooked.ca))
    with socket.create_connection(("127.0.0.1", hooked.webhook.port), timeout=10) as s, \
            ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_renewed_certificate_files_are_served_without_a_restart(hooked: Hooked) -> None:
    assert hooked.plane.ca is not None
    cert_path, key_path = hooked.folder / "serving.crt", hooked.folder / "serving.key"
    before = _served_serial(hooked)
    assert before == x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number
    staging = hooked.folder / "next"
    staging.mkdir()
    new_cert, new_key = hooked.plane.ca.issue(staging, "serving", "certkeeper-webhook", server_names=["127.0.0.1"])
    new_cert.replace(cert_path)  # for a moment the key does not match: the old pair stays served
    assert _served_serial(hooked) == before
    new_key.replace(key_path)
    after = _served_serial(hooked)
    assert after == x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number != before
    assert hooked.webhook.proc.poll() is None
    # and the API server still reaches the webhook through it
    wait_enforced(hooked.plane, hooked.namespace)


def test_200_concurrent_reviews_all_answered(hooked: Hooked) -> None:
    """200 clients at once, each on its own connection (bench/webhook_load.py measures the
    latency); every review gets its verdict and the webhook stays up."""
    import http.client
    import threading

    ctx = ssl.create_default_context(cafile=str(hooked.ca))
    good = review({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "web", "namespace": hooked.namespace},
                   "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"}}})
    bad = review({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                  "metadata": {"name": "web", "namespace": hooked.namespace},
                  "spec": {"secretName": "web-tls", "issuerRef": {"name": "ca"}}})
    answers: list[tuple[int, bool | None]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(200)

    def one(i: int) -> None:
        barrier.wait()
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", hooked.webhook.port, context=ctx, timeout=60)
            conn.request("POST", "/validate", good if i % 2 else bad, {"Content-Type": "application/json"})
            allowed = json.loads(conn.getresponse().read())["response"]["allowed"]
            conn.close()
        except Exception as e:  # counted: the assertion below names them
            with lock:
                errors.append(f"{type(e).__name__}: {e}")
            return
        with lock:
            answers.append((i, allowed))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(answers) == [(i, bool(i % 2)) for i in range(200)]
    assert _healthy(hooked)
