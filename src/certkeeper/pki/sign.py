"""Signing a CSR into a certificate the way cert-manager's CA and SelfSigned issuers do.

The template rules (§3.4.1) are cert-manager's; the parts Go's x509 package fills in
implicitly (serial number, key identifiers) are made explicit here.
"""

from __future__ import annotations

import datetime as _dt
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import AuthorityInformationAccessOID, ObjectIdentifier

from certkeeper.api.certificate import CertificateRequestSpec

from .durations import parse_duration
from .errors import PKIError
from .keys import PrivateKey, public_keys_equal, signature_hash
from .usages import (
    EKU_NAMES,
    certificate_ext_key_usages,
    certificate_key_usage,
    compute_usages,
    eku_names,
    key_usage_bits,
    key_usage_names,
)

DEFAULT_DURATION = _dt.timedelta(days=90)


def _print_usages(names: list[str]) -> str:
    """cert-manager's printKeyUsage: ``[ 'a', 'b' ]`` or ``[]``."""
    if not names:
        return "[]"
    return "[ " + ", ".join(f"'{n}'" for n in names) + " ]"


def _has_extension(csr: x509.CertificateSigningRequest, oid: ObjectIdentifier) -> bool:
    return any(ext.oid == oid for ext in csr.extensions)


def csr_usages_consistent(spec: CertificateRequestSpec, csr: x509.CertificateSigningRequest) -> str | None:
    """Error message if the CSR's BasicConstraints/KU/EKU contradict the CR spec, else None.

    Extensions absent from the CSR are not checked; present ones must match exactly (EKUs
    in order), which is what both the webhook and the signers enforce.
    """
    is_ca = bool(spec.is_ca)
    try:
        ku, ekus = compute_usages(spec.usages, is_ca)
    except PKIError as e:
        return str(e)
    try:
        exts = csr.extensions
    except ValueError as e:
        return f"error parsing CSR extensions: {e}"
    if _has_extension(csr, x509.BasicConstraints.oid):
        bc = exts.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca != is_ca:
            return f"encoded CSR error: IsCA {str(bc.ca).lower()} does not match expected value {str(is_ca).lower()}"
    if _has_extension(csr, x509.KeyUsage.oid) or _has_extension(csr, x509.ExtendedKeyUsage.oid):
        csr_ku = certificate_key_usage(exts)
        if key_usage_bits(csr_ku) != key_usage_bits(ku):
            return (
                f"encoded CSR error: the KeyUsages {_print_usages(key_usage_names(csr_ku))} "
                f"do not match the expected KeyUsages {_print_usages(key_usage_names(ku))}"
            )
        # Go keeps unknown EKU OIDs apart (UnknownExtKeyUsage), so only known ones compare
        csr_ekus = [oid for oid in certificate_ext_key_usages(exts) if oid in EKU_NAMES]
        if csr_ekus != ekus:
            return (
                f"encoded CSR error: the ExtKeyUsages {_print_usages(eku_names(csr_ekus))} "
                f"do not match the expected ExtKeyUsages {_print_usages(eku_names(ekus))}"
            )
    return None


def random_serial() -> int:
    """128 random bits as cert-manager draws them; zero is redrawn since serials must be positive."""
    while True:
        n = secrets.randbits(128)
        if n:
            return n


def certificate_duration(spec: CertificateRequestSpec) -> _dt.timedelta:
    if not spec.duration:
        return DEFAULT_DURATION
    try:
        return parse_duration(spec.duration)
    except ValueError as e:
        raise PKIError(f"invalid duration {spec.duration!r}: {e}") from None


def sign_certificate(
    spec: CertificateRequestSpec,
    csr: x509.CertificateSigningRequest,
    signer_key: PrivateKey,
    issuer_cert: x509.Certificate | None,
    now: _dt.datetime,
    *,
    crl_distribution_points: list[str] | None = None,
    ocsp_servers: list[str] | None = None,
    issuing_certificate_urls: list[str] | None = None,
) -> x509.Certificate:
    """Issue a certificate for ``csr`` per the CR spec; ``issuer_cert`` None means self-signed."""
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise PKIError("certificate request has an invalid signature")
    problem = csr_usages_consistent(spec, csr)
    if problem:
        raise PKIError(problem)
    if issuer_cert is not None and not public_keys_equal(issuer_cert, signer_key):
        raise PKIError("x509: provided PrivateKey doesn't match parent's PublicKey")
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    is_ca = bool(spec.is_ca)
    ku, ekus = compute_usages(spec.usages, is_ca)
    public_key = csr.public_key()
    subject = csr.subject
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject

    builder = (
        x509.CertificateBuilder()
        .serial_number(random_serial())
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .not_valid_before(now)
        .not_valid_after(now + certificate_duration(spec))
    )
    if key_usage_bits(ku):
        builder = builder.add_extension(ku, critical=True)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    skid = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = builder.add_extension(skid, critical=False)
    builder = builder.add_extension(_authority_key_id(issuer_cert, skid), critical=False)
    aia = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
        for u in ocsp_servers or []
    ] + [
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
        for u in issuing_certificate_urls or []
    ]
    if aia:
        builder = builder.add_extension(x509.AuthorityInformationAccess(aia), critical=False)
    exts = csr.extensions
    try:
        san = exts.get_extension_for_class(x509.SubjectAlternativeName)
        builder = builder.add_extension(san.value, critical=len(subject) == 0)
    except x509.ExtensionNotFound:
        pass
    try:
        nc = exts.get_extension_for_class(x509.NameConstraints)
        builder = builder.add_extension(nc.value, critical=nc.critical)
    except x509.ExtensionNotFound:
        pass
    if crl_distribution_points:
        dps = [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(u)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            for u in crl_distribution_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(dps), critical=False)
    try:
        return builder.sign(signer_key, signature_hash(signer_key))  # type: ignore[arg-type]
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise PKIError(f"error signing certificate: {e}") from None


def _authority_key_id(
    issuer_cert: x509.Certificate | None, own_skid: x509.SubjectKeyIdentifier
) -> x509.AuthorityKeyIdentifier:
    """AKID = the issuer's SKID (or its key's hash if it has none); own SKID when self-signed."""
    if issuer_cert is None:
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(own_skid)
    try:
        issuer_skid = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_skid)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
