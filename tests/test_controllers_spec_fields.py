"""The rest of the Certificate spec, end to end through the controllers: otherNames,
literalSubject, nameConstraints, secretTemplate, keystores, additional output formats,
encodeUsagesInRequest and signatureAlgorithm. Each decodes what was written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import jks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID, ObjectIdentifier

from certkeeper.api.certificate import CertificateRequest, CertificateSecretTemplate
from certkeeper.api.core import CA_CERT, TLS_CERT, TLS_KEY, Secret
from certkeeper.api.loader import load_documents
from certkeeper.pki.chain import parse_certificates

from .harness import BACKENDS, CA_SETUP, Harness, leaf_certificate

UPN = "1.3.6.1.4.1.311.20.2.3"

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture(params=BACKENDS)
def h(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    harness = Harness(tmp_path, cluster)
    harness.apply(CA_SETUP)
    harness.settle()
    yield harness
    harness.close()


def password_secret(h: Harness, name: str, **data: str) -> None:
    secret = Secret.new(name, "default")
    for k, v in data.items():
        secret.set(k, v.encode())
    h.store.create(secret)


def test_other_names_in_san(h: Harness) -> None:
    h.apply(leaf_certificate("upn", otherNames=[{"oid": UPN, "utf8Value": "user@example.test"}]))
    h.settle()
    san = h.leaf("upn").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    others = san.get_values_for_type(x509.OtherName)
    assert len(others) == 1
    assert others[0].type_id == ObjectIdentifier(UPN)
    # DER UTF8String: tag 0x0c, length, bytes
    assert others[0].value == b"\x0c\x11user@example.test"
    assert san.get_values_for_type(x509.DNSName) == ["upn.example.test"]


def test_literal_subject_kept_in_order_with_numeric_oid(h: Harness) -> None:
    h.apply(leaf_certificate("lit", literalSubject="CN=lit,OU=Ops+OU=Dev,O=Example,1.2.3.4=custom,C=NL"))
    h.settle()
    subject = h.leaf("lit").subject
    # RFC 4514 strings list the most specific RDN first; the certificate stores it last
    rdns = list(subject.rdns)
    assert len(rdns) == 5
    assert rdns[0].get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "NL"
    assert rdns[1].get_attributes_for_oid(ObjectIdentifier("1.2.3.4"))[0].value == "custom"
    assert rdns[-1].get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "lit"


def test_name_constraints_on_ca(h: Harness) -> None:
    h.apply(
        leaf_certificate(
            "subca",
            isCA=True,
            commonName="Sub CA",
            nameConstraints={
                "critical": True,
                "permitted": {"dnsDomains": ["example.test"], "ipRanges": ["10.0.0.0/8"],
                              "emailAddresses": ["example.test"], "uriDomains": [".example.test"]},
                "excluded": {"dnsDomains": ["bad.example.test"]},
            },
        )
    )
    h.settle()
    ext = h.leaf("subca").extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    permitted = ext.value.permitted_subtrees or []
    assert x509.DNSName("example.test") in permitted
    assert x509.RFC822Name("example.test") in permitted
    assert x509.UniformResourceIdentifier(".example.test") in permitted
    assert any(isinstance(p, x509.IPAddress) and str(p.value) == "10.0.0.0/8" for p in permitted)
    assert ext.value.excluded_subtrees == [x509.DNSName("bad.example.test")]


def test_secret_template_kept_in_step_without_reissuing(h: Harness) -> None:
    h.apply(leaf_certificate("web", secretTemplate={"labels": {"app": "web"}, "annotations": {"team": "a"}}))
    h.settle()
    secret = h.get(Secret, "web")
    assert secret.labels()["app"] == "web"
    assert secret.annotations()["team"] == "a"
    serial = h.leaf("web").serial_number

    cert = h.cert("web")
    cert.spec.secret_template.labels = {"tier": "front"}  # type: ignore[union-attr]
    cert.spec.secret_template.annotations = {"team": "b"}  # type: ignore[union-attr]
    h.store.update(cert)
    h.settle()
    secret = h.get(Secret, "web")
    assert secret.labels().get("tier") == "front"
    assert "app" not in secret.labels(), "a label the template no longer has must go"
    assert secret.annotations()["team"] == "b"
    assert secret.labels()["controller.cert-manager.io/fao"] == "true"
    assert h.leaf("web").serial_number == serial
    assert [cr.name for cr in h.requests("web")] == ["web-1"]
    assert h.cert("web").status.revision == 1  # type: ignore[union-attr]


def test_secret_template_cannot_override_cert_manager_annotations(h: Harness) -> None:
    h.apply(leaf_certificate("web", secretTemplate={"annotations": {"team": "a"}}))
    h.settle()
    secret = h.get(Secret, "web")
    assert secret.annotations()["cert-manager.io/certificate-name"] == "web"


def test_keys_added_by_others_survive_and_ours_are_removed(h: Harness) -> None:
    h.apply(leaf_certificate("web", additionalOutputFormats=[{"type": "CombinedPEM"}, {"type": "DER"}]))
    h.settle()
    secret = h.get(Secret, "web")
    key_pem = secret.get(TLS_KEY) or b""
    chain = secret.get(TLS_CERT) or b""
    assert secret.get("tls-combined.pem") == key_pem + b"\n" + chain
    der = serialization.load_pem_private_key(key_pem, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert secret.get("key.der") == der
    # someone else's key on the same Secret
    secret.set("extra", b"mine")
    h.store.update(secret)
    cert = h.cert("web")
    cert.spec.additional_output_formats = None
    h.store.update(cert)
    h.settle()
    secret = h.get(Secret, "web")
    assert secret.get("tls-combined.pem") is None
    assert secret.get("key.der") is None
    assert secret.get("extra") == b"mine"
    assert h.cert("web").status.revision == 1  # type: ignore[union-attr]


def test_pkcs12_and_jks_keystores(h: Harness) -> None:
    password_secret(h, "jks-pass", password="jks-secret")
    h.apply(
        leaf_certificate(
            "java",
            keystores={
                "pkcs12": {"create": True, "password": "p12-secret", "profile": "Modern2023"},
                "jks": {"create": True, "alias": "server", "passwordSecretRef": {"name": "jks-pass", "key": "password"}},
            },
        )
    )
    h.settle()
    secret = h.get(Secret, "java")
    leaf = h.leaf("java")
    root = parse_certificates(secret.get(CA_CERT) or b"")[0]
    p12 = pkcs12.load_pkcs12(secret.get("keystore.p12") or b"", b"p12-secret")
    assert p12.cert is not None and p12.cert.certificate == leaf
    assert [c.certificate for c in p12.additional_certs] == [root]
    trust = pkcs12.load_pkcs12(secret.get("truststore.p12") or b"", b"p12-secret")
    assert [c.certificate for c in trust.additional_certs] == [root]

    ks = jks.KeyStore.loads(secret.get("keystore.jks") or b"", "jks-secret")
    entry = ks.private_keys["server"]
    assert x509.load_der_x509_certificate(entry.cert_chain[0][1]) == leaf
    assert "ca" in ks.certs
    ts = jks.KeyStore.loads(secret.get("truststore.jks") or b"", "jks-secret")
    assert x509.load_der_x509_certificate(ts.certs["ca"].cert) == root


def test_keystore_password_change_reencodes_without_reissuing(h: Harness) -> None:
    password_secret(h, "p12-pass", password="first")
    h.apply(leaf_certificate("java", keystores={"pkcs12": {"create": True, "passwordSecretRef": {"name": "p12-pass", "key": "password"}}}))
    h.settle()
    serial = h.leaf("java").serial_number
    pkcs12.load_pkcs12(h.get(Secret, "java").get("keystore.p12") or b"", b"first")

    pw = h.get(Secret, "p12-pass")
    pw.set("password", b"second")
    h.store.update(pw)
    h.settle()
    secret = h.get(Secret, "java")
    p12 = pkcs12.load_pkcs12(secret.get("keystore.p12") or b"", b"second")
    assert p12.cert is not None and p12.cert.certificate.serial_number == serial
    assert h.cert("java").status.revision == 1  # type: ignore[union-attr]


def test_keystore_disabled_removes_keys(h: Harness) -> None:
    h.apply(leaf_certificate("java", keystores={"pkcs12": {"create": True, "password": "x"}}))
    h.settle()
    assert h.get(Secret, "java").get("keystore.p12")
    cert = h.cert("java")
    cert.spec.keystores.pkcs12.create = False  # type: ignore[union-attr]
    h.store.update(cert)
    h.settle()
    secret = h.get(Secret, "java")
    assert secret.get("keystore.p12") is None and secret.get("truststore.p12") is None
    assert secret.get(TLS_CERT)


def test_missing_password_secret_waits_with_a_clear_condition(h: Harness) -> None:
    h.apply(leaf_certificate("java", keystores={"jks": {"create": True, "passwordSecretRef": {"name": "later", "key": "pw"}}}))
    h.settle()
    issuing = h.condition(h.cert("java"), "Issuing")
    assert issuing is not None and issuing[:2] == ("True", "KeystorePasswordSecretNotFound")
    assert 'keystore password Secret "later" not found' in issuing[2]
    assert h.store.try_get(Secret, "default", "java") is None
    # a Secret without the named key is no better
    password_secret(h, "later", other="x")
    h.settle()
    issuing = h.condition(h.cert("java"), "Issuing")
    assert issuing is not None and 'has no data for key "pw"' in issuing[2]
    pw = h.get(Secret, "later")
    pw.set("pw", b"finally")
    h.store.update(pw)
    h.settle()
    assert h.ready("java")[0] == "True"
    jks.KeyStore.loads(h.get(Secret, "java").get("keystore.jks") or b"", "finally")


def test_password_secret_deleted_leaves_existing_secret_untouched(h: Harness) -> None:
    password_secret(h, "p", pw="one")
    h.apply(leaf_certificate("java", keystores={"pkcs12": {"create": True, "passwordSecretRef": {"name": "p", "key": "pw"}}}))
    h.settle()
    before = h.get(Secret, "java")
    h.store.delete(Secret, "default", "p")
    cert = h.cert("java")
    cert.spec.secret_template = CertificateSecretTemplate(labels={"tier": "front"})
    h.store.update(cert)
    h.settle()
    after = h.get(Secret, "java")
    assert after.data == before.data
    assert "tier" not in after.labels(), "nothing is applied while the keystore cannot be built"
    password_secret(h, "p", pw="two")
    h.settle()
    after = h.get(Secret, "java")
    assert after.labels()["tier"] == "front"
    pkcs12.load_pkcs12(after.get("keystore.p12") or b"", b"two")
    assert h.cert("java").status.revision == 1  # type: ignore[union-attr]


def test_encode_usages_in_request_false_and_signature_algorithm(h: Harness) -> None:
    h.apply(leaf_certificate("plain", encodeUsagesInRequest=False, usages=["server auth"],
                             privateKey={"algorithm": "RSA", "size": 2048}, signatureAlgorithm="SHA384WithRSA"))
    h.settle()
    cr = h.get(CertificateRequest, "plain-1")
    csr = x509.load_pem_x509_csr(cr.spec.request or b"")
    for ext_type in (x509.KeyUsage, x509.ExtendedKeyUsage):
        with pytest.raises(x509.ExtensionNotFound):
            csr.extensions.get_extension_for_class(ext_type)
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA384)
    # the issued certificate still carries the usages, from the request's spec
    eku = h.leaf("plain").extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]


def test_changing_only_encoding_does_not_reissue(h: Harness) -> None:
    h.apply(leaf_certificate("enc"))
    h.settle()
    cert = h.cert("enc")
    cert.spec.private_key.encoding = "PKCS8"  # type: ignore[union-attr]
    h.store.update(cert)
    h.advance(dt.timedelta(minutes=5))
    assert h.cert("enc").status.revision == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"literalSubject": "CN=x,FOO=bar"}, "spec.literalSubject"),
        ({"literalSubject": "CN=x", "commonName": "x"}, "spec.commonName"),
        ({"otherNames": [{"oid": "1.2.x", "utf8Value": "v"}]}, "spec.otherNames[0].oid"),
        ({"nameConstraints": {"permitted": {"dnsDomains": ["a"]}}}, "spec.nameConstraints"),
        ({"keystores": {"jks": {"create": True, "password": "a", "passwordSecretRef": {"name": "s", "key": "k"}}}},
         "spec.keystores.jks"),
    ],
)
def test_bad_spec_fields_are_refused_with_their_path(spec: dict[str, object], path: str) -> None:
    result = load_documents(leaf_certificate("bad", **spec))
    assert result.errors
    assert any(path in e for e in result.errors), result.errors
