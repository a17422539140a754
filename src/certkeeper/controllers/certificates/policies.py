"""The re-issuance and readiness policy chains: small named checks, first violation wins.

Each check returns ``(reason, message)`` when violated, else None. The order is
cert-manager's; the reason strings and messages are its user interface.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from cryptography import x509

from ...api import constants as c
from ...api.common import IssuerReference
from ...api.core import TLS_CERT, TLS_KEY
from ...api.meta import format_time, parse_time
from ...pki.chain import parse_certificates
from ...pki.csr import decode_csr
from ...pki.errors import PKIError
from ...pki.keys import decode_private_key, key_mismatches_spec, public_keys_equal
from ...pki.match import certificate_matches_spec, request_matches_spec
from .gather import Input
from .util import scheduled_renewal

Violation = tuple[str, str]
Check = Callable[[Input], Violation | None]


def go_list(items: list[str]) -> str:
    """How Go's %v prints a []string."""
    return "[" + " ".join(items) + "]"


def go_time(t: dt.datetime) -> str:
    """How Go prints a metav1.Time with %s."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _leaf(input: Input) -> x509.Certificate:
    assert input.secret is not None
    return parse_certificates(input.secret.get(TLS_CERT) or b"")[0]


def secret_does_not_exist(input: Input) -> Violation | None:
    if input.secret is None:
        return c.DOES_NOT_EXIST, "Issuing certificate as Secret does not exist"
    return None


def secret_is_missing_data(input: Input) -> Violation | None:
    assert input.secret is not None
    if not input.secret.data:
        return c.MISSING_DATA, "Issuing certificate as Secret does not contain any data"
    if not input.secret.get(TLS_KEY):
        return c.MISSING_DATA, "Issuing certificate as Secret does not contain a private key"
    if not input.secret.get(TLS_CERT):
        return c.MISSING_DATA, "Issuing certificate as Secret does not contain a certificate"
    return None


def secret_public_keys_differ(input: Input) -> Violation | None:
    assert input.secret is not None
    try:
        key = decode_private_key(input.secret.get(TLS_KEY) or b"")
    except PKIError as e:
        return c.INVALID_KEY_PAIR, f"Issuing certificate as Secret contains invalid private key data: {e}"
    try:
        leaf = _leaf(input)
    except PKIError as e:
        return c.INVALID_CERTIFICATE, f"Issuing certificate as Secret contains an invalid certificate: {e}"
    if not public_keys_equal(leaf.public_key(), key):
        return (
            c.INVALID_KEY_PAIR,
            "Issuing certificate as Secret contains a private key that does not match the certificate",
        )
    return None


def _format_issuer(name: str, kind: str, group: str) -> str:
    return f"{kind or 'Issuer'}.{group or 'cert-manager.io'}/{name}"


def secret_issuer_annotations_mismatch(input: Input) -> Violation | None:
    assert input.secret is not None
    ann = input.secret.annotations()
    keys = (c.ANN_ISSUER_NAME, c.ANN_ISSUER_KIND, c.ANN_ISSUER_GROUP)
    if not any(k in ann for k in keys):
        return None
    ref = input.certificate.spec.issuer_ref or IssuerReference()
    name, kind, group = (ann.get(k, "") for k in keys)
    if not ref.same_issuer(IssuerReference(name=name, kind=kind or None, group=group or None)):
        return (
            c.INCORRECT_ISSUER,
            f'Issuing certificate as Secret was previously issued by "{_format_issuer(name, kind, group)}"',
        )
    return None


def secret_certificate_name_mismatch(input: Input) -> Violation | None:
    assert input.secret is not None
    name = input.secret.annotations().get(c.ANN_CERTIFICATE_NAME)
    if name is not None and name != input.certificate.name:
        return (
            c.INCORRECT_CERTIFICATE,
            f'Secret was issued for "{name}". If this message is not transient, you might have two '
            "conflicting Certificates pointing to the same secret.",
        )
    return None


def secret_private_key_mismatches_spec(input: Input) -> Violation | None:
    assert input.secret is not None
    try:
        key = decode_private_key(input.secret.get(TLS_KEY) or b"")
    except PKIError as e:
        return c.INVALID_KEY_PAIR, f"Issuing certificate as Secret contains invalid private key data: {e}"
    violations = key_mismatches_spec(key, input.certificate.spec)
    if violations:
        return c.SECRET_MISMATCH, f"Existing private key is not up to date for spec: {go_list(violations)}"
    return None


def secret_key_differs_from_current_request(input: Input) -> Violation | None:
    if input.current_request is None:
        return None
    assert input.secret is not None
    try:
        key = decode_private_key(input.secret.get(TLS_KEY) or b"")
    except PKIError as e:
        return c.INVALID_KEY_PAIR, f"Issuing certificate as Secret contains invalid private key data: {e}"
    try:
        csr = decode_csr(input.current_request.spec.request or b"")
    except PKIError as e:
        return c.INVALID_CERTIFICATE_REQUEST, f"Failed to decode current CertificateRequest: {e}"
    if not public_keys_equal(csr.public_key(), key):
        return c.SECRET_MISMATCH, "Secret contains a private key that does not match the current CertificateRequest"
    return None


def current_request_mismatches_spec(input: Input) -> Violation | None:
    if input.current_request is None:
        try:
            leaf = _leaf(input)
        except PKIError as e:
            return c.INVALID_CERTIFICATE, f"Issuing certificate as Secret contains an invalid certificate: {e}"
        violations = certificate_matches_spec(leaf, input.certificate.spec)
        if violations:
            return (
                c.SECRET_MISMATCH,
                f"Issuing certificate as Existing issued Secret is not up to date for spec: {go_list(violations)}",
            )
        return None
    try:
        violations = request_matches_spec(input.current_request.spec, input.certificate.spec)
    except PKIError:
        return None  # an undecodable request does not by itself force re-issuance
    if violations:
        return (
            c.REQUEST_CHANGED,
            f"Fields on existing CertificateRequest resource not up to date: {go_list(violations)}",
        )
    return None


def nearing_expiry(now: Callable[[], dt.datetime]) -> Check:
    def current_certificate_nearing_expiry(input: Input) -> Violation | None:
        try:
            leaf = _leaf(input)
        except PKIError as e:
            return c.INVALID_CERTIFICATE, f"Issuing certificate as Secret contains an invalid certificate: {e}"
        when, _ = scheduled_renewal(input.certificate, leaf)
        if when is None or when > now():
            return None
        status = input.certificate.status
        scheduled = parse_time(status.renewal_time) if status and status.renewal_time else when
        return c.RENEWING, f"Renewing certificate as renewal was scheduled at {go_time(scheduled)}"

    return current_certificate_nearing_expiry


def has_expired(now: Callable[[], dt.datetime]) -> Check:
    def current_certificate_has_expired(input: Input) -> Violation | None:
        try:
            leaf = _leaf(input)
        except PKIError as e:
            return c.INVALID_CERTIFICATE, f"Issuing certificate as Secret contains an invalid certificate: {e}"
        if now() > leaf.not_valid_after_utc:
            rfc1123 = leaf.not_valid_after_utc.strftime("%a, %d %b %Y %H:%M:%S UTC")
            return c.EXPIRED, f"Certificate expired on {rfc1123}"
        return None

    return current_certificate_has_expired


SECRET_CHECKS: list[Check] = [
    secret_does_not_exist,
    secret_is_missing_data,
    secret_public_keys_differ,
    secret_issuer_annotations_mismatch,
    secret_certificate_name_mismatch,
    secret_private_key_mismatches_spec,
    secret_key_differs_from_current_request,
    current_request_mismatches_spec,
]


class _SecretChecksMemo:
    """The Secret checks are pure functions of the Certificate's spec and name, the Secret
    and the current request; trigger and readiness both run them, on every event. Their
    result is remembered by those objects' uids and resourceVersions (a bounded LRU)."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._memo: OrderedDict[Hashable, tuple[Violation | None]] = OrderedDict()

    @staticmethod
    def _key(input: Input) -> Hashable | None:
        cert, secret, cr = input.certificate, input.secret, input.current_request
        if not cert.uid or cert.metadata.generation is None:
            return None
        return (
            cert.uid, cert.metadata.generation,
            (secret.uid, secret.metadata.resource_version) if secret else None,
            (cr.uid, cr.metadata.resource_version) if cr else None,
        )

    def __call__(self, input: Input) -> Violation | None:
        key = self._key(input)
        if key is None:
            return evaluate(SECRET_CHECKS, input)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit[0]
        result = evaluate(SECRET_CHECKS, input)
        with self._lock:
            self._memo[key] = (result,)
            if len(self._memo) > self._size:
                self._memo.popitem(last=False)
        return result


secret_checks = _SecretChecksMemo()


def trigger_chain(now: Callable[[], dt.datetime]) -> list[Check]:
    return [secret_checks, nearing_expiry(now)]


def readiness_chain(now: Callable[[], dt.datetime]) -> list[Check]:
    return [secret_checks, has_expired(now)]


def evaluate(chain: list[Check], input: Input) -> Violation | None:
    for check in chain:
        violation = check(input)
        if violation is not None:
            return violation
    return None


__all__ = ["evaluate", "trigger_chain", "readiness_chain", "go_list", "go_time", "format_time"]
