"""Key generation, PEM encodings, decoding errors and spec checks against real keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certkeeper.api.certificate import CertificatePrivateKey, CertificateSpec
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import (
    decode_private_key,
    encode_pkcs8,
    encode_private_key,
    generate_private_key,
    key_mismatches_spec,
    public_keys_equal,
)


def pk(d: dict[str, object]) -> CertificatePrivateKey:
    return CertificatePrivateKey.model_validate(d)


def test_default_key_is_rsa_2048() -> None:
    key = generate_private_key(None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


@pytest.mark.parametrize(("size", "curve"), [(None, "secp256r1"), (384, "secp384r1"), (521, "secp521r1")])
def test_ecdsa_sizes_map_to_curves(size: int | None, curve: str) -> None:
    key = generate_private_key(pk({"algorithm": "ECDSA", "size": size}))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == curve


def test_ed25519_generated() -> None:
    assert isinstance(generate_private_key(pk({"algorithm": "Ed25519"})), ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize(
    "spec",
    [{"algorithm": "ECDSA", "size": 255}, {"algorithm": "RSA", "size": 1024}, {"algorithm": "DSA"}],
)
def test_bad_key_specs_raise(spec: dict[str, object]) -> None:
    with pytest.raises(PKIError):
        generate_private_key(pk(spec))


def test_pkcs1_and_sec1_and_pkcs8_encodings() -> None:
    rsa_key = generate_private_key(None)
    ec_key = generate_private_key(pk({"algorithm": "ECDSA"}))
    ed_key = generate_private_key(pk({"algorithm": "Ed25519"}))
    assert encode_private_key(rsa_key, None).startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert encode_private_key(ec_key, "PKCS1").startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert encode_private_key(ec_key, "PKCS8").startswith(b"-----BEGIN PRIVATE KEY-----")
    assert encode_private_key(ed_key, "PKCS1").startswith(b"-----BEGIN PRIVATE KEY-----")
    assert encode_pkcs8(rsa_key).startswith(b"-----BEGIN PRIVATE KEY-----")
    for key in (rsa_key, ec_key, ed_key):
        for enc in ("PKCS1", "PKCS8"):
            assert public_keys_equal(decode_private_key(encode_private_key(key, enc)), key)


def test_decode_garbage_raises_without_key_bytes() -> None:
    with pytest.raises(PKIError, match="error decoding private key"):
        decode_private_key(b"not a key")
    broken = b"-----BEGIN PRIVATE KEY-----\nQUJDREVGR0g=\n-----END PRIVATE KEY-----\n"
    with pytest.raises(PKIError) as info:
        decode_private_key(broken)
    assert "QUJD" not in str(info.value)


def test_public_keys_equal_mixes_private_and_public() -> None:
    a = generate_private_key(pk({"algorithm": "ECDSA"}))
    b = generate_private_key(pk({"algorithm": "ECDSA"}))
    assert public_keys_equal(a, a.public_key())
    assert public_keys_equal(a.public_key(), a)
    assert not public_keys_equal(a, b.public_key())


def test_key_mismatches_spec_defaults_and_violations() -> None:
    rsa_key = generate_private_key(None)
    ec_key = generate_private_key(pk({"algorithm": "ECDSA", "size": 384}))
    spec = CertificateSpec.model_validate
    assert key_mismatches_spec(rsa_key, spec({})) == []
    assert key_mismatches_spec(rsa_key, spec({"privateKey": {"size": 4096}})) == ["spec.privateKey.size"]
    assert key_mismatches_spec(rsa_key, spec({"privateKey": {"algorithm": "ECDSA"}})) == [
        "spec.privateKey.algorithm"
    ]
    assert key_mismatches_spec(ec_key, spec({"privateKey": {"algorithm": "ECDSA"}})) == ["spec.privateKey.size"]
    assert key_mismatches_spec(ec_key, spec({"privateKey": {"algorithm": "ECDSA", "size": 384}})) == []
    assert key_mismatches_spec(ec_key, spec({"privateKey": {"algorithm": "Ed25519"}})) == [
        "spec.privateKey.algorithm"
    ]
    assert key_mismatches_spec(ec_key, spec({})) == ["spec.privateKey.algorithm"]
    with pytest.raises(PKIError):
        key_mismatches_spec(ec_key, spec({"privateKey": {"algorithm": "DSA"}}))
