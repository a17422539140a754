"""Does an existing CertificateRequest / issued certificate still fit the spec? (§2.2.1)

These decide re-issuance, so the comparisons reproduce cert-manager's exactly, quirks
included: unordered multiset comparisons, empty usages != the default usages, duration
only compared when both sides set it, and the province mismatch reported under
``spec.subject.postCodes`` as cert-manager does.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

from certkeeper.api.certificate import CertificateRequestSpec, CertificateSpec
from certkeeper.api.common import IssuerReference

from .csr import decode_csr, parse_ip
from .durations import parse_duration
from .errors import PKIError
from .subject import common_name_of, parse_literal_subject, values_of

ISSUER_NAME_ANNOTATION = "cert-manager.io/issuer-name"
ISSUER_KIND_ANNOTATION = "cert-manager.io/issuer-kind"
ISSUER_GROUP_ANNOTATION = "cert-manager.io/issuer-group"
DEFAULT_ISSUER_KIND = "Issuer"
DEFAULT_ISSUER_GROUP = "cert-manager.io"


def _equal_unsorted(a: Iterable[object], b: Iterable[object]) -> bool:
    return Counter(a) == Counter(b)


def _norm_ip(value: str) -> str | None:
    try:
        return str(parse_ip(value))
    except PKIError:
        return None


def _ips(values: Iterable[object]) -> list[str | None]:
    """SAN IPs as strings, IPv4-mapped IPv6 folded to IPv4 (Go's net.IP.Equal semantics)."""
    out: list[str | None] = []
    for ip in values:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        out.append(str(ip))
    return out


def _san(exts: x509.Extensions) -> x509.SubjectAlternativeName | None:
    try:
        return exts.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


class _AltNames:
    """The SAN lists Go's x509 parser exposes (DNSNames, EmailAddresses, IPAddresses, URIs)."""

    def __init__(self, exts: x509.Extensions) -> None:
        san = _san(exts)
        self.san = san
        self.dns: list[str] = san.get_values_for_type(x509.DNSName) if san else []
        self.emails: list[str] = san.get_values_for_type(x509.RFC822Name) if san else []
        self.ips: list[str | None] = _ips(san.get_values_for_type(x509.IPAddress)) if san else []
        self.uris: list[str] = san.get_values_for_type(x509.UniformResourceIdentifier) if san else []


def _kinds_equal(a: str | None, b: str | None) -> bool:
    return (a or DEFAULT_ISSUER_KIND) == (b or DEFAULT_ISSUER_KIND)


def _groups_equal(a: str | None, b: str | None) -> bool:
    return (a or DEFAULT_ISSUER_GROUP) == (b or DEFAULT_ISSUER_GROUP)


def _other_names_match(san: x509.SubjectAlternativeName | None, spec: CertificateSpec) -> bool:
    if san is None:
        return False
    found: list[tuple[str, str]] = []
    for on in san.get_values_for_type(x509.OtherName):
        value = on.value
        if not value or value[0] != 0x0C:
            raise PKIError(f"otherName is not an utf8 value, got tag 0x{value[:1].hex() or '00'}")
        # skip the DER length octets to reach the UTF-8 body
        length_octet = value[1]
        start = 2 + (length_octet & 0x7F if length_octet & 0x80 else 0)
        found.append((on.type_id.dotted_string, value[start:].decode("utf-8", errors="replace")))
    wanted = [(o.oid or "", o.utf8_value or "") for o in spec.other_names or []]
    return _equal_unsorted(found, wanted)


def request_matches_spec(cr_spec: CertificateRequestSpec, spec: CertificateSpec) -> list[str]:
    """Field paths of ``spec`` that the CertificateRequest no longer reflects.

    Remembered by the two specs' JSON: one issuance asks this of the same request and
    spec in several controllers and reconciles, and the answer depends on nothing else."""
    key = (cr_spec.model_dump_json(), spec.model_dump_json())
    found = _matches.get(key)
    if found is None:
        found = tuple(_request_matches_spec(cr_spec, spec))
        if len(_matches) >= _MATCHES_KEPT:
            _matches.clear()  # a bound, not an LRU: an issuance's questions come together
        _matches[key] = found
    return list(found)


_MATCHES_KEPT = 1024
_matches: dict[tuple[str, str], tuple[str, ...]] = {}


def _request_matches_spec(cr_spec: CertificateRequestSpec, spec: CertificateSpec) -> list[str]:
    csr = decode_csr(cr_spec.request or b"")
    try:
        alt = _AltNames(csr.extensions)
    except ValueError as e:
        raise PKIError(f"error parsing certificate request extensions: {e}") from None
    subj = spec.subject
    violations: list[str] = []

    if not _equal_unsorted(alt.ips, [_norm_ip(ip) for ip in spec.ip_addresses or []]):
        violations.append("spec.ipAddresses")
    if not _equal_unsorted(alt.uris, spec.uris or []):
        violations.append("spec.uris")
    if not _equal_unsorted(alt.emails, spec.email_addresses or []):
        violations.append("spec.emailAddresses")
    if not _equal_unsorted(alt.dns, spec.dns_names or []):
        violations.append("spec.dnsNames")
    if spec.other_names is not None and not _other_names_match(alt.san, spec):
        violations.append("spec.otherNames")

    if not spec.literal_subject:
        name = csr.subject
        serials = values_of(name, NameOID.SERIAL_NUMBER)
        checks: list[tuple[bool, str]] = [
            (common_name_of(name) == (spec.common_name or ""), "spec.commonName"),
            (
                (serials[-1] if serials else "") == ((subj.serial_number if subj else None) or ""),
                "spec.subject.serialNumber",
            ),
        ]
        fields = [
            (NameOID.ORGANIZATION_NAME, subj.organizations if subj else None, "spec.subject.organizations"),
            (NameOID.COUNTRY_NAME, subj.countries if subj else None, "spec.subject.countries"),
            (NameOID.LOCALITY_NAME, subj.localities if subj else None, "spec.subject.localities"),
            (
                NameOID.ORGANIZATIONAL_UNIT_NAME,
                subj.organizational_units if subj else None,
                "spec.subject.organizationalUnits",
            ),
            (NameOID.POSTAL_CODE, subj.postal_codes if subj else None, "spec.subject.postCodes"),
            # cert-manager reports a province mismatch under this same (wrong) path
            (NameOID.STATE_OR_PROVINCE_NAME, subj.provinces if subj else None, "spec.subject.postCodes"),
            (NameOID.STREET_ADDRESS, subj.street_addresses if subj else None, "spec.subject.streetAddresses"),
        ]
        for oid, wanted, path in fields:
            checks.append((_equal_unsorted(values_of(name, oid), wanted or []), path))
        violations += [path for ok, path in checks if not ok]
    elif csr.subject.public_bytes() != parse_literal_subject(spec.literal_subject).public_bytes():
        violations.append("spec.literalSubject")

    if bool(cr_spec.is_ca) != bool(spec.is_ca):
        violations.append("spec.isCA")
    if not _equal_unsorted(cr_spec.usages or [], spec.usages or []):
        violations.append("spec.usages")
    if cr_spec.duration and spec.duration and not _durations_equal(cr_spec.duration, spec.duration):
        violations.append("spec.duration")
    cr_ref = cr_spec.issuer_ref or IssuerReference()
    ref = spec.issuer_ref or IssuerReference()
    if (
        (cr_ref.name or "") != (ref.name or "")
        or not _kinds_equal(cr_ref.kind, ref.kind)
        or not _groups_equal(cr_ref.group, ref.group)
    ):
        violations.append("spec.issuerRef")
    return violations


def _durations_equal(a: str, b: str) -> bool:
    try:
        return parse_duration(a) == parse_duration(b)
    except ValueError:
        return a == b


def certificate_matches_spec(cert: x509.Certificate, spec: CertificateSpec) -> list[str]:
    """FuzzyX509AltNamesMatchSpec: CN and DNS names may trade places; IP/URI/email exact."""
    try:
        alt = _AltNames(cert.extensions)
    except ValueError as e:
        raise PKIError(f"error parsing certificate extensions: {e}") from None
    violations: list[str] = []
    spec_cn = spec.common_name or ""
    cert_cn = common_name_of(cert.subject)
    expected = set(spec.dns_names or [])
    if spec_cn:
        expected.add(spec_cn)
    actual = set(alt.dns)
    if cert_cn:
        actual.add(cert_cn)
    if actual != expected:
        if (spec_cn and spec_cn not in actual) or (cert_cn and cert_cn not in expected):
            violations.append("spec.commonName")
        if not actual.issuperset(spec.dns_names or []) or not expected.issuperset(alt.dns):
            violations.append("spec.dnsNames")
    if not _equal_unsorted(alt.ips, [_norm_ip(ip) for ip in spec.ip_addresses or []]):
        violations.append("spec.ipAddresses")
    if not _equal_unsorted(alt.uris, spec.uris or []):
        violations.append("spec.uris")
    if not _equal_unsorted(alt.emails, spec.email_addresses or []):
        violations.append("spec.emailAddresses")
    return violations


def issuer_annotations_match(annotations: dict[str, str], ref: IssuerReference) -> bool:
    """cert-manager's SecretIssuerAnnotationsMismatch, negated, with its operator precedence.

    The name is only compared when some issuer annotation exists, but kind and group
    always are (missing = default), so a Secret with no annotations fits only a ref whose
    kind and group are the defaults.
    """
    present = any(
        k in annotations for k in (ISSUER_NAME_ANNOTATION, ISSUER_KIND_ANNOTATION, ISSUER_GROUP_ANNOTATION)
    )
    name = annotations.get(ISSUER_NAME_ANNOTATION, "")
    kind = annotations.get(ISSUER_KIND_ANNOTATION, "")
    group = annotations.get(ISSUER_GROUP_ANNOTATION, "")
    mismatch = (
        (present and name != (ref.name or ""))
        or not _kinds_equal(kind, ref.kind)
        or not _groups_equal(group, ref.group)
    )
    return not mismatch


def format_issuer_ref(name: str, kind: str, group: str) -> str:
    """``<Kind>.<group>/<name>`` with defaults, for the IncorrectIssuer message."""
    return f"{kind or DEFAULT_ISSUER_KIND}.{group or DEFAULT_ISSUER_GROUP}/{name}"
