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
