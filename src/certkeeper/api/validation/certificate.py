"""Certificate checklist (spec §1.5; cert-manager internal/apis/certmanager/validation/certificate.go).

The same rules run on create and update: cert-manager has no immutable Certificate
fields. Numbers in the comments refer to the checklist in the behaviour spec. The feature
gates of the checklist (LiteralCertificateSubject, OtherNames, NameConstraints) are on by
default in cert-manager and always on here, so their "Forbidden" branches do not exist.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import zoneinfo
from email.utils import parseaddr

from ...pki.durations import format_duration
from ...pki.errors import PKIError
from ...pki.subject import common_name_of, parse_literal_subject
from ...pki.usages import EXT_KEY_USAGES, KEY_USAGES
from ..certificate import Certificate, CertificateKeystores, CertificateSpec, NameConstraints
from .common import parse_go_duration, validate_enum, validate_issuer_ref
from .errors import (
    FieldError,
    child,
    duplicate,
    forbidden,
    index,
    invalid,
    not_supported,
    required,
    too_long,
)
from .hostfiles import validate_host_file_annotations
from .names import is_dns1123_subdomain, validate_annotations, validate_labels
from .text import check_control, check_control_list, dns_name_error, has_control, uri_error

MINIMUM_CERTIFICATE_DURATION = _dt.timedelta(hours=1)
DEFAULT_CERTIFICATE_DURATION = _dt.timedelta(hours=2160)
MINIMUM_RENEW_BEFORE = _dt.timedelta(minutes=5)
MAX_COMMON_NAME = 64

RSA_MIN_SIZE = 2048
RSA_MAX_SIZE = 8192
ECDSA_SIZES = ("256", "384", "521")

SIGNATURE_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "RSA": ("SHA256WithRSA", "SHA384WithRSA", "SHA512WithRSA"),
    "ECDSA": ("ECDSAWithSHA256", "ECDSAWithSHA384", "ECDSAWithSHA512"),
    "Ed25519": ("PureEd25519",),
}

ALLOWED_SECRET_TEMPLATE_ANNOTATION = "cert-manager.io/allow-direct-injection"

#: CRD enums that the webhook itself does not check
PRIVATE_KEY_ENCODINGS = ("PKCS1", "PKCS8")
ROTATION_POLICIES = ("Never", "Always")
OUTPUT_FORMAT_TYPES = ("DER", "CombinedPEM")
PKCS12_PROFILES = ("LegacyRC2", "LegacyDES", "Modern2023", "Modern2026")
_WINDOW_DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(s|m|h))+$")

def validate_certificate(crt: Certificate) -> list[FieldError]:
    return validate_certificate_spec(crt.spec, "spec")


def validate_certificate_spec(spec: CertificateSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    el += _secret_name(spec, path)  # 1
    el += validate_issuer_ref(spec.issuer_ref, path)  # 2
    common_name = spec.common_name or ""
    if spec.literal_subject:  # 3
        cn, errs = _literal_subject(spec, path)
        el += errs
        common_name = cn if cn is not None else common_name
    el += _at_least_one_name(spec, common_name, path)  # 4
    if len(common_name) > MAX_COMMON_NAME:  # 5
        el.append(too_long(child(path, "commonName"), common_name, MAX_COMMON_NAME))
    el += _ip_addresses(spec, path)  # 6
    el += _email_addresses(spec, path)  # 6
    el += _other_names(spec, path)  # 7
    el += _private_key(spec, path)  # 8
    el += _signature_algorithm(spec, path)  # 9
    # 10: current cert-manager checks a percentage set alone too (0 or 100 is refused)
    if spec.duration is not None or spec.renew_before is not None or spec.renew_before_percentage is not None:
        el += validate_duration(spec, path)
    el += _usages(spec, path)  # 11
    if spec.revision_history_limit is not None and spec.revision_history_limit < 1:  # 12
        el.append(
            invalid(
                child(path, "revisionHistoryLimit"), spec.revision_history_limit, "must not be less than 1"
            )
        )
    el += _secret_template(spec, path)  # 13
    el += _name_constraints(spec, path)  # 14
    el += _additional_output_formats(spec, path)  # 15
    el += _keystores(spec.keystores, child(path, "keystores"))  # 16
    el += _renewal(spec, path)  # 17
    el += _name_text(spec, path)  # 18
    return el


# 18 (certkeeper) -------------------------------------------------------------------------


def _name_text(spec: CertificateSpec, path: str) -> list[FieldError]:
    """Names that go into the certificate: no control characters anywhere, DNS names and
    URIs in a form that can be signed (see ``text``)."""
    el: list[FieldError] = []
    el += check_control(spec.common_name, child(path, "commonName"))
    el += check_control(spec.literal_subject, child(path, "literalSubject"))
    if spec.subject is not None:
        sp = child(path, "subject")
        s = spec.subject
        for name, values in (
            ("organizations", s.organizations),
            ("countries", s.countries),
            ("organizationalUnits", s.organizational_units),
            ("localities", s.localities),
            ("provinces", s.provinces),
            ("streetAddresses", s.street_addresses),
            ("postalCodes", s.postal_codes),
        ):
            el += check_control_list(values, child(sp, name))
        el += check_control(s.serial_number, child(sp, "serialNumber"))
    for i, name in enumerate(spec.dns_names or []):
        err = dns_name_error(name)
        if err:
            el.append(invalid(index(child(path, "dnsNames"), i), name, err))
    for i, uri in enumerate(spec.uris or []):
        err = uri_error(uri)
        if err:
            el.append(invalid(index(child(path, "uris"), i), uri, f"invalid URI: {err}"))
    for i, email in enumerate(spec.email_addresses or []):
        if has_control(email):  # the address parser reports other defects (6)
            el += check_control(email, index(child(path, "emailAddresses"), i))
    return el


# 1 --------------------------------------------------------------------------------------


def _secret_name(spec: CertificateSpec, path: str) -> list[FieldError]:
    p = child(path, "secretName")
    if not spec.secret_name:
        return [required(p, "must be specified")]
    return [invalid(p, spec.secret_name, m) for m in is_dns1123_subdomain(spec.secret_name)]


# 3 --------------------------------------------------------------------------------------


def _literal_subject(spec: CertificateSpec, path: str) -> tuple[str | None, list[FieldError]]:
    """Checks literalSubject; returns the CN it carries (None if it could not be parsed)."""
    el: list[FieldError] = []
    literal = spec.literal_subject or ""
    if spec.common_name:
        el.append(
            invalid(
                child(path, "commonName"),
                spec.common_name,
                "When providing a `LiteralSubject` no `commonName` may be provided.",
            )
        )
    s = spec.subject
    if s is not None and any(
        (
            s.organizations,
            s.countries,
            s.organizational_units,
            s.localities,
            s.provinces,
            s.street_addresses,
            s.postal_codes,
            s.serial_number,
        )
    ):
        el.append(
            invalid(
                child(path, "subject"),
                s.to_dict(),
                "When providing a `LiteralSubject` no `Subject` properties may be provided.",
            )
        )
    try:
        name = parse_literal_subject(literal)
    except PKIError as e:
        el.append(invalid(child(path, "literalSubject"), literal, str(e)))
        return None, el
    return common_name_of(name), el


# 4, 6, 7 --------------------------------------------------------------------------------


def _at_least_one_name(spec: CertificateSpec, common_name: str, path: str) -> list[FieldError]:
    if (
        common_name
        or spec.dns_names
        or spec.uris
        or spec.email_addresses
        or spec.ip_addresses
        or spec.other_names
    ):
        return []
    return [
        invalid(
            path,
            "",
            "at least one of commonName (from the commonName field or from a literalSubject), "
            "dnsNames, emailSANs, ipAddresses, otherNames, or uriSANs must be set",
        )
    ]


def _ip_addresses(spec: CertificateSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    for i, ip in enumerate(spec.ip_addresses or []):
        try:
            # Go's net.ParseIP has no zone suffix
            if "%" in ip:
                raise ValueError(ip)
            ipaddress.ip_address(ip)
        except ValueError:
            el.append(invalid(index(child(path, "ipAddresses"), i), ip, "invalid IP address"))
    return el


_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\]\\,;:\"]+@[^\s@<>()\[\]\\,;:\"]+$")


def parse_mail_address(s: str) -> str:
    """A subset of Go's ``mail.ParseAddress``: returns the bare address or raises ValueError."""
    if not s.strip():
        raise ValueError("mail: no address")
    _, addr = parseaddr(s)
    if not addr:
        raise ValueError("mail: no address")
    if "@" not in addr:
        raise ValueError("mail: missing @ in addr-spec")
    if not _ADDR_SPEC.match(addr):
        raise ValueError("mail: invalid string")
    return addr


def _email_addresses(spec: CertificateSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    for i, e in enumerate(spec.email_addresses or []):
        p = index(child(path, "emailAddresses"), i)
        try:
            addr = parse_mail_address(e)
        except ValueError as err:
            el.append(invalid(p, e, f"invalid email address: {err}"))
            continue
        if addr != e:
            el.append(
                invalid(
                    p,
                    e,
                    "invalid email address: make sure the supplied value only contains the email address itself",
                )
            )
    return el


_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def _other_names(spec: CertificateSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    for i, on in enumerate(spec.other_names or []):
        p = index(child(path, "otherNames"), i)
        if not on.oid:
            el.append(required(child(p, "oid"), "must be specified"))
        # as in cert-manager, an empty oid is also reported as unparsable
        if not _OID_RE.match(on.oid or ""):
            el.append(invalid(child(p, "oid"), on.oid or "", "invalid oid syntax"))
        if not on.utf8_value:
            el.append(required(child(p, "utf8Value"), "must be set to a valid non-empty UTF8 string"))
    return el


# 8, 9 -----------------------------------------------------------------------------------


def _private_key(spec: CertificateSpec, path: str) -> list[FieldError]:
    pk = spec.private_key
    if pk is None:
        return []
    p = child(path, "privateKey")
    el: list[FieldError] = []
    size = pk.size or 0
    algorithm = pk.algorithm or ""
    if algorithm in ("", "RSA"):
        if size > 0 and not RSA_MIN_SIZE <= size <= RSA_MAX_SIZE:
            el.append(
                invalid(
                    child(p, "size"),
                    size,
                    f"must be between {RSA_MIN_SIZE} and {RSA_MAX_SIZE} for rsa keyAlgorithm",
                )
            )
    elif algorithm == "ECDSA":
        if size > 0 and str(size) not in ECDSA_SIZES:
            el.append(not_supported(child(p, "size"), size, ECDSA_SIZES))
    elif algorithm != "Ed25519":
        el.append(
            invalid(child(p, "algorithm"), algorithm, "must be either empty or one of rsa, ecdsa or ed25519")
        )
    el += validate_enum(pk.encoding, child(p, "encoding"), PRIVATE_KEY_ENCODINGS)
    el += validate_enum(pk.rotation_policy, child(p, "rotationPolicy"), ROTATION_POLICIES)
    return el


def _signature_algorithm(spec: CertificateSpec, path: str) -> list[FieldError]:
    if not spec.signature_algorithm:
        return []
    key_alg = (spec.private_key.algorithm if spec.private_key else None) or "RSA"
    allowed = SIGNATURE_ALGORITHMS.get(key_alg)
    if allowed is None:  # unknown key algorithm: reported by _private_key
        return []
    if spec.signature_algorithm in allowed:
        return []
    return [
        invalid(
            child(path, "signatureAlgorithm"),
            spec.signature_algorithm,
            f"for key algorithm {key_alg} the allowed signature algorithms are [{' '.join(allowed)}]",
        )
    ]


# 10 -------------------------------------------------------------------------------------


def validate_duration(spec: CertificateSpec, path: str) -> list[FieldError]:
    """``ValidateDuration``. Quirk kept: the percentage uses (100 - pct), unlike the runtime."""
    el: list[FieldError] = []
    duration = DEFAULT_CERTIFICATE_DURATION
    if spec.duration is not None:
        parsed = parse_go_duration(spec.duration, child(path, "duration"), el)
        if parsed is None:
            return el
        duration = parsed
    renew_before: _dt.timedelta | None = None
    if spec.renew_before is not None:
        renew_before = parse_go_duration(spec.renew_before, child(path, "renewBefore"), el)
        if renew_before is None:
            return el
    pct = spec.renew_before_percentage

    if duration < MINIMUM_CERTIFICATE_DURATION:
        el.append(
            invalid(
                child(path, "duration"),
                duration,
                f"certificate duration must be greater than {_go(MINIMUM_CERTIFICATE_DURATION)}",
            )
        )
    if renew_before is not None and pct is not None:
        msg = "renewBefore and renewBeforePercentage are mutually exclusive and cannot both be set"
        el.append(invalid(child(path, "renewBefore"), renew_before, msg))
        el.append(invalid(child(path, "renewBeforePercentage"), pct, msg))
    if renew_before is not None and renew_before < MINIMUM_RENEW_BEFORE:
        el.append(
            invalid(
                child(path, "renewBefore"),
                renew_before,
                f"certificate renewBefore must be greater than {_go(MINIMUM_RENEW_BEFORE)}",
            )
        )
    if renew_before is not None and renew_before >= duration:
        el.append(
            invalid(
                child(path, "renewBefore"),
                renew_before,
                f"certificate duration {_go(duration)} must be greater than renewBefore {_go(renew_before)}",
            )
        )
    if pct is not None:
        derived = duration * (100 - pct) / 100
        if derived < MINIMUM_RENEW_BEFORE:
            el.append(
                invalid(
                    child(path, "renewBeforePercentage"),
                    pct,
                    "certificate renewBeforePercentage must result in a renewBefore greater than "
                    f"{_go(MINIMUM_RENEW_BEFORE)}",
                )
            )
        if derived >= duration:
            el.append(
                invalid(
                    child(path, "renewBeforePercentage"),
                    pct,
                    "certificate renewBeforePercentage must result in a renewBefore less than duration",
                )
            )
    return el


def _go(td: _dt.timedelta) -> str:
    return format_duration(td)


# 11 -------------------------------------------------------------------------------------


def _usages(spec: CertificateSpec, path: str) -> list[FieldError]:
    return [
        invalid(index(child(path, "usages"), i), u, "unknown keyusage")
        for i, u in enumerate(spec.usages or [])
        if u not in KEY_USAGES and u not in EXT_KEY_USAGES
    ]


# 13 -------------------------------------------------------------------------------------


def _secret_template(spec: CertificateSpec, path: str) -> list[FieldError]:
    st = spec.secret_template
    if st is None:
        return []
    el: list[FieldError] = []
    labels_path = child(path, "secretTemplate", "labels")
    ann_path = child(path, "secretTemplate", "annotations")
    el += validate_labels(st.labels, labels_path)
    for key in st.annotations or {}:
        if key.startswith("cert-manager.io/") and key != ALLOWED_SECRET_TEMPLATE_ANNOTATION:
            el.append(invalid(ann_path, key, "cert-manager.io/* annotations are not allowed"))
    el += validate_annotations(st.annotations, ann_path)
    el += validate_host_file_annotations(st.annotations, ann_path)
    return el


# 14 -------------------------------------------------------------------------------------


def _name_constraints(spec: CertificateSpec, path: str) -> list[FieldError]:
    nc: NameConstraints | None = spec.name_constraints
    if nc is None:
        return []
    p = child(path, "nameConstraints")
    el: list[FieldError] = []
    if not spec.is_ca:
        el.append(invalid(p, nc.to_dict(), "isCa should be true when nameConstraints is set"))
    if nc.permitted is None and nc.excluded is None:
        el.append(invalid(p, nc.to_dict(), "either permitted or excluded must be set"))
    for part_name, part in (("permitted", nc.permitted), ("excluded", nc.excluded)):
        if part is None:
            continue
        for i, cidr in enumerate(part.ip_ranges or []):
            try:
                ipaddress.ip_network(cidr, strict=False)
                if "/" not in cidr:
                    raise ValueError(cidr)
            except ValueError:
                el.append(
                    invalid(
                        index(child(p, part_name, "ipRanges"), i),
                        cidr,
                        "must be a valid CIDR: invalid CIDR address: " + cidr,
                    )
                )
    return el


# 15 -------------------------------------------------------------------------------------


def _additional_output_formats(spec: CertificateSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    seen: set[str] = set()
    for i, fmt in enumerate(spec.additional_output_formats or []):
        p = child(index(child(path, "additionalOutputFormats"), i), "type")
        el += validate_enum(fmt.type, p, OUTPUT_FORMAT_TYPES)
        if fmt.type in seen:
            el.append(duplicate(p, fmt.type))
            continue
        seen.add(fmt.type)
    return el


# 16 -------------------------------------------------------------------------------------


def _keystores(ks: CertificateKeystores | None, path: str) -> list[FieldError]:
    if ks is None:
        return []
    el: list[FieldError] = []
    for name, label, store in (("jks", "JKS", ks.jks), ("pkcs12", "PKCS#12", ks.pkcs12)):
        if store is None:
            continue
        p = child(path, name)
        ref_name = store.password_secret_ref.name if store.password_secret_ref else None
        if store.password is not None and ref_name:
            el.append(
                forbidden(
                    p,
                    f"exactly one of passwordSecretRef and password must be provided for {label} keystores; cannot set both",
                )
            )
        if store.password is None and not ref_name:
            # the doubled "must" is cert-manager's wording
            el.append(
                forbidden(
                    p, f"must set exactly one of passwordSecretRef and password must for {label} keystores"
                )
            )
        if store.password is not None and store.password == "":
            el.append(
                forbidden(
                    child(p, "password"), f"literal password cannot be empty if set on {label} keystores"
                )
            )
    if ks.pkcs12 is not None:
        el += validate_enum(ks.pkcs12.profile, child(path, "pkcs12", "profile"), PKCS12_PROFILES)
    return el


# 17 -------------------------------------------------------------------------------------


def _renewal(spec: CertificateSpec, path: str) -> list[FieldError]:
    r = spec.renewal
    if r is None:
        return []
    p = child(path, "renewal")
    el: list[FieldError] = []
    if r.policy == "Disabled":
        if r.windows:
            el.append(
                forbidden(
                    child(p, "windows"), "windows cannot be set when `renewal.policy` is set to Disabled"
                )
            )
        return el
    if r.policy != "RenewBefore":
        el.append(
            not_supported(
                child(p, "policy"), f"unsupported field {r.policy or ''}", ("Disabled", "RenewBefore")
            )
        )
    for i, w in enumerate(r.windows or []):
        wp = index(child(p, "windows"), i)
        if w.window_duration is None:
            el.append(
                required(
                    child(wp, "windowDuration"),
                    "windowDuration must be specified and should be greater than 0",
                )
            )
        elif not _WINDOW_DURATION_RE.match(w.window_duration):
            el.append(
                invalid(
                    child(wp, "windowDuration"),
                    w.window_duration,
                    f"{child(wp, 'windowDuration')} in body should match '{_WINDOW_DURATION_RE.pattern}'",
                )
            )
        if w.timezone:
            try:
                zoneinfo.ZoneInfo(w.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                el.append(
                    invalid(
                        child(wp, "timezone"),
                        w.timezone,
                        "invalid value for timezone. timezone must be IANA compliant",
                    )
                )
        err = cron_error(w.cron or "")
        if err:
            el.append(
                invalid(
                    child(wp, "cron"),
                    w.cron or "",
                    f"invalid cron syntax: {err}. cron needs to follow: "
                    "cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow",
                )
            )
    return el


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_CRON_NAMES = {
    "month": {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    "day of week": {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_error(expr: str) -> str | None:
    """Why a standard 5-field cron expression (robfig/cron's parser) is unusable, or None."""
    expr = expr.strip()
    if not expr:
        return "empty spec string"
    if expr.startswith("@"):
        return None if expr in CRON_DESCRIPTORS else f"unrecognized descriptor: {expr}"
    fields = expr.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (name, lo, hi) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            err = _cron_part_error(part, name, lo, hi)
            if err:
                return err
    return None


def _cron_value(s: str, name: str) -> int:
    names = _CRON_NAMES.get(name, {})
    if s.lower() in names:
        return names[s.lower()]
    if not s.isdigit():
        raise ValueError(f"failed to parse int from {s}")
    return int(s)


def _cron_part_error(part: str, name: str, lo: int, hi: int) -> str | None:
    rng, _, step = part.partition("/")
    try:
        if step and (not step.isdigit() or int(step) == 0):
            return (
                f"failed to parse int from {step}"
                if not step.isdigit()
                else "step of range should be a positive number"
            )
        if rng in ("*", "?"):
            return None
        start_s, _, end_s = rng.partition("-")
        start = _cron_value(start_s, name)
        end = _cron_value(end_s, name) if end_s else start
    except ValueError as e:
        return str(e)
    if start < lo:
        return f"beginning of range ({start}) below minimum ({lo}): {part}"
    if end > hi:
        return f"end of range ({end}) above maximum ({hi}): {part}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {part}"
    return None
