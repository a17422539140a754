"""SelfSigned: the request is signed by the key it was made with."""

from __future__ import annotations

from ..api import constants as c
from ..api.certificate import CertificateRequest
from ..api.core import TLS_KEY, Secret
from ..api.issuer import Issuer
from ..pki.chain import encode_certificates
from ..pki.csr import decode_csr
from ..pki.errors import PKIError
from ..pki.keys import decode_private_key, public_keys_equal
from ..pki.sign import sign_certificate
from ..runtime.controller import Context
from .base import Failed, Issued, IssuerReadiness, Pending, SignOutcome


class SelfSignedSigner:
    issuer_type = "selfSigned"

    def setup(self, ctx: Context, issuer: Issuer) -> IssuerReadiness:
        return IssuerReadiness(True, "IsReady", "")

    def sign(self, ctx: Context, cr: CertificateRequest, issuer: Issuer) -> SignOutcome:
        secret_name = cr.annotations().get(c.ANN_PRIVATE_KEY_SECRET)
        if not secret_name:
            return Failed(
                "MissingAnnotation",
                f'Annotation "{c.ANN_PRIVATE_KEY_SECRET}" missing or reference empty',
            )
        # cert-manager reads the key from the request's namespace, even for a ClusterIssuer
        secret = ctx.store.try_get(Secret, cr.namespace, secret_name)
        if secret is None:
            return Pending("MissingSecret", f'Referenced secret {cr.namespace}/{secret_name} not found')
        try:
            key = decode_private_key(secret.get(TLS_KEY) or b"")
        except PKIError as e:
            return Pending("ErrorParsingKey", f"Failed to parse signing key from secret {cr.namespace}/{secret_name}: {e}")
        try:
            csr = decode_csr(cr.spec.request or b"")
        except PKIError as e:
            return Failed("ErrorGenerating", f"Failed to generate certificate template: {e}")
        if not public_keys_equal(csr.public_key(), key):
            return Failed("ErrorKeyMatch", "Error generating certificate template: CSR not signed by referenced private key")
        if len(csr.subject) == 0:
            ctx.recorder.event(cr, "Warning", "BadConfig",
                               "Certificate will be issued with an empty Issuer DN, which contravenes RFC 5280 "
                               "and could break some strict clients")
        crl = issuer.spec.self_signed.crl_distribution_points if issuer.spec.self_signed else None
        cert = sign_certificate(cr.spec, csr, key, None, ctx.clock.now(), crl_distribution_points=crl)
        pem = encode_certificates([cert])
        return Issued(pem, pem)
