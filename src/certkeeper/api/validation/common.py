"""Checks shared by several kinds: issuer references, Secret key selectors, CRD formats.

Some rules come from the CRD's OpenAPI schema rather than the webhook (``format: byte``,
enums). The API server applies both before anything is stored, so certkeeper, having no
API server on a host, runs them here too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt

from cryptography import x509

from ...pki.durations import parse_duration
from ..common import GROUP, IssuerReference, SecretKeySelector
from .errors import FieldError, child, invalid, not_supported, required
from .text import check_control


def validate_issuer_ref(ref: IssuerReference | None, path: str) -> list[FieldError]:
    """``validateIssuerRef``: name required; a cert-manager.io kind must be one of ours."""
    el: list[FieldError] = []
    ref_path = child(path, "issuerRef")
    ref = ref or IssuerReference()
    if not ref.name:
        el.append(required(child(ref_path, "name"), "must be specified"))
    # no object can have such a name, and the reference is logged and shown verbatim
    el += check_control(ref.name, child(ref_path, "name"))
    el += check_control(ref.kind, child(ref_path, "kind"))
    el += check_control(ref.group, child(ref_path, "group"))
    group = ref.group or ""
    kind = ref.kind or ""
    if group in ("", GROUP) and kind not in ("", "Issuer", "ClusterIssuer"):
        kind_path = child(ref_path, "kind")
        msg = "must be one of Issuer or ClusterIssuer"
        if not group:
            # the hint's path is built as a child of the kind path, as cert-manager does
            msg += f" (did you forget to set {child(kind_path, 'group')}?)"
        el.append(invalid(kind_path, kind, msg))
    return el


def validate_secret_key_selector(sks: SecretKeySelector | None, path: str) -> list[FieldError]:
    """``ValidateSecretKeySelector``: both name and key are needed to read a credential."""
    el: list[FieldError] = []
    sks = sks or SecretKeySelector()
    if not sks.name:
        el.append(required(child(path, "name"), "secret name is required"))
    if not sks.key:
        el.append(required(child(path, "key"), "secret key is required"))
    return el


def decode_bytes_field(value: str) -> bytes | None:
    """A Kubernetes ``[]byte`` field is standard base64 in JSON; None if it is not."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def validate_byte_format(value: str | None, path: str) -> list[FieldError]:
    """The CRD's ``format: byte``, with the API server's message."""
    if value is None or decode_bytes_field(value) is not None:
        return []
    return [invalid(path, value, f'{path} in body must be of type byte: "{value}"')]


def validate_enum(value: str | None, path: str, allowed: tuple[str, ...]) -> list[FieldError]:
    """A CRD ``enum``: an unset field is fine, anything else must be listed."""
    if value is None or value in allowed:
        return []
    return [not_supported(path, value, allowed)]


def parse_go_duration(value: str, path: str, el: list[FieldError]) -> _dt.timedelta | None:
    """Parse a ``metav1.Duration``; an unparsable one is reported the way decoding fails."""
    try:
        return parse_duration(value)
    except ValueError as e:
        el.append(invalid(path, value, str(e)))
        return None


def ca_bundle_error(ca_bundle: str) -> str | None:
    """Why a base64 ``caBundle`` is unusable (Go's ``AppendCertsFromPEM`` found nothing)."""
    raw = decode_bytes_field(ca_bundle)
    if raw is None:
        return None  # reported by the byte-format check
    try:
        if x509.load_pem_x509_certificates(raw):
            return None
    except ValueError:
        pass
    return "cert bundle didn't contain any valid certificates"
