"""The bootstrap as cert-manager does it, on the real API server: ``certkeeper webhook``
keeps its own CA in a Secret and serves a leaf it signs; ``certkeeper cainjector`` (a
separate, leader-elected process) copies that CA into the webhook configurations, which
carry no caBundle of their own; the API server then calls the webhook. Rotating the CA
(deleting the Secret) re-injects, and calls keep succeeding."""

from __future__ import annotations

import base64
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from tests.kubecluster import ControlPlane, admin_client

from .admission import (
    ADMISSION,
    Program,
    Webhook,
    configurations,
    labelled_namespace,
    register,
    unregister,
    wait_enforced,
)
from .daemons import NO_PORTS

pytest_plugins = ["tests.kubecluster"]

CA_SECRET = "certkeeper-webhook-ca"


@pytest.fixture
def injector(kube_cluster: ControlPlane) -> Iterator[Program]:
    namespace = labelled_namespace(kube_cluster, "none", prefix="lease")
    program = Program(["--kubeconfig", str(kube_cluster.kubeconfig), "cainjector",
                       "--leader-election-namespace", namespace, "--leader-election-lease-duration", "6s",
                       "--leader-election-renew-deadline", "4s", "--leader-election-retry-period", "1s"])
    try:
        assert program.wait_for("acquired lease certkeeper-cainjector", 60), program.log()
        yield program
    finally:
        assert program.stop() == 0, program.log()


def _secret_ca(plane: ControlPlane, namespace: str) -> bytes | None:
    client = admin_client(plane)
    try:
        secret = client.json("GET", f"/api/v1/namespaces/{namespace}/secrets/{CA_SECRET}")
    except Exception:
        return None
    finally:
        client.close()
    return base64.b64decode(secret["data"]["ca.crt"])


def _bundles(plane: ControlPlane, name: str) -> list[bytes]:
    client = admin_client(plane)
    try:
        return [
            base64.b64decode(h["clientConfig"].get("caBundle", ""))
            for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
            for h in client.json("GET", f"{ADMISSION}/{kind}/{name}")["webhooks"]
        ]
    finally:
        client.close()


def _wait(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)  # polling the cluster for a condition, with a deadline
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _served_issuer(port: int, ca_pem: bytes) -> x509.Name:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, \
            ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).issuer


@pytest.mark.timeout(300)
def test_dynamic_serving_ca_is_injected_and_rotation_reinjected(kube_cluster: ControlPlane, injector: Program) -> None:
    selector = secrets.token_hex(4)
    namespace = labelled_namespace(kube_cluster, selector, prefix="dyn")
    webhook = Webhook(["--dynamic-serving-ca-secret-name", CA_SECRET, "--dynamic-serving-ca-secret-namespace",
                       namespace, "--dynamic-serving-dns-names", "127.0.0.1,localhost"], kube_cluster.kubeconfig)
    name = f"certkeeper-webhook-{selector}"
    try:
        first = _wait("the webhook's CA Secret", lambda: _secret_ca(kube_cluster, namespace))
        # no caBundle of their own: only the injector makes the API server trust the webhook
        register(kube_cluster, configurations(webhook.url, None, selector, name,
                                              {"cert-manager.io/inject-ca-from-secret": f"{namespace}/{CA_SECRET}"}))
        wait_enforced(kube_cluster, namespace)
        assert _bundles(kube_cluster, name) == [first, first]
        assert _served_issuer(webhook.port, first) == x509.load_pem_x509_certificate(first).subject

        # rotation: the Secret is deleted; the webhook makes a new CA and signs a new leaf
        client = admin_client(kube_cluster)
        try:
            client.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{CA_SECRET}")
        finally:
            client.close()
        second = _wait("a new CA", lambda: (ca := _secret_ca(kube_cluster, namespace)) and ca != first and ca)
        _wait("the new CA injected", lambda: _bundles(kube_cluster, name) == [second, second])
        _wait("the leaf signed by the new CA", lambda: _served_issuer_ok(webhook.port, second))
        wait_enforced(kube_cluster, namespace)
        assert "injected the CA into ValidatingWebhookConfiguration/" + name in injector.log()
    finally:
        unregister(kube_cluster, name)
        webhook.stop()


def _served_issuer_ok(port: int, ca_pem: bytes) -> bool:
    try:
        _served_issuer(port, ca_pem)
    except ssl.SSLError:
        return False
    return True


def _ca_pem(cn: str) -> bytes:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _secret(namespace: str, name: str, ca: bytes, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace,
                                                               "annotations": annotations},
            "data": {"ca.crt": base64.b64encode(ca).decode()}}


def _hook_config(kind: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A configuration that matches nothing (a group no one serves): only its caBundle matters."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": {"name": name, "annotations": annotations},
        "webhooks": [{
            "name": "nothing.certkeeper.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Ignore", "clientConfig": {"url": "https://127.0.0.1:1/none"},
            "rules": [{"apiGroups": ["nothing.certkeeper.test"], "apiVersions": ["v1"],
                       "operations": ["CREATE"], "resources": ["things"]}],
        }],
    }


def _conversion_crd(name_suffix: str, annotations: dict[str, str]) -> dict[str, Any]:
    group = f"{name_suffix}.certkeeper.test"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{group}", "annotations": annotations},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema},
                         {"name": "v2", "served": True, "storage": False, "schema": schema}],
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": "https://127.0.0.1:1/convert"}}},
        },
    }


def _apiservice(name_suffix: str, annotations: dict[str, str]) -> dict[str, Any]:
    group = f"{name_suffix}.certkeeper.test"
    return {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": f"v1.{group}", "annotations": annotations},
        "spec": {"group": group, "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10,
                 "service": {"namespace": "default", "name": "nowhere", "port": 443}},
    }


@pytest.mark.timeout(300)
def test_every_target_kind_from_every_source(kube_cluster: ControlPlane, injector: Program) -> None:
    assert kube_cluster.ca is not None
    ns = labelled_namespace(kube_cluster, "none", prefix="inj")
    tag = secrets.token_hex(3)
    direct, unmarked, from_cert = _ca_pem("direct"), _ca_pem("unmarked"), _ca_pem("from-certificate")
    client = admin_client(kube_cluster)
    reg = "/apis/admissionregistration.k8s.io/v1"
    created: list[str] = []
    try:
        client.json("POST", f"/api/v1/namespaces/{ns}/secrets",
                    _secret(ns, "direct", direct, {"cert-manager.io/allow-direct-injection": "true"}))
        client.json("POST", f"/api/v1/namespaces/{ns}/secrets", _secret(ns, "unmarked", unmarked, {}))
        # the Secret a Certificate's issuance leaves (written here: the issuance is the
        # bootstrap test's subject, and this one is about the injector's sources)
        client.json("POST", f"/api/v1/namespaces/{ns}/secrets",
                    _secret(ns, "serving-tls", from_cert, {"cert-manager.io/certificate-name": "serving"}))
        client.json("POST", f"/apis/cert-manager.io/v1/namespaces/{ns}/certificates", {
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "serving"},
            "spec": {"secretName": "serving-tls", "dnsNames": ["x.example.com"], "issuerRef": {"name": "ca"}}})
        objects = [
            (f"{reg}/validatingwebhookconfigurations", _hook_config(
                "ValidatingWebhookConfiguration", f"from-secret-{tag}",
                {"cert-manager.io/inject-ca-from-secret": f"{ns}/direct"})),
            (f"{reg}/mutatingwebhookconfigurations", _hook_config(
                "MutatingWebhookConfiguration", f"from-certificate-{tag}",
                {"cert-manager.io/inject-ca-from": f"{ns}/serving"})),
            (f"{reg}/validatingwebhookconfigurations", _hook_config(
                "ValidatingWebhookConfiguration", f"unmarked-{tag}",
                {"cert-manager.io/inject-ca-from-secret": f"{ns}/unmarked"})),
            ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
             _conversion_crd(f"conv{tag}", {"cert-manager.io/inject-apiserver-ca": "true"})),
            ("/apis/apiregistration.k8s.io/v1/apiservices",
             _apiservice(f"agg{tag}", {"cert-manager.io/inject-ca-from-secret": f"{ns}/direct"})),
        ]
        for path, doc in objects:
            client.json("POST", path, doc)
            created.append(f"{path}/{doc['metadata']['name']}")

        def bundle(i: int) -> bytes:
            obj = client.json("GET", created[i])
            if "webhooks" in obj:
                value = obj["webhooks"][0]["clientConfig"].get("caBundle", "")
            elif obj["kind"] == "CustomResourceDefinition":
                value = obj["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle", "")
            else:
                value = obj["spec"].get("caBundle", "")
            return base64.b64decode(value)

        _wait("every target injected", lambda: [bundle(i) for i in (0, 1, 3, 4)] == [
            direct, from_cert, kube_cluster.ca.cert_path.read_bytes(), direct])  # type: ignore[union-attr]
        # a Secret that did not opt in is never copied anywhere
        _wait("the refusal logged", lambda: "does not allow injection" in injector.log())
        assert bundle(2) == b""
        # the CA changes: injected again
        rotated = _ca_pem("direct-2")
        secret = client.json("GET", f"/api/v1/namespaces/{ns}/secrets/direct")
        secret["data"]["ca.crt"] = base64.b64encode(rotated).decode()
        client.json("PUT", f"/api/v1/namespaces/{ns}/secrets/direct", secret)
        _wait("the rotated CA injected", lambda: bundle(0) == rotated and bundle(4) == rotated)
    finally:
        for path in reversed(created):  # an unavailable APIService must not outlive the test
            client.request("DELETE", path)
        client.close()


def test_a_second_injector_waits_and_takes_over(kube_cluster: ControlPlane, injector: Program) -> None:
    lease_ns = next(a for a in injector.proc.args if isinstance(a, str) and a.startswith("lease-"))  # type: ignore[union-attr]
    standby = Program(["--kubeconfig", str(kube_cluster.kubeconfig), "cainjector",
                       "--leader-election-namespace", lease_ns, "--leader-election-lease-duration", "6s",
                       "--leader-election-renew-deadline", "4s", "--leader-election-retry-period", "1s"])
    try:
        assert standby.wait_for("waiting for lease", 60), standby.log()
        assert not standby.wait_for("acquired lease", 3)  # the leader renews every second
        assert injector.stop() == 0  # a clean stop releases the lease
        assert standby.wait_for("acquired lease certkeeper-cainjector", 30), standby.log()
    finally:
        assert standby.stop() == 0, standby.log()


BOOTSTRAP = """
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: webhook-ca}
spec:
  isCA: true
  commonName: certkeeper webhook CA
  secretName: webhook-ca
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  issuerRef: {name: selfsigned}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: webhook-ca}
spec: {ca: {secretName: webhook-ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: webhook-serving}
spec:
  secretName: webhook-serving
  ipAddresses: [127.0.0.1]
  dnsNames: [localhost]
  privateKey: {algorithm: ECDSA, rotationPolicy: Always}
  issuerRef: {name: webhook-ca}
"""


def _secret_data(plane: ControlPlane, namespace: str, name: str) -> dict[str, bytes] | None:
    client = admin_client(plane)
    try:
        secret = client.json("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except Exception:
        return None
    finally:
        client.close()
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _project(data: dict[str, bytes], cert: Any, key: Any) -> None:
    """What the kubelet does with a Secret volume (a stand-in: no kubelet runs here)."""
    for path, value in ((cert, data["tls.crt"]), (key, data["tls.key"])):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(value)
        tmp.chmod(0o600)
        tmp.replace(path)


@pytest.mark.timeout(420)
def test_certkeeper_issues_the_webhooks_certificate_and_the_injector_trusts_it(
    kube_cluster: ControlPlane, injector: Program, tmp_path: Any
) -> None:
    import os

    # the webhook's own namespace is not selected by its configurations (as in deploy/):
    # the controller's CertificateRequests there never wait for the webhook
    own = labelled_namespace(kube_cluster, "none", prefix="boot")
    selector = secrets.token_hex(4)
    probe_ns = labelled_namespace(kube_cluster, selector, prefix="probe")
    env = {k: v for k, v in os.environ.items() if k not in ("CERTKEEPER_STORE", "KUBECONFIG")}
    cli = ["--kubeconfig", str(kube_cluster.kubeconfig)]
    controller = Program([*cli, "run", *NO_PORTS, "-n", own, "--leader-election-namespace", own, "--kube-api-qps", "0"], env)
    webhook: Webhook | None = None
    name = f"certkeeper-webhook-{selector}"
    try:
        manifest = tmp_path / "bootstrap.yaml"
        manifest.write_text(BOOTSTRAP)
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "certkeeper", *cli, "apply", "-n", own, "-f", str(manifest)],
                       check=True, env=env, capture_output=True)
        first = _wait("the serving certificate issued",
                      lambda: (d := _secret_data(kube_cluster, own, "webhook-serving")) and "tls.crt" in d and d, 120)
        cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
        _project(first, cert_file, key_file)
        webhook = Webhook(["--tls-cert-file", str(cert_file), "--tls-private-key-file", str(key_file)],
                          kube_cluster.kubeconfig)
        register(kube_cluster, configurations(webhook.url, None, selector, name,
                                              {"cert-manager.io/inject-ca-from": f"{own}/webhook-serving"}))
        wait_enforced(kube_cluster, probe_ns)
        assert _bundles(kube_cluster, name) == [first["ca.crt"]] * 2
        ca_cert = x509.load_pem_x509_certificate(first["ca.crt"])
        assert ca_cert.subject.rfc4514_string() == "CN=certkeeper webhook CA"
        assert x509.load_pem_x509_certificate(first["tls.crt"]).issuer == ca_cert.subject

        # rotate the CA (a new key), then the serving certificate under it
        for certificate in ("webhook-ca", "webhook-serving"):
            subprocess.run([sys.executable, "-m", "certkeeper", *cli, "renew", certificate, "-n", own],
                           check=True, env=env, capture_output=True)
            secret = "webhook-ca" if certificate == "webhook-ca" else "webhook-serving"
            _wait(f"{certificate} renewed", lambda s=secret: (d := _secret_data(kube_cluster, own, s))  # type: ignore[misc]
                  and d["ca.crt"] != first["ca.crt"], 120)
        second = _secret_data(kube_cluster, own, "webhook-serving")
        assert second is not None and second["ca.crt"] != first["ca.crt"]
        _wait("the new CA injected", lambda: _bundles(kube_cluster, name) == [second["ca.crt"]] * 2)
        _project(second, cert_file, key_file)
        wait_enforced(kube_cluster, probe_ns)
        assert x509.load_pem_x509_certificate(second["tls.crt"]).verify_directly_issued_by(
            x509.load_pem_x509_certificate(second["ca.crt"])) is None
    finally:
        unregister(kube_cluster, name)
        if webhook is not None:
            webhook.stop()
        controller.stop()
