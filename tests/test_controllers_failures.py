"""Bad input gets a clear condition, loses nothing, and recovers by itself once fixed;
every trigger and readiness reason; failure back-off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certkeeper.api.certificate import Certificate, CertificateRequest, CertificateRequestStatus
from certkeeper.api.constants import ANN_CERTIFICATE_NAME, ANN_ISSUER_NAME
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret
from certkeeper.api.issuer import Issuer
from certkeeper.api.meta import set_condition

from .harness import BACKENDS, CA_SETUP, START, Harness, leaf_certificate

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture(params=BACKENDS)
def h(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    harness = Harness(tmp_path, cluster)
    yield harness
    harness.close()


def trigger_reason(h: Harness, name: str) -> tuple[str, str, str] | None:
    """Run the trigger once and report the Issuing condition it sets."""
    trigger = next(c for c in h.manager.controllers if c.name == "certificates-trigger")
    trigger.reconcile(("default", name))
    return h.condition(h.cert(name), "Issuing")


def readiness(h: Harness, name: str) -> tuple[str, str, str] | None:
    readiness = next(c for c in h.manager.controllers if c.name == "certificates-readiness")
    readiness.reconcile(("default", name))
    return h.ready(name)


def issued(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    assert h.ready("web")[0] == "True"


def edit_secret(h: Harness, name: str, **changes: bytes | None) -> None:
    secret = h.get(Secret, name)
    for key, value in changes.items():
        key = key.replace("_", ".")
        if value is None:
            secret.remove(key)
        else:
            secret.set(key, value)
    h.store.update(secret)


def other_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


# -- trigger and readiness reasons --------------------------------------------------

def test_does_not_exist(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.settle()
    h.apply(leaf_certificate("web", issuerRef={"name": "nowhere"}))
    assert trigger_reason(h, "web") == ("True", "DoesNotExist", "Issuing certificate as Secret does not exist")
    assert readiness(h, "web") == ("False", "DoesNotExist", "Issuing certificate as Secret does not exist")


def _empty_and_reissue(h: Harness, keys: list[str], message: str, no_data: bool = False) -> None:
    issued(h)
    secret = h.get(Secret, "web")
    for key in keys:
        # emptied, not removed: a kubernetes.io/tls Secret always has both keys
        secret.set(key, b"")
    if no_data:
        secret.data = None
    h.store.update(secret)
    assert readiness(h, "web") == ("False", "MissingData", message)
    assert trigger_reason(h, "web") == ("True", "MissingData", message)
    h.settle()
    assert h.ready("web")[0] == "True"
    h.assert_pair_matches("web")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("tls.key", "Issuing certificate as Secret does not contain a private key"),
        ("tls.crt", "Issuing certificate as Secret does not contain a certificate"),
    ],
)
def test_missing_data(h: Harness, key: str, message: str) -> None:
    _empty_and_reissue(h, [key], message)


def test_secret_without_any_data(tmp_path: Path) -> None:
    """Host store only: the API server refuses a kubernetes.io/tls Secret without data,
    so no cluster holds one."""
    h = Harness(tmp_path)
    try:
        _empty_and_reissue(h, ["tls.key", "tls.crt"], "Issuing certificate as Secret does not contain any data",
                           no_data=True)
    finally:
        h.close()


def test_secret_edited_by_hand_key_no_longer_matches(h: Harness) -> None:
    issued(h)
    edit_secret(h, "web", tls_key=other_key_pem())
    expected = (
        "InvalidKeyPair",
        "Issuing certificate as Secret contains a private key that does not match the certificate",
    )
    assert readiness(h, "web") == ("False", *expected)
    assert trigger_reason(h, "web") == ("True", *expected)
    h.settle()
    assert h.ready("web")[0] == "True"
    h.assert_pair_matches("web")
    assert h.cert("web").status.revision == 2  # type: ignore[union-attr]


def test_garbage_pem_in_secret(h: Harness) -> None:
    issued(h)
    edit_secret(h, "web", tls_key=b"-----BEGIN EC PRIVATE KEY-----\nnot base64!\n-----END EC PRIVATE KEY-----\n")
    ready = readiness(h, "web")
    assert ready is not None and ready[:2] == ("False", "InvalidKeyPair")
    assert ready[2].startswith("Issuing certificate as Secret contains invalid private key data: ")
    h.settle()
    h.assert_pair_matches("web")

    edit_secret(h, "web", tls_crt=b"garbage")
    ready = readiness(h, "web")
    assert ready is not None and ready[:2] == ("False", "InvalidCertificate")
    assert ready[2].startswith("Issuing certificate as Secret contains an invalid certificate: ")
    h.settle()
    assert h.ready("web")[0] == "True"
    h.assert_pair_matches("web")


def test_incorrect_issuer(h: Harness) -> None:
    issued(h)
    secret = h.get(Secret, "web")
    secret.metadata.annotations[ANN_ISSUER_NAME] = "someone-else"  # type: ignore[index]
    h.store.update(secret)
    expected = ("IncorrectIssuer", 'Issuing certificate as Secret was previously issued by "Issuer.cert-manager.io/someone-else"')
    assert readiness(h, "web") == ("False", *expected)
    assert trigger_reason(h, "web") == ("True", *expected)


def test_incorrect_certificate(h: Harness) -> None:
    issued(h)
    secret = h.get(Secret, "web")
    secret.metadata.annotations[ANN_CERTIFICATE_NAME] = "other"  # type: ignore[index]
    h.store.update(secret)
    message = ('Secret was issued for "other". If this message is not transient, you might have two '
               "conflicting Certificates pointing to the same secret.")
    assert readiness(h, "web") == ("False", "IncorrectCertificate", message)


def test_private_key_spec_changed(h: Harness) -> None:
    issued(h)
    cert = h.cert("web")
    cert.spec.private_key.size = 384  # type: ignore[union-attr]
    h.store.update(cert)
    assert trigger_reason(h, "web") == (
        "True", "SecretMismatch", "Existing private key is not up to date for spec: [spec.privateKey.size]"
    )
    h.settle()
    assert h.leaf("web").public_key().curve.name == "secp384r1"  # type: ignore[union-attr]


def test_current_request_key_differs(h: Harness) -> None:
    issued(h)
    # a consistent pair, from the same CA, that is not the one the current request was made for
    h.apply(leaf_certificate("other", secret="other", dnsNames=["web.example.test"]))
    h.settle()
    borrowed = h.get(Secret, "other")
    edit_secret(h, "web", tls_key=borrowed.get(TLS_KEY), tls_crt=borrowed.get(TLS_CERT))
    assert trigger_reason(h, "web") == (
        "True", "SecretMismatch", "Secret contains a private key that does not match the current CertificateRequest"
    )


def test_request_changed_and_fuzzy_secret_mismatch(h: Harness) -> None:
    issued(h)
    cert = h.cert("web")
    cert.spec.dns_names = ["changed.example.test"]
    h.store.update(cert)
    assert readiness(h, "web") == (
        "False", "RequestChanged", "Fields on existing CertificateRequest resource not up to date: [spec.dnsNames]"
    )
    # without the request the issued certificate itself is compared
    h.store.delete(CertificateRequest, "default", "web-1")
    ready = readiness(h, "web")
    assert ready is not None and ready[:2] == ("False", "SecretMismatch")
    assert ready[2].startswith("Issuing certificate as Existing issued Secret is not up to date for spec: ")


def test_renewing_reason(h: Harness) -> None:
    issued(h)
    h.clock.advance(dt.timedelta(days=61))  # default 90d, renew at 60d
    assert trigger_reason(h, "web") == (
        "True", "Renewing", "Renewing certificate as renewal was scheduled at 2026-04-30 12:00:00 +0000 UTC"
    )


def test_expired_reason(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", duration="1h"))
    h.settle()
    h.clock.advance(dt.timedelta(hours=2))  # the clock jumps past notAfter, nothing has run
    assert readiness(h, "web") == ("False", "Expired", "Certificate expired on Sun, 01 Mar 2026 13:00:00 UTC")


# -- issuers ----------------------------------------------------------------------

def test_ca_secret_missing_then_created(h: Harness) -> None:
    h.apply("""
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: root-ca}}
""")
    h.apply(leaf_certificate("web"))
    h.settle()
    ready = h.condition(h.get(Issuer, "ca"), "Ready")
    assert ready is not None and ready[:2] == ("False", "ErrGetKeyPair")
    assert 'secret "default/root-ca" not found' in ready[2]
    cr = h.get(CertificateRequest, "web-1")
    assert h.condition(cr, "Ready") == ("False", "Pending", "Referenced issuer does not have a Ready status condition")
    assert h.ready("web")[0] == "False"
    # fixing it is enough: no restart, no manual retry
    selfsigned_issuer, root_certificate, _ = CA_SETUP.split("---")
    h.apply(selfsigned_issuer + "---" + root_certificate)
    h.settle()
    assert h.condition(h.get(Issuer, "ca"), "Ready")[0] == "True"  # type: ignore[index]
    assert h.ready("web")[0] == "True"
    h.assert_pair_matches("web")


@pytest.mark.parametrize(
    ("data", "reason", "fragment"),
    [
        ({"tls.crt": b"garbage", "tls.key": b"garbage"}, "ErrGetKeyPair", "failed to decode certificate"),
        (None, "ErrInvalidKeyPair", "certificate is not a CA"),
        ("mismatch", "ErrGetKeyPair", "does not match its certificate"),
    ],
)
def test_broken_ca_secret(h: Harness, data: object, reason: str, fragment: str) -> None:
    h.apply(CA_SETUP)
    h.settle()
    if data is None:  # a leaf certificate is not a CA
        h.apply(leaf_certificate("leaf"))
        h.settle()
        source = h.get(Secret, "leaf")
        payload = {"tls.crt": source.get(TLS_CERT), "tls.key": source.get(TLS_KEY)}
    elif data == "mismatch":
        payload = {"tls.crt": h.get(Secret, "root-ca").get(TLS_CERT), "tls.key": other_key_pem()}
    else:
        payload = data  # type: ignore[assignment]
    broken = Secret.new("broken-ca", "default")
    for k, v in payload.items():  # type: ignore[union-attr]
        broken.set(k, v)
    h.store.create(broken)
    h.apply("""
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: broken}
spec: {ca: {secretName: broken-ca}}
""")
    h.settle()
    ready = h.condition(h.get(Issuer, "broken"), "Ready")
    assert ready is not None and ready[:2] == ("False", reason), ready
    assert fragment in ready[2]
    assert "PRIVATE KEY" not in ready[2]


def test_issuer_ref_to_missing_issuer_then_created(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", issuerRef={"name": "later"}))
    h.settle()
    cr = h.get(CertificateRequest, "web-1")
    assert h.condition(cr, "Ready") == (
        "False", "Pending", 'Referenced "Issuer" not found: issuer.cert-manager.io "later" not found'
    )
    h.apply("""
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: later}
spec: {ca: {secretName: root-ca}}
""")
    h.settle()
    assert h.ready("web")[0] == "True"


def test_issuer_only_serves_its_namespace(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"), namespace="other")
    h.settle()
    cr = h.get(CertificateRequest, "web-1", "other")
    ready = h.condition(cr, "Ready")
    assert ready is not None and ready[1] == "Pending" and "not found" in ready[2]
    assert h.store.try_get(Secret, "other", "web") is None


def test_cluster_issuer_reads_cluster_resource_namespace(tmp_path: Path) -> None:
    h = Harness(tmp_path, cluster_resource_namespace="certs-system")
    try:
        h.apply("""
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: root-ca, namespace: certs-system}
spec:
  isCA: true
  commonName: Root
  secretName: root-ca
  issuerRef: {name: selfsigned, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: ca}
spec: {ca: {secretName: root-ca}}
""")
        h.apply(leaf_certificate("web", issuerRef={"name": "ca", "kind": "ClusterIssuer"}), namespace="apps")
        h.settle()
        assert h.ready("web", "apps")[0] == "True"
        h.assert_pair_matches("web", "apps")
    finally:
        h.close()


# -- duplicates, back-off ------------------------------------------------------------

def test_two_certificates_naming_one_secret(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("first", secret="shared"))
    h.clock.advance(dt.timedelta(seconds=1))
    h.apply(leaf_certificate("second", secret="shared", dnsNames=["second.example.test"]))
    h.settle()
    assert h.ready("first")[0] == "True"
    second = h.ready("second")
    assert second is not None and second[:2] == ("False", "IncorrectCertificate")
    assert h.get(Secret, "shared").annotations()[ANN_CERTIFICATE_NAME] == "first"
    assert h.requests("second") == []
    h.assert_pair_matches("shared")
    # the loser keeps being ignored; nothing flips back and forth
    h.advance(dt.timedelta(minutes=10))
    assert h.get(Secret, "shared").annotations()[ANN_CERTIFICATE_NAME] == "first"
    assert h.cert("first").status.revision == 1  # type: ignore[union-attr]


def approve(h: Harness, cr: CertificateRequest) -> None:
    cr.status = cr.status or CertificateRequestStatus()
    cr.status.conditions = set_condition(cr.status.conditions, "Approved", "True", "Test", "ok", h.clock.now())
    h.store.update_status(cr)


def deny(h: Harness, name: str) -> None:
    cr = h.get(CertificateRequest, name)
    cr.status = cr.status or CertificateRequestStatus()
    cr.status.conditions = set_condition(cr.status.conditions, "Denied", "True", "Test", "denied by test", h.clock.now())
    h.store.update_status(cr)


def test_denied_request_fails_issuance_with_backoff(tmp_path: Path) -> None:
    h = Harness(tmp_path, approve_requests=False)
    try:
        h.apply(CA_SETUP)
        # approve the CA's own request by hand
        h.settle()
        for cr in h.store.list(CertificateRequest, "default"):
            approve(h, cr)
        h.settle()
        assert h.ready("root-ca")[0] == "True"

        h.apply(leaf_certificate("web"))
        h.settle()
        deny(h, "web-1")
        h.settle()
        cert = h.cert("web")
        assert cert.status.failed_issuance_attempts == 1  # type: ignore[union-attr]
        assert cert.status.last_failure_time == "2026-03-01T12:00:00Z"  # type: ignore[union-attr]
        issuing = h.condition(cert, "Issuing")
        # the Denied condition's own reason and message, as cert-manager reports them
        assert issuing == ("False", "Test", "The certificate request has failed to complete and will be "
                           "retried: denied by test")
        assert h.condition(h.get(CertificateRequest, "web-1"), "Ready")[1] == "Denied"  # type: ignore[index]

        # 1h back-off: nothing new before it ends
        h.advance(dt.timedelta(minutes=59))
        assert h.condition(h.cert("web"), "Issuing")[0] == "False"  # type: ignore[index]
        h.advance(dt.timedelta(minutes=1))
        assert h.condition(h.cert("web"), "Issuing")[0] == "True"  # type: ignore[index]
        # the failed request of this revision was replaced by a fresh one
        cr = h.get(CertificateRequest, "web-1")
        assert h.condition(cr, "Denied") is None
        deny(h, "web-1")
        h.settle()
        assert h.cert("web").status.failed_issuance_attempts == 2  # type: ignore[union-attr]
        # second back-off is 2h
        h.advance(dt.timedelta(hours=1, minutes=59))
        assert h.condition(h.cert("web"), "Issuing")[0] == "False"  # type: ignore[index]
        h.advance(dt.timedelta(minutes=1))
        assert h.condition(h.cert("web"), "Issuing")[0] == "True"  # type: ignore[index]
    finally:
        h.close()


def test_backoff_caps_at_32h(tmp_path: Path) -> None:
    from certkeeper.controllers.certificates.trigger import TriggerController

    h = Harness(tmp_path)
    try:
        trigger = next(c for c in h.manager.controllers if isinstance(c, TriggerController))
        failed = START
        for attempts, hours in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 32), (20, 32)]:
            remaining = trigger.backoff_remaining(failed, attempts)
            assert remaining == dt.timedelta(hours=hours)
    finally:
        h.close()


def test_manual_renew_bypasses_nothing_but_reissues(h: Harness) -> None:
    issued(h)
    cert = h.cert("web")
    cert.status.conditions = set_condition(  # type: ignore[union-attr]
        cert.status.conditions,  # type: ignore[union-attr]
        "Issuing", "True", "ManuallyTriggered", "Certificate re-issuance manually triggered", h.clock.now(),
    )
    h.store.update_status(cert)
    h.settle()
    assert h.cert("web").status.revision == 2  # type: ignore[union-attr]
    h.assert_pair_matches("web")


def test_certificate_deleted_cleans_requests_and_keeps_secret(h: Harness) -> None:
    issued(h)
    h.store.delete(Certificate, "default", "web")
    h.settle()
    assert h.store.list(CertificateRequest, "default") == [
        cr for cr in h.store.list(CertificateRequest, "default") if cr.name.startswith("root-ca")
    ]
    # without --enable-certificate-owner-ref the Secret is left behind, as in cert-manager
    assert h.store.try_get(Secret, "default", "web") is not None


def test_issue_temporary_certificate_while_request_pending(tmp_path: Path) -> None:
    h = Harness(tmp_path, approve_requests=False)
    try:
        h.apply(CA_SETUP)
        h.settle()
        for cr in h.store.list(CertificateRequest, "default"):
            approve(h, cr)
        h.settle()
        h.apply(leaf_certificate("web"))
        cert = h.cert("web")
        cert.metadata.annotations = {"cert-manager.io/issue-temporary-certificate": "true"}
        h.store.update(cert)
        h.settle()
        temp = h.leaf("web")
        assert temp.issuer.rfc4514_string() == "CN=cert-manager.local"
        h.assert_pair_matches("web")
        secret = h.get(Secret, "web")
        assert secret.get("ca.crt") is None
        approve(h, h.get(CertificateRequest, "web-1"))
        h.settle()
        real = h.leaf("web")
        assert real.issuer.rfc4514_string() == "CN=Test Root CA"
        h.assert_pair_matches("web")
        assert h.ready("web")[0] == "True"
    finally:
        h.close()
