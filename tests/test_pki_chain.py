"""Chain normalisation as cert-manager's ParseSingleCertificateChain does it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509

from certkeeper.api.certificate import CertificatePrivateKey, CertificateRequestSpec, CertificateSpec
from certkeeper.pki.chain import encode_certificates, normalize_chain, parse_certificates
from certkeeper.pki.csr import build_csr, decode_csr
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import PrivateKey, generate_private_key
from certkeeper.pki.sign import sign_certificate

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _key() -> PrivateKey:
    return generate_private_key(CertificatePrivateKey(algorithm="ECDSA"))


def _issue(
    cn: str, is_ca: bool, signer: tuple[PrivateKey, x509.Certificate] | None
) -> tuple[PrivateKey, x509.Certificate]:
    key = _key()
    csr = decode_csr(build_csr(CertificateSpec.model_validate({"commonName": cn, "isCA": is_ca}), key))
    req = CertificateRequestSpec.model_validate({"isCA": is_ca})
    if signer is None:
        return key, sign_certificate(req, csr, key, None, NOW)
    return key, sign_certificate(req, csr, signer[0], signer[1], NOW)


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    root = _issue("root", True, None)
    inter = _issue("intermediate", True, root)
    leaf = _issue("leaf", False, inter)
    other_root = _issue("other root", True, None)
    return {
        "root": root[1],
        "inter": inter[1],
        "leaf": leaf[1],
        "other": other_root[1],
        "self_leaf": _issue("sl", False, None)[1],
    }


def pem(*certs: x509.Certificate) -> bytes:
    return encode_certificates(list(certs))


def test_single_self_signed_ca_is_chain_and_ca(pki: dict[str, Any]) -> None:
    chain, ca = normalize_chain([pki["root"]])
    assert chain == pem(pki["root"]) and ca == pem(pki["root"])


def test_single_non_self_signed_cert_has_no_ca(pki: dict[str, Any]) -> None:
    chain, ca = normalize_chain([pki["leaf"]])
    assert chain == pem(pki["leaf"]) and ca == b""


def test_self_signed_non_ca_leaf_is_not_a_root(pki: dict[str, Any]) -> None:
    # Go's CheckSignatureFrom needs the parent to be a CA, so this is not "self-signed"
    chain, ca = normalize_chain([pki["self_leaf"]])
    assert chain == pem(pki["self_leaf"]) and ca == b""


def test_leaf_intermediate_root_any_order(pki: dict[str, Any]) -> None:
    for order in (["root", "leaf", "inter"], ["leaf", "inter", "root"], ["inter", "root", "leaf"]):
        chain, ca = normalize_chain([pki[n] for n in order])
        assert chain == pem(pki["leaf"], pki["inter"])
        assert ca == pem(pki["root"])


def test_leaf_and_intermediate_without_root(pki: dict[str, Any]) -> None:
    chain, ca = normalize_chain([pki["inter"], pki["leaf"]])
    assert chain == pem(pki["leaf"], pki["inter"])
    assert ca == pem(pki["inter"])


def test_duplicates_are_removed(pki: dict[str, Any]) -> None:
    chain, ca = normalize_chain([pki["leaf"], pki["leaf"], pki["inter"], pki["root"], pki["inter"]])
    assert chain == pem(pki["leaf"], pki["inter"])
    assert ca == pem(pki["root"])


def test_broken_chain(pki: dict[str, Any]) -> None:
    with pytest.raises(PKIError, match="certificate chain is malformed or broken"):
        normalize_chain([pki["leaf"], pki["root"]])  # intermediate missing
    with pytest.raises(PKIError, match="certificate chain is malformed or broken"):
        normalize_chain([pki["root"], pki["other"]])  # two roots


def test_parse_certificates_errors_and_order(pki: dict[str, Any]) -> None:
    certs = parse_certificates(pem(pki["leaf"], pki["inter"]))
    assert certs == [pki["leaf"], pki["inter"]]
    with pytest.raises(PKIError):
        parse_certificates(b"")
    with pytest.raises(PKIError):
        parse_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
