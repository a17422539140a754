"""Private keys: generation per ``spec.privateKey``, PEM encodings, and spec checks.

cert-manager supports exactly RSA, ECDSA (P-256/384/521) and Ed25519; anything else in a
Secret is treated as undecodable so the trigger re-issues instead of crashing.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from certkeeper.api.certificate import CertificatePrivateKey, CertificateSpec

from .errors import PKIError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

#: anything whose public key can be compared
KeyLike: TypeAlias = PrivateKeyTypes | PublicKeyTypes | x509.Certificate | x509.CertificateSigningRequest

RSA_ALGORITHM = "RSA"
ECDSA_ALGORITHM = "ECDSA"
ED25519_ALGORITHM = "Ed25519"

MIN_RSA_KEY_SIZE = 2048
MAX_RSA_KEY_SIZE = 8192
DEFAULT_EC_SIZE = 256

_EC_CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}

PKCS1 = "PKCS1"
PKCS8 = "PKCS8"


def generate_private_key(spec: CertificatePrivateKey | None) -> PrivateKey:
    """A fresh key as the keymanager would create it for this ``spec.privateKey``."""
    algorithm = (spec.algorithm if spec else None) or RSA_ALGORITHM
    size = (spec.size if spec else None) or 0
    if algorithm == RSA_ALGORITHM:
        bits = size or MIN_RSA_KEY_SIZE
        if bits < MIN_RSA_KEY_SIZE:
            raise PKIError(f"RSA key size must be at least {MIN_RSA_KEY_SIZE} bits, got {bits}")
        if bits > MAX_RSA_KEY_SIZE:
            raise PKIError(f"RSA key size must be at most {MAX_RSA_KEY_SIZE} bits, got {bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if algorithm == ECDSA_ALGORITHM:
        bits = size or DEFAULT_EC_SIZE
        curve = _EC_CURVES.get(bits)
        if curve is None:
            raise PKIError(f"unsupported ecdsa keysize specified: {bits}")
        return ec.generate_private_key(curve())
    if algorithm == ED25519_ALGORITHM:
        return ed25519.Ed25519PrivateKey.generate()
    raise PKIError(f"unsupported private key algorithm specified: {algorithm}")


def encode_private_key(key: PrivateKey, encoding: str | None) -> bytes:
    """PEM for ``tls.key``: PKCS#1/SEC1 by default, PKCS#8 on request (Ed25519 always PKCS#8)."""
    enc = encoding or PKCS1
    if enc == PKCS8 or isinstance(key, ed25519.Ed25519PrivateKey):
        return encode_pkcs8(key)
    if enc == PKCS1:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    raise PKIError(f"error encoding private key: unknown key encoding {enc!r}")


def encode_pkcs8(key: PrivateKey) -> bytes:
    """PKCS#8 ``PRIVATE KEY`` PEM, the fixed format of next-private-key Secrets."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def decode_private_key(pem: bytes) -> PrivateKey:
    """First PEM private key block of ``pem`` (PKCS#1, SEC1 or PKCS#8, unencrypted)."""
    if not pem or b"-----BEGIN" not in pem:
        raise PKIError("error decoding private key PEM block")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise PKIError("error decoding private key: key is password protected") from None
    except (ValueError, UnsupportedAlgorithm):
        raise PKIError("error decoding private key: not a valid PKCS#1, SEC1 or PKCS#8 private key") from None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise PKIError(f"error decoding private key: unsupported key type {type(key).__name__}")


def public_key_of(obj: KeyLike) -> PublicKeyTypes:
    """The public half of a private key, public key, certificate or CSR."""
    if isinstance(obj, x509.Certificate | x509.CertificateSigningRequest):
        return obj.public_key()
    public_key = getattr(obj, "public_key", None)
    if callable(public_key):
        pub: PublicKeyTypes = public_key()
        return pub
    return obj  # type: ignore[return-value]


def _spki(pub: PublicKeyTypes) -> bytes:
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_keys_equal(a: KeyLike, b: KeyLike) -> bool:
    """Whether two keys (private, public, or inside a cert/CSR) share one public key."""
    try:
        return _spki(public_key_of(a)) == _spki(public_key_of(b))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def key_mismatches_spec(key: PrivateKey, spec: CertificateSpec) -> list[str]:
    """cert-manager's PrivateKeyMatchesSpec: the spec paths the key violates (defaults applied)."""
    pk = spec.private_key or CertificatePrivateKey()
    algorithm = pk.algorithm or ""
    size = pk.size or 0
    if algorithm in ("", RSA_ALGORITHM):
        if not isinstance(key, rsa.RSAPrivateKey):
            return ["spec.privateKey.algorithm"]
        return [] if key.key_size == (size if size > 0 else MIN_RSA_KEY_SIZE) else ["spec.privateKey.size"]
    if algorithm == ECDSA_ALGORITHM:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return ["spec.privateKey.algorithm"]
        return [] if key.curve.key_size == (size if size > 0 else DEFAULT_EC_SIZE) else ["spec.privateKey.size"]
    if algorithm == ED25519_ALGORITHM:
        return [] if isinstance(key, ed25519.Ed25519PrivateKey) else ["spec.privateKey.algorithm"]
    raise PKIError(f'unrecognised key algorithm type "{algorithm}"')
