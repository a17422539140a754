"""CSRs built from Certificate specs and certificates signed from them by a real CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkeeper.api.certificate import CertificatePrivateKey, CertificateRequestSpec, CertificateSpec
from certkeeper.pki.csr import build_csr, csr_public_key_matches, decode_csr
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import PrivateKey, generate_private_key
from certkeeper.pki.sign import csr_usages_consistent, sign_certificate

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def spec(d: dict[str, Any]) -> CertificateSpec:
    return CertificateSpec.model_validate(d)


def cr_spec(d: dict[str, Any]) -> CertificateRequestSpec:
    return CertificateRequestSpec.model_validate(d)


def ec_key(size: int = 256) -> PrivateKey:
    return generate_private_key(CertificatePrivateKey(algorithm="ECDSA", size=size))


@pytest.fixture(scope="module")
def ca() -> tuple[PrivateKey, x509.Certificate]:
    key = ec_key(384)
    csr = decode_csr(build_csr(spec({"commonName": "Test Root CA", "isCA": True}), key))
    cert = sign_certificate(cr_spec({"isCA": True, "duration": "8760h"}), csr, key, None, NOW)
    return key, cert


def ext(cert: x509.Certificate | x509.CertificateSigningRequest, cls: type[Any]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(cls)


def test_csr_san_order_types_and_otherName() -> None:
    key = ec_key()
    s = spec(
        {
            "commonName": "a.example",
            "dnsNames": ["a.example", "b.example"],
            "emailAddresses": ["x@example.com"],
            "ipAddresses": ["10.0.0.1", "::1", "::ffff:192.0.2.1"],
            "uris": ["spiffe://cluster/ns/a"],
            "otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "upn@example.com"}],
        }
    )
    csr = decode_csr(build_csr(s, key))
    san = ext(csr, x509.SubjectAlternativeName)
    assert san.critical is False  # subject not empty
    kinds = [type(n).__name__ for n in san.value]
    assert kinds == [
        "DNSName",
        "DNSName",
        "RFC822Name",
        "IPAddress",
        "IPAddress",
        "IPAddress",
        "UniformResourceIdentifier",
        "OtherName",
    ]
    ips = san.value.get_values_for_type(x509.IPAddress)
    assert ips[2] == ipaddress.IPv4Address("192.0.2.1")  # v4-mapped encoded as 4 bytes, like Go's To4
    other = san.value.get_values_for_type(x509.OtherName)[0]
    assert other.value == b"\x0c\x0fupn@example.com"
    assert csr_public_key_matches(build_csr(s, key), key)
    assert not csr_public_key_matches(build_csr(s, key), ec_key())


def test_csr_san_critical_when_subject_empty_and_default_usages() -> None:
    csr = decode_csr(build_csr(spec({"dnsNames": ["only.example"]}), ec_key()))
    assert len(csr.subject) == 0
    assert ext(csr, x509.SubjectAlternativeName).critical is True
    ku = ext(csr, x509.KeyUsage)
    assert ku.critical is True
    assert ku.value.digital_signature and ku.value.key_encipherment and not ku.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        ext(csr, x509.ExtendedKeyUsage)


def test_csr_usages_ca_and_eku_and_encode_usages_false() -> None:
    csr = decode_csr(
        build_csr(
            spec({"commonName": "ca", "isCA": True, "usages": ["server auth", "client auth"]}), ec_key()
        )
    )
    ku = ext(csr, x509.KeyUsage).value
    assert ku.key_cert_sign and ku.digital_signature is False
    assert list(ext(csr, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    bare = decode_csr(build_csr(spec({"commonName": "x", "encodeUsagesInRequest": False}), ec_key()))
    assert [e.oid for e in bare.extensions] == []


def test_csr_name_constraints_criticality() -> None:
    s = spec(
        {
            "commonName": "sub ca",
            "isCA": True,
            "nameConstraints": {
                "critical": True,
                "permitted": {"dnsDomains": ["example.com"], "ipRanges": ["10.0.0.0/8"]},
                "excluded": {"emailAddresses": ["bad@example.com"]},
            },
        }
    )
    nc = ext(decode_csr(build_csr(s, ec_key())), x509.NameConstraints)
    assert nc.critical is True
    assert nc.value.permitted_subtrees == [
        x509.DNSName("example.com"),
        x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
    ]
    assert nc.value.excluded_subtrees == [x509.RFC822Name("bad@example.com")]


@pytest.mark.parametrize(
    ("key_spec", "sig", "hash_name"),
    [
        ({"algorithm": "RSA", "size": 2048}, None, "sha256"),
        ({"algorithm": "RSA", "size": 3072}, None, "sha384"),
        ({"algorithm": "ECDSA", "size": 256}, None, "sha256"),
        ({"algorithm": "ECDSA", "size": 384}, None, "sha384"),
        ({"algorithm": "ECDSA", "size": 521}, None, "sha512"),
        ({"algorithm": "ECDSA", "size": 256}, "ECDSAWithSHA512", "sha512"),
        ({"algorithm": "RSA", "size": 2048}, "SHA384WithRSA", "sha384"),
        ({"algorithm": "Ed25519"}, None, None),
    ],
)
def test_csr_signature_algorithm(key_spec: dict[str, Any], sig: str | None, hash_name: str | None) -> None:
    key = generate_private_key(CertificatePrivateKey.model_validate(key_spec))
    csr = decode_csr(build_csr(spec({"commonName": "x", "signatureAlgorithm": sig}), key))
    h = csr.signature_hash_algorithm
    assert (h.name if h else None) == hash_name


def test_csr_signature_algorithm_must_fit_key() -> None:
    with pytest.raises(PKIError):
        build_csr(spec({"commonName": "x", "signatureAlgorithm": "SHA256WithRSA"}), ec_key())


def test_csr_needs_some_name() -> None:
    with pytest.raises(PKIError, match="no common name"):
        build_csr(spec({"subject": {"organizations": ["o"]}}), ec_key())


def test_decode_csr_rejects_garbage_and_bad_signature() -> None:
    with pytest.raises(PKIError):
        decode_csr(b"garbage")
    good = build_csr(spec({"commonName": "x"}), generate_private_key(None))
    der_b64 = b"".join(good.splitlines()[1:-1])
    # flip a character near the end of the base64 (inside the signature)
    flipped = der_b64[:-10] + (b"A" if der_b64[-10:-9] != b"A" else b"B") + der_b64[-9:]
    bad = b"-----BEGIN CERTIFICATE REQUEST-----\n" + flipped + b"\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(PKIError):
        decode_csr(bad)


def test_sign_leaf_with_ca(ca: tuple[PrivateKey, x509.Certificate]) -> None:
    ca_key, ca_cert = ca
    key = ec_key()
    s = spec(
        {
            "commonName": "leaf.example",
            "subject": {"organizations": ["Acme"], "countries": ["DE"]},
            "dnsNames": ["leaf.example"],
            "otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "u@x"}],
            "usages": ["digital signature", "server auth"],
        }
    )
    csr = decode_csr(build_csr(s, key))
    now = NOW.replace(microsecond=0)
    cert = sign_certificate(
        cr_spec({"duration": "24h", "usages": ["digital signature", "server auth"]}),
        csr,
        ca_key,
        ca_cert,
        now,
        crl_distribution_points=["http://crl.example/ca.crl"],
        ocsp_servers=["http://ocsp.example"],
        issuing_certificate_urls=["http://ca.example/ca.crt"],
    )
    assert cert.not_valid_before_utc == now
    assert cert.not_valid_after_utc == now + dt.timedelta(hours=24)
    assert cert.subject.public_bytes() == csr.subject.public_bytes()
    assert [a.oid for a in cert.subject] == [
        NameOID.COUNTRY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.COMMON_NAME,
    ]
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    assert cert.serial_number > 0 and (cert.serial_number.bit_length() + 8) // 8 <= 20
    san = ext(cert, x509.SubjectAlternativeName)
    assert san.critical is False
    assert san.value.get_values_for_type(x509.OtherName)[0].value == b"\x0c\x03u@x"
    ku = ext(cert, x509.KeyUsage)
    assert (
        ku.critical
        and ku.value.digital_signature
        and not ku.value.key_encipherment
        and not ku.value.key_cert_sign
    )
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False and bc.value.path_length is None
    skid = ext(cert, x509.SubjectKeyIdentifier).value
    assert skid == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    akid = ext(cert, x509.AuthorityKeyIdentifier).value
    assert akid.key_identifier == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)  # CA key is P-384
    aia = ext(cert, x509.AuthorityInformationAccess).value
    assert [str(d.access_location.value) for d in aia] == ["http://ocsp.example", "http://ca.example/ca.crt"]
    crl = ext(cert, x509.CRLDistributionPoints).value
    assert [str(n.value) for dp in crl for n in dp.full_name or []] == ["http://crl.example/ca.crl"]


def test_sign_self_signed_ca_defaults(ca: tuple[PrivateKey, x509.Certificate]) -> None:
    ca_key, ca_cert = ca
    assert ca_cert.issuer == ca_cert.subject
    assert ca_cert.not_valid_after_utc - ca_cert.not_valid_before_utc == dt.timedelta(hours=8760)
    assert ext(ca_cert, x509.BasicConstraints).value.ca is True
    assert ext(ca_cert, x509.KeyUsage).value.key_cert_sign
    skid = ext(ca_cert, x509.SubjectKeyIdentifier).value
    assert ext(ca_cert, x509.AuthorityKeyIdentifier).value.key_identifier == skid.digest
    ca_cert.verify_directly_issued_by(ca_cert)


def test_sign_default_duration_is_90_days_and_empty_subject_makes_san_critical(
    ca: tuple[PrivateKey, x509.Certificate],
) -> None:
    ca_key, ca_cert = ca
    csr = decode_csr(build_csr(spec({"dnsNames": ["x.example"]}), ec_key()))
    cert = sign_certificate(cr_spec({}), csr, ca_key, ca_cert, NOW)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=90)
    assert ext(cert, x509.SubjectAlternativeName).critical is True


def test_sign_signature_hash_follows_signer_key() -> None:
    for signer, expected in [
        (generate_private_key(CertificatePrivateKey(algorithm="RSA", size=4096)), hashes.SHA512),
        (ec_key(256), hashes.SHA256),
        (ec_key(521), hashes.SHA512),
    ]:
        csr = decode_csr(build_csr(spec({"commonName": "self"}), signer))
        cert = sign_certificate(cr_spec({}), csr, signer, None, NOW)
        assert isinstance(cert.signature_hash_algorithm, expected)
        assert isinstance(cert.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    ed = generate_private_key(CertificatePrivateKey(algorithm="Ed25519"))
    cert = sign_certificate(cr_spec({}), decode_csr(build_csr(spec({"commonName": "ed"}), ed)), ed, None, NOW)
    assert cert.signature_hash_algorithm is None
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)


def test_sign_rejects_csr_usages_that_contradict_request(ca: tuple[PrivateKey, x509.Certificate]) -> None:
    ca_key, ca_cert = ca
    csr = decode_csr(build_csr(spec({"commonName": "x", "usages": ["server auth"]}), ec_key()))
    msg = csr_usages_consistent(cr_spec({"usages": ["client auth"]}), csr)
    assert msg is not None and "ExtKeyUsages" in msg
    with pytest.raises(PKIError, match="do not match"):
        sign_certificate(cr_spec({"usages": ["client auth"]}), csr, ca_key, ca_cert, NOW)
    # KU differs: CSR has the defaults, the request asks for a CA
    csr2 = decode_csr(build_csr(spec({"commonName": "x"}), ec_key()))
    msg2 = csr_usages_consistent(cr_spec({"isCA": True}), csr2)
    assert msg2 == (
        "encoded CSR error: the KeyUsages [ 'digital signature', 'key encipherment' ] do not match "
        "the expected KeyUsages [ 'digital signature', 'key encipherment', 'cert sign' ]"
    )
    assert csr_usages_consistent(cr_spec({}), csr2) is None
    # a CSR without usage extensions is consistent with anything
    bare = decode_csr(build_csr(spec({"commonName": "x", "encodeUsagesInRequest": False}), ec_key()))
    assert csr_usages_consistent(cr_spec({"isCA": True, "usages": ["client auth"]}), bare) is None


def test_sign_rejects_signer_key_not_matching_issuer(ca: tuple[PrivateKey, x509.Certificate]) -> None:
    _, ca_cert = ca
    csr = decode_csr(build_csr(spec({"commonName": "x"}), ec_key()))
    with pytest.raises(PKIError, match="doesn't match"):
        sign_certificate(cr_spec({}), csr, ec_key(), ca_cert, NOW)


def test_sign_keeps_name_constraints_from_csr(ca: tuple[PrivateKey, x509.Certificate]) -> None:
    ca_key, ca_cert = ca
    s = spec(
        {"commonName": "sub", "isCA": True, "nameConstraints": {"permitted": {"dnsDomains": ["a.example"]}}}
    )
    cert = sign_certificate(cr_spec({"isCA": True}), decode_csr(build_csr(s, ec_key())), ca_key, ca_cert, NOW)
    nc = ext(cert, x509.NameConstraints)
    assert nc.critical is False
    assert nc.value.permitted_subtrees == [x509.DNSName("a.example")]


def test_temporary_certificate_signed_by_throwaway_ca() -> None:
    from certkeeper.pki.chain import parse_certificates
    from certkeeper.pki.keys import public_keys_equal
    from certkeeper.pki.temporary import temporary_certificate

    key = ec_key()
    s = spec({"commonName": "t.example", "dnsNames": ["t.example"], "duration": "1h"})
    (cert,) = parse_certificates(temporary_certificate(s, key, NOW))
    assert public_keys_equal(cert, key)
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cert-manager.local"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "1234567890"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=1)
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["t.example"]
