"""cmctl's ``create certificaterequest`` and ``check api`` on both backends: a request from a
Certificate manifest signed by the real controllers with the key kept in a local file, and
the API's readiness (on a cluster through a dry-run create that passes the webhooks)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from certkeeper.api.certificate import CertificateRequest
from certkeeper.api.issuer import Issuer
from certkeeper.pki.keys import decode_private_key, public_keys_equal
from tests.harness import BACKENDS, CA_SETUP
from tests.kubecluster import ControlPlane, admin_client
from tests.test_acme_daemon_support import LiveDaemon
from tests.test_cli_support import Cli

pytest_plugins = ["tests.kubecluster"]

TEMPLATE = {
    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
    "metadata": {"name": "tpl", "labels": {"team": "web"}},
    "spec": {
        "secretName": "unused", "commonName": "app.example.test",
        "dnsNames": ["app.example.test", "api.example.test"], "duration": "720h",
        "privateKey": {"algorithm": "ECDSA", "size": 384},
        "issuerRef": {"name": "ca"},
    },
}


@pytest.fixture(params=BACKENDS)
def daemon(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveDaemon]:
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    d = LiveDaemon(tmp_path, cluster, http01_address=None)
    try:
        d.apply(CA_SETUP)
        d.wait_ready(Issuer, "ca")
        yield d
    finally:
        d.close()


def template_file(tmp_path: Path, **changes: Any) -> Path:
    doc = {**TEMPLATE, "spec": {**TEMPLATE["spec"], **changes}}
    path = tmp_path / "cert.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_create_certificaterequest_and_fetch_the_certificate(daemon: LiveDaemon, tmp_path: Path) -> None:
    key, crt = tmp_path / "out" / "app.key", tmp_path / "out" / "app.crt"
    key.parent.mkdir()
    r = Cli(tmp_path).on(daemon.store, "create", "certificaterequest", "app",
                         "--from-certificate-file", str(template_file(tmp_path)),
                         "--output-key-file", str(key), "--fetch-certificate",
                         "--output-certificate-file", str(crt), "--timeout", "60s")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "CertificateRequest app has been created in namespace default",
        f"Private key written to file {key}",
        "CertificateRequest app in namespace default has not been signed yet. Wait until it is signed...",
        "CertificateRequest app in namespace default has been signed",
        f"Certificate written to file {crt}",
    ]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    private = decode_private_key(key.read_bytes())
    leaf = x509.load_pem_x509_certificates(crt.read_bytes())[0]
    assert public_keys_equal(leaf.public_key(), private)
    assert private.curve.key_size == 384  # type: ignore[union-attr]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == ["api.example.test", "app.example.test"]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 30
    cr = daemon.store.get(CertificateRequest, "default", "app")
    assert cr.spec.issuer_ref is not None and cr.spec.issuer_ref.name == "ca"
    assert cr.labels() == {"team": "web"}
    assert b"PRIVATE KEY" not in (cr.spec.request or b"")


def test_an_existing_key_file_is_never_overwritten(daemon: LiveDaemon, tmp_path: Path) -> None:
    key = tmp_path / "app.key"
    key.write_text("precious")
    r = Cli(tmp_path).on(daemon.store, "create", "certificaterequest", "app",
                         "--from-certificate-file", str(template_file(tmp_path)), "--output-key-file", str(key))
    assert r.exit_code == 1
    assert r.stderr == f"error: {key} exists; not overwriting a private key\n"
    assert key.read_text() == "precious"
    assert daemon.store.try_get(CertificateRequest, "default", "app") is None


def test_refusals_name_the_cause(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    assert ck("apply", "-f", "-", input=CA_SETUP).exit_code == 0
    r = ck("create", "certificaterequest", "app", "--from-certificate-file", str(template_file(tmp_path)),
           "--output-certificate-file", "x.crt")
    assert r.exit_code == 1
    assert "without specifying the flag --fetch-certificate" in r.stderr
    bad = template_file(tmp_path, duration="10m")
    r = ck("create", "certificaterequest", "app", "--from-certificate-file", str(bad),
           "--output-key-file", str(tmp_path / "k"))
    assert r.exit_code == 1 and "spec.duration" in r.stderr
    assert not (tmp_path / "k").exists()
    # a request the store refuses (the name is taken) leaves no key behind
    good = template_file(tmp_path)
    key = tmp_path / "first.key"
    assert ck("create", "certificaterequest", "app", "--from-certificate-file", str(good),
              "--output-key-file", str(key)).exit_code == 0
    r = ck("create", "certificaterequest", "app", "--from-certificate-file", str(good),
           "--output-key-file", str(tmp_path / "second.key"))
    assert r.exit_code == 1 and "already exists" in r.stderr
    assert not (tmp_path / "second.key").exists() and key.exists()


def test_check_api_on_a_host(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    r = ck("check", "api")
    assert r.exit_code == 1 and "store" in r.stderr  # no store yet: not ready, and it says where it looked
    assert ck("apply", "-f", "-", input=CA_SETUP).exit_code == 0
    r = ck("check", "api")
    assert r.exit_code == 0 and r.stdout == "The cert-manager API is ready\n"


def test_check_api_on_a_cluster_goes_through_the_webhooks(kube_cluster: ControlPlane, kube_namespace: str,
                                                          tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    cfg = str(kube_cluster.kubeconfig)
    r = ck("--kubeconfig", cfg, "check", "api", "-n", kube_namespace)
    assert r.exit_code == 0, r.output
    assert r.stdout == "The cert-manager API is ready\n"
    # a webhook for Certificates in this namespace that nothing serves: not ready
    client = admin_client(kube_cluster)
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    name = f"dead-{kube_namespace}"
    client.json("POST", path, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "webhook.cert-manager.io", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail", "timeoutSeconds": 2,
            "clientConfig": {"url": "https://127.0.0.1:1/validate"},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": kube_namespace}},
            "rules": [{"apiGroups": ["cert-manager.io"], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["certificates"]}],
        }],
    })
    try:
        r = ck("--kubeconfig", cfg, "check", "api", "-n", kube_namespace)
        assert r.exit_code == 1
        assert r.stderr.startswith("Not ready: ") and "webhook.cert-manager.io" in r.stderr
        r = ck("--kubeconfig", cfg, "check", "api", "-n", kube_namespace, "--wait", "2s", "--interval", "500ms")
        assert r.exit_code == 1 and r.stderr.startswith("error: timed out after 2s: Not ready: ")
    finally:
        client.request("DELETE", f"{path}/{name}")
        client.close()
    assert ck("--kubeconfig", cfg, "check", "api", "-n", kube_namespace, "--wait", "30s").exit_code == 0
