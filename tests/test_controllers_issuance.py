"""Issuance, renewal, rotation and revision clean-up through the real controllers and
store, stepped with an injected clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certkeeper.api.certificate import CertificateRequest
from certkeeper.api.constants import (
    ANN_CERTIFICATE_NAME,
    ANN_ISSUER_NAME,
    ANN_REVISION,
    LABEL_NEXT_PRIVATE_KEY,
)
from certkeeper.api.core import CA_CERT, TLS_CERT, TLS_KEY, Secret
from certkeeper.api.issuer import Issuer
from certkeeper.pki.chain import parse_certificates

from .harness import BACKENDS, CA_SETUP, START, Harness, leaf_certificate

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture(params=BACKENDS)
def h(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    harness = Harness(tmp_path, cluster)
    yield harness
    harness.close()


def test_ca_bootstrap_and_leaf_issued_from_ca(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.settle()
    assert h.ready("root-ca") == ("True", "Ready", "Certificate is up to date and has not expired")
    issuer = h.get(Issuer, "ca")
    assert h.condition(issuer, "Ready") == ("True", "KeyPairVerified", "Signing CA verified")

    h.apply(leaf_certificate("web", duration="24h"))
    h.settle()
    assert h.ready("web")[0] == "True"
    secret = h.get(Secret, "web")
    chain = parse_certificates(secret.get(TLS_CERT) or b"")
    root = parse_certificates(h.get(Secret, "root-ca").get(TLS_CERT) or b"")[0]
    # tls.crt is the leaf only (the root is never in it); ca.crt is the root
    assert len(chain) == 1
    leaf = chain[0]
    assert leaf.issuer == root.subject
    assert parse_certificates(secret.get(CA_CERT) or b"")[0] == root
    leaf.verify_directly_issued_by(root)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web.example.test"]
    # exactly the requested duration, not back-dated
    assert leaf.not_valid_before_utc == START
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(hours=24)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    h.assert_pair_matches("web")
    assert (secret.get(TLS_KEY) or b"").startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert secret.type == "kubernetes.io/tls"
    ann = secret.annotations()
    assert ann[ANN_CERTIFICATE_NAME] == "web"
    assert ann[ANN_ISSUER_NAME] == "ca"
    assert ann["cert-manager.io/alt-names"] == "web.example.test"
    assert secret.labels()["controller.cert-manager.io/fao"] == "true"

    cert = h.cert("web")
    assert cert.status is not None
    assert cert.status.revision == 1
    assert cert.status.not_after == "2026-03-02T12:00:00Z"
    # default renewal at two thirds of the lifetime
    assert cert.status.renewal_time == "2026-03-02T04:00:00Z"
    assert h.condition(cert, "Issuing") is None
    assert cert.status.next_private_key_secret_name is None
    # the temporary key Secret is gone
    assert h.store.list(Secret, "default", {LABEL_NEXT_PRIVATE_KEY: "true"}) == []
    crs = h.requests("web")
    assert [cr.name for cr in crs] == ["web-1"]
    assert crs[0].annotations()[ANN_REVISION] == "1"
    assert h.condition(crs[0], "Approved")[:2] == ("True", "cert-manager.io")


def test_self_signed_secret_has_ca_equal_to_certificate(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.settle()
    secret = h.get(Secret, "root-ca")
    assert secret.get(CA_CERT) == secret.get(TLS_CERT)
    root = parse_certificates(secret.get(TLS_CERT) or b"")[0]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ku = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.digital_signature and ku.key_encipherment


@pytest.mark.parametrize(
    ("private_key", "check"),
    [
        ({"algorithm": "RSA", "size": 2048}, lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048),
        ({"algorithm": "RSA", "size": 3072}, lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 3072),
        ({"algorithm": "ECDSA", "size": 384}, lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp384r1"),
        ({"algorithm": "ECDSA", "size": 521}, lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp521r1"),
        ({"algorithm": "Ed25519"}, lambda k: k.__class__.__name__.endswith("Ed25519PublicKey")),
    ],
)
def test_key_algorithms(h: Harness, private_key: dict[str, object], check: object) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("k", privateKey=private_key))
    h.settle()
    assert h.ready("k")[0] == "True"
    assert check(h.leaf("k").public_key())  # type: ignore[operator]
    h.assert_pair_matches("k")


def test_pkcs8_encoding(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("p8", privateKey={"algorithm": "RSA", "encoding": "PKCS8"}))
    h.settle()
    key = h.get(Secret, "p8").get(TLS_KEY) or b""
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_renewal_at_renewal_time_with_rotation_always(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", duration="24h", renewBefore="8h"))
    h.settle()
    first = h.leaf("web")
    first_key = h.get(Secret, "web").get(TLS_KEY)
    assert h.cert("web").status.renewal_time == "2026-03-02T04:00:00Z"  # type: ignore[union-attr]

    h.advance(dt.timedelta(hours=15, minutes=59))
    assert h.leaf("web").serial_number == first.serial_number, "renewed too early"

    h.advance(dt.timedelta(minutes=1))
    second = h.leaf("web")
    assert second.serial_number != first.serial_number
    assert second.not_valid_before_utc == START + dt.timedelta(hours=16)
    assert h.get(Secret, "web").get(TLS_KEY) != first_key, "rotationPolicy Always must rotate the key"
    h.assert_pair_matches("web")
    cert = h.cert("web")
    assert cert.status.revision == 2  # type: ignore[union-attr]
    assert h.ready("web")[0] == "True"
    # revisionHistoryLimit defaults to 1: only the newest request is kept
    assert [cr.name for cr in h.requests("web")] == ["web-2"]


def test_rotation_policy_never_keeps_the_key(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", duration="24h", privateKey={"algorithm": "ECDSA", "rotationPolicy": "Never"}))
    h.settle()
    key = h.get(Secret, "web").get(TLS_KEY)
    serial = h.leaf("web").serial_number
    h.advance(dt.timedelta(hours=17))
    assert h.leaf("web").serial_number != serial
    assert h.get(Secret, "web").get(TLS_KEY) == key
    h.assert_pair_matches("web")


def test_revision_history_limit(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", duration="3h", revisionHistoryLimit=3))
    h.settle()
    for _ in range(4):
        h.advance(dt.timedelta(hours=2, minutes=1))
    assert h.cert("web").status.revision == 5  # type: ignore[union-attr]
    assert [cr.name for cr in h.requests("web")] == ["web-3", "web-4", "web-5"]


def test_renew_before_percentage(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", duration="100h", renewBeforePercentage=25))
    h.settle()
    assert h.cert("web").status.renewal_time == "2026-03-04T15:00:00Z"  # type: ignore[union-attr]


def test_spec_change_reissues_with_request_changed(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    cert = h.cert("web")
    cert.spec.dns_names = ["web.example.test", "www.example.test"]
    h.store.update(cert)
    # step only the trigger to observe the reason it gives
    trigger = next(c for c in h.manager.controllers if c.name == "certificates-trigger")
    trigger.reconcile(("default", "web"))
    issuing = h.condition(h.cert("web"), "Issuing")
    assert issuing is not None
    assert issuing[:2] == ("True", "RequestChanged")
    assert "spec.dnsNames" in issuing[2]
    h.settle()
    san = h.leaf("web").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == ["web.example.test", "www.example.test"]
    assert h.cert("web").status.revision == 2  # type: ignore[union-attr]


def test_request_annotations_and_spec(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", usages=["server auth", "digital signature"], duration="48h"))
    h.settle()
    cr = h.get(CertificateRequest, "web-1")
    ann = cr.annotations()
    assert ann["cert-manager.io/certificate-name"] == "web"
    assert ann["cert-manager.io/certificate-revision"] == "1"
    assert ann["cert-manager.io/private-key-secret-name"].startswith("web-")
    assert cr.spec.usages == ["server auth", "digital signature"]
    assert cr.spec.duration == "48h"
    assert cr.controller_ref() is not None and cr.controller_ref().kind == "Certificate"  # type: ignore[union-attr]
    leaf = h.leaf("web")
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]


def test_default_usages_have_no_extended_key_usage(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    leaf = h.leaf("web")
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_subject_and_all_san_types(h: Harness) -> None:
    h.apply(CA_SETUP)
    h.apply(
        leaf_certificate(
            "full",
            commonName="full.example.test",
            ipAddresses=["192.0.2.1", "2001:db8::1"],
            uris=["spiffe://example.test/ns/default"],
            emailAddresses=["ops@example.test"],
            subject={"organizations": ["Example Org"], "countries": ["NL"], "serialNumber": "42"},
        )
    )
    h.settle()
    leaf = h.leaf("full")
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "full.example.test"
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "Example Org"
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value == "42"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.1", "2001:db8::1"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://example.test/ns/default"]
    assert san.get_values_for_type(x509.RFC822Name) == ["ops@example.test"]
    ann = h.get(Secret, "full").annotations()
    assert ann["cert-manager.io/ip-sans"] == "192.0.2.1,2001:db8::1"
    assert ann["cert-manager.io/subject-organizations"] == "Example Org"


def test_intermediate_ca_chain(h: Harness) -> None:
    """root CA -> intermediate CA Issuer -> leaf: tls.crt is leaf + intermediate (never the
    root), ca.crt is the root."""
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("intermediate", isCA=True, commonName="Intermediate CA", dnsNames=None))
    h.apply("""
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: intermediate}
spec: {ca: {secretName: intermediate}}
""")
    h.apply(leaf_certificate("leaf", issuerRef={"name": "intermediate"}))
    h.settle()
    assert h.ready("leaf")[0] == "True"
    secret = h.get(Secret, "leaf")
    chain = parse_certificates(secret.get(TLS_CERT) or b"")
    root = parse_certificates(h.get(Secret, "root-ca").get(TLS_CERT) or b"")[0]
    intermediate = parse_certificates(h.get(Secret, "intermediate").get(TLS_CERT) or b"")
    assert len(intermediate) == 1 and intermediate[0].issuer == root.subject
    assert [c.subject for c in chain] == [chain[0].subject, intermediate[0].subject]
    chain[0].verify_directly_issued_by(intermediate[0])
    assert parse_certificates(secret.get(CA_CERT) or b"") == [root]
    assert root not in chain
