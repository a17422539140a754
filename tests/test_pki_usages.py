"""Key usage names to X.509 and back (§1.6)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from certkeeper.api.certificate import CertificatePrivateKey, CertificateRequestSpec, CertificateSpec
from certkeeper.pki.csr import build_csr, decode_csr
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import generate_private_key
from certkeeper.pki.sign import sign_certificate
from certkeeper.pki.usages import compute_usages, key_usage_bits, usages_from_certificate


def test_defaults_and_ca() -> None:
    ku, ekus = compute_usages(None, False)
    assert key_usage_bits(ku) == 0b101  # digital signature | key encipherment
    assert ekus == []
    ku, _ = compute_usages([], True)
    assert key_usage_bits(ku) == 0b100101  # + cert sign


def test_aliases_and_eku_order() -> None:
    ku, ekus = compute_usages(["signing", "client auth", "s/mime", "server auth"], False)
    assert key_usage_bits(ku) == 0b1
    assert ekus == [
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.SERVER_AUTH,
    ]


def test_unknown_usage() -> None:
    with pytest.raises(PKIError, match=r"unknown key usages: \[bogus\]"):
        compute_usages(["bogus"], False)


def test_usages_from_certificate_uses_canonical_names() -> None:
    key = generate_private_key(CertificatePrivateKey(algorithm="ECDSA"))
    usages = ["signing", "key agreement", "s/mime", "server auth"]
    csr = decode_csr(build_csr(CertificateSpec.model_validate({"commonName": "x", "usages": usages}), key))
    cert = sign_certificate(
        CertificateRequestSpec.model_validate({"usages": usages}),
        csr,
        key,
        None,
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert usages_from_certificate(cert) == [
        "digital signature",
        "key agreement",
        "email protection",
        "server auth",
    ]
