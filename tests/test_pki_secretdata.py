"""Secret detail annotations, additional output formats and keystores, decoded back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certkeeper.api.certificate import (
    CertificateAdditionalOutputFormat,
    CertificateKeystores,
    CertificatePrivateKey,
    CertificateRequestSpec,
    CertificateSpec,
)
from certkeeper.pki.chain import encode_certificates, normalize_chain
from certkeeper.pki.csr import build_csr, decode_csr
from certkeeper.pki.errors import PKIError
from certkeeper.pki.inspect import describe_certificate_pem
from certkeeper.pki.keys import PrivateKey, encode_private_key, generate_private_key, public_keys_equal
from certkeeper.pki.secretdata import (
    additional_output_formats,
    build_keystores,
    certificate_annotations,
    join_csv,
)
from certkeeper.pki.sign import sign_certificate

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _issue(
    s: dict[str, Any], signer: tuple[PrivateKey, x509.Certificate] | None
) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_private_key(CertificatePrivateKey(algorithm="ECDSA"))
    spec = CertificateSpec.model_validate(s)
    csr = decode_csr(build_csr(spec, key))
    req = CertificateRequestSpec.model_validate({"isCA": spec.is_ca})
    if signer is None:
        return key, sign_certificate(req, csr, key, None, NOW)
    return key, sign_certificate(req, csr, signer[0], signer[1], NOW)


@pytest.fixture(scope="module")
def issued() -> dict[str, Any]:
    root = _issue({"commonName": "Root", "isCA": True}, None)
    inter = _issue({"commonName": "Inter", "isCA": True}, root)
    leaf = _issue(
        {
            "commonName": "leaf.example",
            "dnsNames": ["leaf.example", "www.leaf.example"],
            "ipAddresses": ["10.0.0.1", "2001:db8::1"],
            "uris": ["spiffe://td/ns/a"],
            "emailAddresses": ["a@example.com"],
            "subject": {
                "organizations": ["Acme, Inc.", 'The "Best"'],
                "organizationalUnits": ["Web"],
                "countries": ["DE"],
                "serialNumber": "1234",
            },
        },
        inter,
    )
    chain_pem, ca_pem = normalize_chain([leaf[1], inter[1], root[1]])
    return {"root": root, "inter": inter, "leaf": leaf, "chain_pem": chain_pem, "ca_pem": ca_pem}


def test_join_csv_quotes_like_go() -> None:
    assert join_csv([]) == ""
    assert join_csv(["a", "b"]) == "a,b"
    assert join_csv(["a,b", 'say "hi"', " lead", "", "x\ny"]) == '"a,b","say ""hi"""," lead",,"x\ny"'


def test_certificate_annotations_from_leaf(issued: dict[str, Any]) -> None:
    ann = certificate_annotations(issued["leaf"][1])
    assert ann == {
        "cert-manager.io/common-name": "leaf.example",
        "cert-manager.io/alt-names": "leaf.example,www.leaf.example",
        "cert-manager.io/ip-sans": "10.0.0.1,2001:db8::1",
        "cert-manager.io/uri-sans": "spiffe://td/ns/a",
        "cert-manager.io/email-sans": "a@example.com",
        # multi-valued RDN members are DER-sorted (Go does the same), UTF8String before PrintableString
        "cert-manager.io/subject-organizations": '"The ""Best""","Acme, Inc."',
        "cert-manager.io/subject-organizationalunits": "Web",
        "cert-manager.io/subject-countries": "DE",
        "cert-manager.io/subject-serialnumber": "1234",
    }


def test_annotations_always_present_even_when_empty(issued: dict[str, Any]) -> None:
    ann = certificate_annotations(issued["root"][1])
    assert ann == {
        "cert-manager.io/common-name": "Root",
        "cert-manager.io/alt-names": "",
        "cert-manager.io/ip-sans": "",
        "cert-manager.io/uri-sans": "",
    }


def test_additional_output_formats(issued: dict[str, Any]) -> None:
    key = issued["leaf"][0]
    key_pem = encode_private_key(key, "PKCS1")
    out = additional_output_formats(
        [
            CertificateAdditionalOutputFormat(type="DER"),
            CertificateAdditionalOutputFormat(type="CombinedPEM"),
        ],
        key_pem,
        issued["chain_pem"],
    )
    assert out["key.der"] == key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert out["tls-combined.pem"] == key_pem + b"\n" + issued["chain_pem"]
    assert additional_output_formats(None, key_pem, issued["chain_pem"]) == {}


@pytest.mark.parametrize("profile", [None, "LegacyRC2", "LegacyDES", "Modern2023"])
def test_pkcs12_keystore_and_truststore(issued: dict[str, Any], profile: str | None) -> None:
    key, leaf = issued["leaf"]
    ks = CertificateKeystores.model_validate(
        {"pkcs12": {"create": True, "password": "pw", "profile": profile}}
    )
    out = build_keystores(ks, key, issued["chain_pem"], issued["ca_pem"], None, "pw")
    assert set(out) == {"keystore.p12", "truststore.p12"}
    loaded = pkcs12.load_pkcs12(out["keystore.p12"], b"pw")
    assert loaded.key is not None and public_keys_equal(loaded.key, key)
    assert loaded.cert is not None and loaded.cert.certificate == leaf
    assert [c.certificate for c in loaded.additional_certs] == [issued["inter"][1], issued["root"][1]]
    trust = pkcs12.load_pkcs12(out["truststore.p12"], b"pw")
    assert trust.key is None
    assert [c.certificate for c in trust.additional_certs] == [issued["root"][1]]
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(out["keystore.p12"], b"wrong")


def test_jks_keystore_and_truststore(issued: dict[str, Any]) -> None:
    key, leaf = issued["leaf"]
    ks = CertificateKeystores.model_validate(
        {"jks": {"create": True, "password": "changeit", "alias": "mykey"}}
    )
    out = build_keystores(ks, key, issued["chain_pem"], issued["ca_pem"], "changeit", None)
    assert set(out) == {"keystore.jks", "truststore.jks"}
    store = jks.KeyStore.loads(out["keystore.jks"], "changeit")
    assert set(store.entries) == {"mykey", "ca"}
    entry = store.private_keys["mykey"]
    assert entry.is_decrypted()
    der_key = serialization.load_der_private_key(entry.pkey_pkcs8, None)
    assert public_keys_equal(der_key, key)
    chain = [x509.load_der_x509_certificate(c[1]) for c in entry.cert_chain]
    assert chain == [leaf, issued["inter"][1]]
    assert x509.load_der_x509_certificate(store.certs["ca"].cert) == issued["root"][1]
    trust = jks.KeyStore.loads(out["truststore.jks"], "changeit")
    assert set(trust.entries) == {"ca"}


def test_jks_default_alias_and_multiple_cas_and_no_truststore_without_ca(issued: dict[str, Any]) -> None:
    key, leaf = issued["leaf"]
    ks = CertificateKeystores.model_validate({"jks": {"create": True, "password": "pw"}})
    ca_bundle = encode_certificates([issued["root"][1], issued["inter"][1]])
    out = build_keystores(ks, key, issued["chain_pem"], ca_bundle, "pw", None)
    store = jks.KeyStore.loads(out["keystore.jks"], "pw")
    assert set(store.entries) == {"certificate", "ca", "ca-1"}
    no_ca = build_keystores(ks, key, issued["chain_pem"], None, "pw", None)
    assert set(no_ca) == {"keystore.jks"}


def test_keystores_disabled_or_missing_password(issued: dict[str, Any]) -> None:
    key = issued["leaf"][0]
    off = CertificateKeystores.model_validate({"pkcs12": {"create": False, "password": "x"}})
    assert build_keystores(off, key, issued["chain_pem"], issued["ca_pem"], None, None) == {}
    assert build_keystores(None, key, issued["chain_pem"], issued["ca_pem"], None, None) == {}
    on = CertificateKeystores.model_validate({"pkcs12": {"create": True, "password": "x"}})
    with pytest.raises(PKIError):
        build_keystores(on, key, issued["chain_pem"], issued["ca_pem"], None, None)


def test_describe_certificate_pem(issued: dict[str, Any]) -> None:
    text = describe_certificate_pem(issued["chain_pem"])
    assert "- leaf.example" in text
    assert "- 10.0.0.1" in text
    assert "Common Name:\t\tInter" in text
    assert "Is a CA certificate:\tfalse" in text
    assert "ECDSA 256 bit" in text
    assert "Not After:\tSat, 30 May 2026 00:00:00 UTC" in text
    assert "1: CN=Inter (intermediate)" in text
