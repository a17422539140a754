"""CertificateRequest checklist (spec §1.7; validation/certificaterequest.go).

On create the CSR itself is checked: a signer must be able to trust that the request's
``isCA`` and ``usages`` say the same as the extensions inside the signed CSR, otherwise a
client could get usages approved that the approver never saw.
"""

from __future__ import annotations

from cryptography import x509

from ...pki.errors import PKIError
from ...pki.usages import (
    certificate_ext_key_usages,
    certificate_key_usage,
    compute_usages,
    eku_names,
    key_usage_bits,
    key_usage_names,
)
from ..certificate import CertificateRequest, CertificateRequestSpec
from ..meta import Condition
from .common import parse_go_duration, validate_issuer_ref
from .errors import OMIT, FieldError, child, forbidden, go_quote, invalid, required
from .text import CONTROL_MSG, dns_name_error, has_control, uri_error

APPROVED = "Approved"
DENIED = "Denied"
_PROTECTED_ANNOTATION_PREFIXES = ("cert-manager.io", "acme.cert-manager.io")


def validate_certificate_request(cr: CertificateRequest) -> list[FieldError]:
    el = validate_certificate_request_spec(cr.spec, "spec")
    conditions = cr.status.conditions if cr.status else None
    el += validate_approval_conditions(conditions, "status.conditions")
    return el


def validate_certificate_request_spec(spec: CertificateRequestSpec, path: str) -> list[FieldError]:
    el = validate_issuer_ref(spec.issuer_ref, path)
    if spec.duration is not None:
        parse_go_duration(spec.duration, child(path, "duration"), el)
    if not spec.request:
        el.append(required(child(path, "request"), "must be specified"))
        return el
    el += validate_csr(spec, path)
    return el


def decode_request(raw: bytes) -> x509.CertificateSigningRequest:
    """``request`` holds a PEM CSR (base64 was undone when the field was read); raise
    ValueError with Go's wording."""
    if b"-----BEGIN" not in raw:
        raise ValueError("error decoding certificate request PEM block")
    try:
        return x509.load_pem_x509_csr(raw)
    except ValueError as e:
        raise ValueError(f"error decoding certificate request PEM block: {e}") from None


def _csr_is_ca(csr: x509.CertificateSigningRequest) -> bool | None:
    try:
        bc = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    return bc.ca


def validate_csr(spec: CertificateRequestSpec, path: str) -> list[FieldError]:
    req_path = child(path, "request")
    try:
        csr = decode_request(spec.request or b"")
    except ValueError as e:
        return [invalid(req_path, OMIT, f"failed to decode csr: {e}")]
    el: list[FieldError] = []
    try:
        extensions = csr.extensions
    except ValueError as e:
        return [invalid(req_path, OMIT, f"failed to decode csr: {e}")]
    if not csr.is_signature_valid:
        el.append(invalid(req_path, OMIT, "invalid signature in csr: x509: ECDSA/RSA verification failure"))
    el += _csr_names(csr, req_path)

    is_ca = bool(spec.is_ca)
    try:
        ku, ekus = compute_usages(spec.usages, is_ca)
    except PKIError as e:
        el.append(invalid(child(path, "usages"), spec.usages or [], str(e)))
        return el

    csr_ca = _csr_is_ca(csr)
    if csr_ca is not None and csr_ca != is_ca:
        el.append(
            invalid(
                req_path,
                OMIT,
                f"encoded CSR error: the IsCA flag ({_go_bool(csr_ca)}) does not match the one "
                f"in the spec ({_go_bool(is_ca)})",
            )
        )
    csr_ku = certificate_key_usage(extensions)
    csr_ekus = certificate_ext_key_usages(extensions)
    has_ku_ext = _has_ext(extensions, x509.KeyUsage)
    has_eku_ext = _has_ext(extensions, x509.ExtendedKeyUsage)
    if has_ku_ext or has_eku_ext:
        if key_usage_bits(csr_ku) != key_usage_bits(ku):
            el.append(
                invalid(
                    req_path,
                    OMIT,
                    f"encoded CSR error: the KeyUsages {key_usage_names(csr_ku)} do not match the "
                    f"KeyUsages {key_usage_names(ku)} in the spec",
                )
            )
        if csr_ekus != ekus:
            el.append(
                invalid(
                    req_path,
                    OMIT,
                    f"encoded CSR error: the ExtKeyUsages {eku_names(csr_ekus)} do not match the "
                    f"ExtKeyUsages {eku_names(ekus)} in the spec",
                )
            )
    return el


def _csr_names(csr: x509.CertificateSigningRequest, path: str) -> list[FieldError]:
    """The names a hand-written CSR asks for, held to a Certificate's rules (``text``): a
    control character or a name that can never be issued is not signed either way."""
    el: list[FieldError] = []
    for attr in csr.subject:
        value = attr.value
        if isinstance(value, str) and has_control(value):
            el.append(invalid(path, OMIT, f"subject {attr.rfc4514_attribute_name}={go_quote(value)}: {CONTROL_MSG}"))
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return el
    for name in dns_names:
        if err := dns_name_error(name):
            el.append(invalid(path, OMIT, f"DNS name {go_quote(name)}: {err}"))
    for uri in uris:
        if err := uri_error(uri):
            el.append(invalid(path, OMIT, f"URI {go_quote(uri)}: invalid URI: {err}"))
    return el


def _has_ext(exts: x509.Extensions, cls: type[x509.ExtensionType]) -> bool:
    try:
        exts.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return False
    return True


def _go_bool(b: bool) -> str:
    return "true" if b else "false"


def validate_approval_conditions(conditions: list[Condition] | None, path: str) -> list[FieldError]:
    """At most one Approved and one Denied, each only True, and never both."""
    el: list[FieldError] = []
    approved = [c for c in conditions or [] if c.type == APPROVED]
    denied = [c for c in conditions or [] if c.type == DENIED]
    for ctype, found in ((APPROVED, approved), (DENIED, denied)):
        if not found:
            continue
        if len(found) > 1:
            el.append(forbidden(path, f'multiple "{ctype}" conditions present'))
            continue
        if found[0].status != "True":
            el.append(
                invalid(child(path, ctype), found[0].status, f'"{ctype}" condition may only be set to True')
            )
    if approved and denied:
        el.append(forbidden(path, "both 'Denied' and 'Approved' conditions cannot coexist"))
    return el


def validate_certificate_request_update(old: CertificateRequest, new: CertificateRequest) -> list[FieldError]:
    """Update rules (the create checklist does not run again): cert-manager annotations and
    the spec are frozen, and an approval decision, once written, is final."""
    el: list[FieldError] = []
    old_ann, new_ann = old.annotations(), new.annotations()
    for k in sorted(set(old_ann) | set(new_ann)):
        if k.startswith(_PROTECTED_ANNOTATION_PREFIXES) and old_ann.get(k) != new_ann.get(k):
            el.append(
                forbidden(
                    child("metadata.annotations", k), "cannot change cert-manager annotation after creation"
                )
            )
    old_conds = old.status.conditions if old.status else None
    new_conds = new.status.conditions if new.status else None
    for ctype in (APPROVED, DENIED):
        was = next((c for c in old_conds or [] if c.type == ctype), None)
        now = next((c for c in new_conds or [] if c.type == ctype), None)
        # any change counts, message and timestamps included
        if was is not None and (now is None or now.to_dict() != was.to_dict()):
            el.append(forbidden("status.conditions", f"'{ctype}' condition may not be modified once set"))
    el += validate_approval_conditions(new_conds, "status.conditions")
    if old.spec.to_dict() != new.spec.to_dict():
        el.append(forbidden("spec", "cannot change spec after creation"))
    return el
