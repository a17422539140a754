"""PEM certificate bundles and cert-manager's single-chain normalisation (§5.2)."""

from __future__ import annotations

import functools

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .errors import PKIError

MAX_CHAIN_CERTIFICATES = 1000


def _parse_certificates_uncached(pem: bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block in ``pem``, in order; PKIError if there is none or one is bad."""
    if isinstance(pem, str):
        pem = pem.encode()
    if b"-----BEGIN CERTIFICATE-----" not in (pem or b""):
        raise PKIError("error decoding certificate PEM block: no certificate found")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise PKIError(f"error decoding certificate PEM block: {e}") from None
    if not certs:
        raise PKIError("error decoding certificate PEM block: no certificate found")
    return certs


def encode_certificates(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def check_signature_from(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Go's Certificate.CheckSignatureFrom: parent must be a CA allowed to sign certs."""
    try:
        bc: x509.BasicConstraints | None = parent.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value
    except x509.ExtensionNotFound:
        bc = None
    except ValueError:
        return False
    if parent.version == x509.Version.v3 and bc is None:
        return False
    if bc is not None and not bc.ca:
        return False
    try:
        ku = parent.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            return False
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


@functools.lru_cache(maxsize=256)
def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-signed in Go's sense: a CA whose signature verifies with its own key.

    Remembered per certificate (they are immutable and compare by content): a CA issuer's
    root is looked at again with every chain it signs."""
    return check_signature_from(cert, cert)


class _Node:
    __slots__ = ("cert", "issuer")

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self.issuer: _Node | None = None

    def root(self) -> _Node:
        node = self
        while node.issuer is not None:
            node = node.issuer
        return node


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return child.issuer.public_bytes() == parent.subject.public_bytes() and check_signature_from(
        child, parent
    )


def _try_merge(a: _Node, b: _Node) -> _Node | None:
    b_root = b.root()
    if _issued_by(b_root.cert, a.cert):
        b_root.issuer = a
        return b
    a_root = a.root()
    if _issued_by(a_root.cert, b.cert):
        a_root.issuer = b
        return a
    return None


def normalize_chain(certs: list[x509.Certificate]) -> tuple[bytes, bytes]:
    """cert-manager's ParseSingleCertificateChain: ``(chain_pem, ca_pem)``.

    ``chain_pem`` runs leaf -> highest non-self-signed cert; ``ca_pem`` is the root-most
    cert, or empty when the input is one certificate that is not self-signed.
    """
    unique = sorted({_der(c): c for c in certs}.items())
    if not unique:
        raise PKIError("certificate chain is malformed or broken")
    if len(unique) > MAX_CHAIN_CERTIFICATES:
        raise PKIError("certificate chain is too long, must be less than 1000 certificates")
    chains = [_Node(c) for _, c in unique]
    while len(chains) > 1:
        last = chains.pop()
        for i, chain in enumerate(chains):
            merged = _try_merge(last, chain)
            if merged is not None:
                chains[i] = merged
                break
        else:
            raise PKIError("certificate chain is malformed or broken")
    node: _Node | None = chains[0]
    out: list[x509.Certificate] = []
    ca: x509.Certificate | None = None
    while node is not None:
        if node.issuer is None:
            if out and not is_self_signed(node.cert):
                out.append(node.cert)
            ca = node.cert
            break
        out.append(node.cert)
        node = node.issuer
    assert ca is not None
    ca_pem = encode_certificates([ca])
    if not out:
        return ca_pem, ca_pem if is_self_signed(ca) else b""
    return encode_certificates(out), ca_pem


def normalize_chain_pem(pem: bytes) -> tuple[bytes, bytes]:
    """``normalize_chain`` over a PEM bundle (ParseSingleCertificateChainPEM)."""
    return normalize_chain(parse_certificates(pem))


@functools.lru_cache(maxsize=1024)
def _parse_certificates_cached(pem: bytes) -> tuple[x509.Certificate, ...]:
    return tuple(_parse_certificates_uncached(pem))


def parse_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block in ``pem``, in order; PKIError if there is none or one is bad.

    Controllers look at the same Secret many times; parsed certificates are immutable, so
    the parse is remembered by content."""
    if isinstance(pem, str):
        pem = pem.encode()
    return list(_parse_certificates_cached(pem))
