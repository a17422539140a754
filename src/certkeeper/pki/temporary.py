"""The throw-away certificate written while a real one is pending (§2.5.5).

Ingress controllers that edit the Secret in place need *some* certificate for the key
right away; cert-manager signs one with a one-use P-521 CA named ``cert-manager.local``.
"""

from __future__ import annotations

import datetime as _dt

from cryptography.hazmat.primitives import serialization

from certkeeper.api.certificate import (
    CertificatePrivateKey,
    CertificateRequestSpec,
    CertificateSpec,
    X509Subject,
)

from .csr import build_csr, decode_csr
from .keys import PrivateKey, generate_private_key
from .sign import sign_certificate

TEMPORARY_CA_COMMON_NAME = "cert-manager.local"
TEMPORARY_SERIAL_NUMBER = "1234567890"


def temporary_certificate(spec: CertificateSpec, key: PrivateKey, now: _dt.datetime) -> bytes:
    """PEM of a leaf for ``key`` and ``spec``, signed by a fresh CA that is then discarded."""
    ca_key = generate_private_key(CertificatePrivateKey(algorithm="ECDSA", size=521))
    ca_spec = CertificateSpec(common_name=TEMPORARY_CA_COMMON_NAME, is_ca=True)
    ca_csr = decode_csr(build_csr(ca_spec, ca_key))
    ca_cert = sign_certificate(CertificateRequestSpec(is_ca=True), ca_csr, ca_key, None, now)

    leaf_spec = spec.model_copy(deep=True)
    # a signatureAlgorithm meant for the real issuer's flow is irrelevant here
    leaf_spec.signature_algorithm = None
    if not leaf_spec.literal_subject:
        subject = leaf_spec.subject.model_copy() if leaf_spec.subject else X509Subject()
        subject.serial_number = TEMPORARY_SERIAL_NUMBER
        leaf_spec.subject = subject
    csr = decode_csr(build_csr(leaf_spec, key))
    request = CertificateRequestSpec(duration=spec.duration, is_ca=spec.is_ca, usages=spec.usages)
    leaf = sign_certificate(request, csr, ca_key, ca_cert, now)
    return leaf.public_bytes(serialization.Encoding.PEM)
