"""Private keys: generation per ``spec.privateKey``, PEM encodings, and spec checks.

cert-manager supports exactly RSA, ECDSA (P-256/384/521) and Ed25519; anything else in a
Secret is treated as undecodable so the trigger re-issues instead of crashing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from .errors import PKIError

if TYPE_CHECKING:  # the models: not for ``status``, which describes a key without them
    from certkeeper.api.certificate import CertificatePrivateKey, CertificateSpec

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


def rsa_key_bits(spec: CertificatePrivateKey | None) -> int | None:
    """The modulus size an RSA ``spec.privateKey`` asks for (checked), None for other
    algorithms. RSA is the one generation dear enough (tens of milliseconds) to be worth
    handing to another process."""
    algorithm = (spec.algorithm if spec else None) or RSA_ALGORITHM
    if algorithm != RSA_ALGORITHM:
        return None
    bits = (spec.size if spec else None) or MIN_RSA_KEY_SIZE
    if bits < MIN_RSA_KEY_SIZE:
        raise PKIError(f"RSA key size must be at least {MIN_RSA_KEY_SIZE} bits, got {bits}")
    if bits > MAX_RSA_KEY_SIZE:
        raise PKIError(f"RSA key size must be at most {MAX_RSA_KEY_SIZE} bits, got {bits}")
    return bits


def generate_private_key(spec: CertificatePrivateKey | None) -> PrivateKey:
    """A fresh key as the keymanager would create it for this ``spec.privateKey``."""
    algorithm = (spec.algorithm if spec else None) or RSA_ALGORITHM
    size = (spec.size if spec else None) or 0
    bits = rsa_key_bits(spec)
    if bits is not None:
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
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        _KNOWN.put(pem, key)
        return pem
    raise PKIError(f"error encoding private key: unknown key encoding {enc!r}")


def encode_pkcs8(key: PrivateKey) -> bytes:
    """PKCS#8 ``PRIVATE KEY`` PEM, the fixed format of next-private-key Secrets."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _KNOWN.put(pem, key)
    return pem


def adopt_generated_key(pem: bytes) -> PrivateKey:
    """The key in ``pem``, which this program's own key worker generated a moment ago.

    Loaded without OpenSSL's full RSA check: that check tests both primes again and costs
    more CPU than generating the key (about 37 ms for RSA-2048 against 23), for a key made
    by OpenSSL itself. Never for PEM that came from a store, a file or a user."""
    try:
        key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise PKIError("error decoding a generated private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PKIError(f"error decoding a generated private key: unsupported key type {type(key).__name__}")
    _KNOWN.put(pem, key)
    return key


def _decode_private_key_uncached(pem: bytes) -> PrivateKey:
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
    from certkeeper.api.certificate import CertificatePrivateKey

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
        return (
            [] if key.curve.key_size == (size if size > 0 else DEFAULT_EC_SIZE) else ["spec.privateKey.size"]
        )
    if algorithm == ED25519_ALGORITHM:
        return [] if isinstance(key, ed25519.Ed25519PrivateKey) else ["spec.privateKey.algorithm"]
    raise PKIError(f'unrecognised key algorithm type "{algorithm}"')


#: ``spec.signatureAlgorithm`` -> (key type it needs, hash or None for pure Ed25519)
_SIGNATURE_ALGORITHMS: dict[str, tuple[type, type[hashes.HashAlgorithm] | None]] = {
    "SHA256WithRSA": (rsa.RSAPrivateKey, hashes.SHA256),
    "SHA384WithRSA": (rsa.RSAPrivateKey, hashes.SHA384),
    "SHA512WithRSA": (rsa.RSAPrivateKey, hashes.SHA512),
    "ECDSAWithSHA256": (ec.EllipticCurvePrivateKey, hashes.SHA256),
    "ECDSAWithSHA384": (ec.EllipticCurvePrivateKey, hashes.SHA384),
    "ECDSAWithSHA512": (ec.EllipticCurvePrivateKey, hashes.SHA512),
    "PureEd25519": (ed25519.Ed25519PrivateKey, None),
}


def signature_hash(key: PrivateKey, signature_algorithm: str | None = None) -> hashes.HashAlgorithm | None:
    """Hash to sign with: the explicit algorithm, else cert-manager's choice by key size/curve.

    RSA >=4096 -> SHA-512, >=3072 -> SHA-384, else SHA-256; ECDSA by curve; Ed25519 none.
    """
    if signature_algorithm:
        entry = _SIGNATURE_ALGORITHMS.get(signature_algorithm)
        if entry is None:
            raise PKIError(f"unsupported signature algorithm: {signature_algorithm}")
        key_type, hash_cls = entry
        if not isinstance(key, key_type):
            raise PKIError(
                f"signature algorithm {signature_algorithm} does not fit a {_algorithm_name(key)} private key"
            )
        return hash_cls() if hash_cls else None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size >= 4096:
            return hashes.SHA512()
        if key.key_size >= 3072:
            return hashes.SHA384()
        return hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        if size == 256:
            return hashes.SHA256()
        if size == 384:
            return hashes.SHA384()
        if size == 521:
            return hashes.SHA512()
        raise PKIError(f"unsupported ecdsa curve {key.curve.name}")
    return None


def _algorithm_name(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSA_ALGORITHM
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECDSA_ALGORITHM
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ED25519_ALGORITHM
    return type(key).__name__


def key_description(key: KeyLike) -> tuple[str, int]:
    """(algorithm name, size in bits) for display: RSA modulus bits, EC curve bits, Ed25519 256."""
    pub = public_key_of(key)
    if isinstance(pub, rsa.RSAPublicKey):
        return RSA_ALGORITHM, pub.key_size
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return ECDSA_ALGORITHM, pub.curve.key_size
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return ED25519_ALGORITHM, 256
    return type(pub).__name__, 0


class _KeyMemo:
    """PEM text -> key, least recently used first out, shared by every thread.

    Holds the keys this process decoded (and so checked) and the PEM it encoded from key
    objects it holds: the same key is read by several controllers, and in two encodings
    (the next key's PKCS#8, then ``tls.key``'s PKCS#1), and an RSA key decoded afresh is
    checked again by OpenSSL at a cost above its generation."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, PrivateKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pem: bytes) -> PrivateKey | None:
        with self._lock:
            key = self._items.get(pem)
            if key is not None:
                self._items.move_to_end(pem)
            return key

    def put(self, pem: bytes, key: PrivateKey) -> None:
        with self._lock:
            self._items[pem] = key
            self._items.move_to_end(pem)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_KNOWN = _KeyMemo(1024)


def decode_private_key(pem: bytes) -> PrivateKey:
    """First PEM private key block of ``pem`` (PKCS#1, SEC1 or PKCS#8, unencrypted).

    Remembered by content: the same Secret or request is looked at by several controllers,
    and the parsed objects are immutable."""
    if isinstance(pem, str):
        pem = pem.encode()
    key = _KNOWN.get(pem)
    if key is None:
        key = _decode_private_key_uncached(pem)
        _KNOWN.put(pem, key)
    return key
