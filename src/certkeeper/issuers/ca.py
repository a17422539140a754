"""CA: requests are signed by a key pair kept in a Secret (tls.crt may hold a chain)."""

from __future__ import annotations

from cryptography import x509

from ..api.certificate import CertificateRequest
from ..api.core import CA_CERT, TLS_CERT, TLS_KEY, Secret
from ..api.issuer import Issuer
from ..pki.chain import normalize_chain, parse_certificates
from ..pki.csr import decode_csr
from ..pki.errors import PKIError
from ..pki.keys import PrivateKey, decode_private_key, public_keys_equal
from ..pki.sign import sign_certificate
from ..runtime.controller import Context
from .base import Failed, Issued, IssuerReadiness, Pending, SignOutcome, resource_namespace


class KeyPairError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def load_key_pair(ctx: Context, issuer: Issuer) -> tuple[list[x509.Certificate], PrivateKey]:
    """The CA chain (signing cert first) and its key, or KeyPairError saying what is wrong."""
    ns = resource_namespace(ctx, issuer)
    name = issuer.spec.ca.secret_name if issuer.spec.ca else None
    secret = ctx.store.try_get(Secret, ns, name or "")
    if secret is None:
        raise KeyPairError("SecretMissing", f'secret "{ns}/{name}" not found')
    try:
        certs = parse_certificates(secret.get(TLS_CERT) or b"")
    except PKIError as e:
        raise KeyPairError("SecretInvalidData", f'failed to decode certificate in secret "{ns}/{name}": {e}') from e
    try:
        key = decode_private_key(secret.get(TLS_KEY) or b"")
    except PKIError as e:
        raise KeyPairError("SecretInvalidData", f'failed to decode private key in secret "{ns}/{name}": {e}') from e
    extra = secret.get(CA_CERT)
    if extra:
        try:
            certs += parse_certificates(extra)
        except PKIError as e:
            raise KeyPairError("SecretInvalidData", f'failed to decode ca.crt in secret "{ns}/{name}": {e}') from e
    if not public_keys_equal(certs[0].public_key(), key):
        raise KeyPairError(
            "SecretInvalidData", f'the private key in secret "{ns}/{name}" does not match its certificate'
        )
    return certs, key


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca


class CASigner:
    issuer_type = "ca"

    def setup(self, ctx: Context, issuer: Issuer) -> IssuerReadiness:
        try:
            certs, _ = load_key_pair(ctx, issuer)
        except KeyPairError as e:
            return IssuerReadiness(False, "ErrGetKeyPair", f"Error getting keypair for CA issuer: {e}")
        if not _is_ca(certs[0]):
            return IssuerReadiness(
                False, "ErrInvalidKeyPair", "Error getting keypair for CA issuer: certificate is not a CA"
            )
        return IssuerReadiness(True, "KeyPairVerified", "Signing CA verified")

    def sign(self, ctx: Context, cr: CertificateRequest, issuer: Issuer) -> SignOutcome:
        try:
            ca_certs, key = load_key_pair(ctx, issuer)
        except KeyPairError as e:
            return Pending(e.reason, f"Referenced secret is not usable: {e}")
        try:
            csr = decode_csr(cr.spec.request or b"")
        except PKIError as e:
            return Failed("SigningError", f"Error generating certificate template: {e}")
        ca = issuer.spec.ca
        assert ca is not None
        try:
            leaf = sign_certificate(
                cr.spec, csr, key, ca_certs[0], ctx.clock.now(),
                crl_distribution_points=ca.crl_distribution_points,
                ocsp_servers=ca.ocsp_servers,
                issuing_certificate_urls=ca.issuing_certificate_urls,
            )
            chain, root = normalize_chain([*ca_certs, leaf])
        except PKIError as e:
            return Failed("SigningError", f"Error signing certificate: {e}")
        return Issued(chain, root)
