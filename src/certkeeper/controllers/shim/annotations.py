"""cert-manager's shim annotations (certificate-shim/helper.go) turned into a Certificate spec.

Each annotation is checked on its own, so that a bad value is reported under its own
name: ``cert-manager.io/duration: "10m"`` is the Ingress's mistake, not the
Certificate's. Nothing is written while any annotation is bad.
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ...api.certificate import CertificatePrivateKey, CertificateSecretTemplate, CertificateSpec, X509Subject
from ...api.validation.certificate import (
    ALLOWED_SECRET_TEMPLATE_ANNOTATION,
    ECDSA_SIZES,
    MAX_COMMON_NAME,
    MINIMUM_CERTIFICATE_DURATION,
    MINIMUM_RENEW_BEFORE,
    RSA_MAX_SIZE,
    RSA_MIN_SIZE,
    parse_mail_address,
)
from ...pki.durations import parse_duration
from ...pki.usages import EXT_KEY_USAGES, KEY_USAGES

CM = "cert-manager.io/"
ACME = "acme.cert-manager.io/"

ISSUER = CM + "issuer"
CLUSTER_ISSUER = CM + "cluster-issuer"
ISSUER_KIND = CM + "issuer-kind"
ISSUER_GROUP = CM + "issuer-group"
COMMON_NAME = CM + "common-name"
ALT_NAMES = CM + "alt-names"
IP_SANS = CM + "ip-sans"
URI_SANS = CM + "uri-sans"
EMAIL_SANS = CM + "email-sans"
SUBJECT_SERIAL = CM + "subject-serialnumber"
DURATION = CM + "duration"
RENEW_BEFORE = CM + "renew-before"
RENEW_BEFORE_PERCENTAGE = CM + "renew-before-percentage"
USAGES = CM + "usages"
REVISION_HISTORY_LIMIT = CM + "revision-history-limit"
KEY_ALGORITHM = CM + "private-key-algorithm"
KEY_ENCODING = CM + "private-key-encoding"
KEY_SIZE = CM + "private-key-size"
KEY_ROTATION = CM + "private-key-rotation-policy"
SECRET_TEMPLATE = CM + "secret-template"
IGNORE_TLS_LISTENERS = CM + "ignore-tls-listeners"
TLS_ACME = "kubernetes.io/tls-acme"

EDIT_IN_PLACE = ACME + "http01-edit-in-place"
INGRESS_CLASS = ACME + "http01-ingress-class"
INGRESS_CLASSNAME = ACME + "http01-ingress-ingressclassname"
OVERRIDE_INGRESS_NAME = ACME + "http01-override-ingress-name"
OVERRIDE_INGRESS_CLASS = ACME + "http01-override-ingress-class"
OVERRIDE_INGRESS_CLASSNAME = ACME + "http01-override-ingress-ingressclassname"
PARENT_REF_NAME = ACME + "http01-parentrefname"
PARENT_REF_KIND = ACME + "http01-parentrefkind"
ISSUE_TEMPORARY = CM + "issue-temporary-certificate"

#: subject annotation -> X509Subject field
SUBJECT_LISTS = {
    CM + "subject-organizations": "organizations",
    CM + "subject-organizationalunits": "organizational_units",
    CM + "subject-countries": "countries",
    CM + "subject-provinces": "provinces",
    CM + "subject-localities": "localities",
    CM + "subject-postalcodes": "postal_codes",
    CM + "subject-streetaddresses": "street_addresses",
}

DEFAULT_USAGES = ["digital signature", "key encipherment"]


class BadAnnotation(ValueError):
    """One annotation's value cannot be used; the message names it."""

    def __init__(self, annotation: str, value: str, why: str) -> None:
        super().__init__(f'annotation "{annotation}": invalid value "{value}": {why}')
        self.annotation = annotation


def split_list(value: str) -> list[str]:
    """A comma list, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()]


#: one CSV record as Go's encoding/csv reads it: a quote only around a whole field
_FIELD = r'\s*(?:"(?:[^"]|"")*"|[^",]*)\s*'
_CSV_RECORD = re.compile(rf"^{_FIELD}(?:,{_FIELD})*$")


def split_csv(annotation: str, value: str) -> list[str]:
    """cert-manager reads the subject lists as one CSV record, so ``"Acme, Inc",Other``
    is two values."""
    if not _CSV_RECORD.match(value):
        raise BadAnnotation(annotation, value, 'not a comma-separated list: a " may only enclose a whole value')
    try:
        rows = list(csv.reader([value], skipinitialspace=True, strict=True))
    except csv.Error as e:
        raise BadAnnotation(annotation, value, f"not a comma-separated list: {e}") from None
    return [v for v in (rows[0] if rows else []) if v]


def _int(annotation: str, value: str) -> int:
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise BadAnnotation(annotation, value, "not an integer") from None


def _duration(annotation: str, value: str, minimum: dt.timedelta) -> str:
    try:
        td = parse_duration(value)
    except ValueError as e:
        raise BadAnnotation(annotation, value, str(e)) from None
    if td < minimum:
        raise BadAnnotation(annotation, value, f"must be at least {parse_duration_text(minimum)}")
    return value


def parse_duration_text(td: dt.timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    return f"{minutes // 60}h0m0s" if minutes % 60 == 0 else f"{minutes}m0s"


def _one_of(annotation: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadAnnotation(annotation, value, "supported values: " + ", ".join(f'"{a}"' for a in allowed))
    return value


def _key(spec: CertificateSpec) -> CertificatePrivateKey:
    if spec.private_key is None:
        spec.private_key = CertificatePrivateKey()
    return spec.private_key


def _subject(spec: CertificateSpec) -> X509Subject:
    if spec.subject is None:
        spec.subject = X509Subject()
    return spec.subject


def _common_name(spec: CertificateSpec, a: str, v: str) -> None:
    if len(v) > MAX_COMMON_NAME:
        raise BadAnnotation(a, v, f"must be no more than {MAX_COMMON_NAME} characters")
    spec.common_name = v


def _alt_names(spec: CertificateSpec, a: str, v: str) -> None:
    spec.dns_names = [*(spec.dns_names or []), *split_list(v)]


def _ip_sans(spec: CertificateSpec, a: str, v: str) -> None:
    ips = []
    for item in split_list(v):
        try:
            ips.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise BadAnnotation(a, v, f'"{item}" is not an IP address') from None
    spec.ip_addresses = [*(spec.ip_addresses or []), *ips]


def _uri_sans(spec: CertificateSpec, a: str, v: str) -> None:
    uris = split_list(v)
    for item in uris:
        scheme, sep, _ = item.partition(":")
        if not sep or not scheme:
            raise BadAnnotation(a, v, f'"{item}" is not a URI')
    spec.uris = uris


def _email_sans(spec: CertificateSpec, a: str, v: str) -> None:
    emails = split_list(v)
    for item in emails:
        try:
            parse_mail_address(item)
        except ValueError as e:
            raise BadAnnotation(a, v, f'"{item}": {e}') from None
    spec.email_addresses = emails


def _serial(spec: CertificateSpec, a: str, v: str) -> None:
    _subject(spec).serial_number = v


def _duration_ann(spec: CertificateSpec, a: str, v: str) -> None:
    spec.duration = _duration(a, v, MINIMUM_CERTIFICATE_DURATION)


def _renew_before(spec: CertificateSpec, a: str, v: str) -> None:
    spec.renew_before = _duration(a, v, MINIMUM_RENEW_BEFORE)


def _renew_before_percentage(spec: CertificateSpec, a: str, v: str) -> None:
    n = _int(a, v)
    if not 0 < n < 100:
        raise BadAnnotation(a, v, "must be between 1 and 99")
    spec.renew_before_percentage = n


def _usages(spec: CertificateSpec, a: str, v: str) -> None:
    usages = split_list(v)
    for u in usages:
        if u not in KEY_USAGES and u not in EXT_KEY_USAGES:
            raise BadAnnotation(a, v, f'unknown usage "{u}"')
    spec.usages = usages


def _revision_history_limit(spec: CertificateSpec, a: str, v: str) -> None:
    n = _int(a, v)
    if n < 1:
        raise BadAnnotation(a, v, "must be at least 1")
    spec.revision_history_limit = n


def _key_algorithm(spec: CertificateSpec, a: str, v: str) -> None:
    _key(spec).algorithm = _one_of(a, v, ("RSA", "ECDSA", "Ed25519"))


def _key_encoding(spec: CertificateSpec, a: str, v: str) -> None:
    _key(spec).encoding = _one_of(a, v, ("PKCS1", "PKCS8"))


def _key_rotation(spec: CertificateSpec, a: str, v: str) -> None:
    _key(spec).rotation_policy = _one_of(a, v, ("Never", "Always"))


def _key_size(spec: CertificateSpec, a: str, v: str) -> None:
    _key(spec).size = _int(a, v)


def _secret_template(spec: CertificateSpec, a: str, v: str) -> None:
    try:
        raw: Any = json.loads(v)
        template = CertificateSecretTemplate.model_validate(raw, strict=True)
    except (ValueError, ValidationError) as e:
        first = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise BadAnnotation(a, v, f"not a JSON object with annotations and labels: {first}") from None
    for key in template.annotations or {}:
        if key.startswith(CM) and key != ALLOWED_SECRET_TEMPLATE_ANNOTATION:
            raise BadAnnotation(a, v, f'annotation "{key}" is cert-manager\'s own and may not be templated')
    spec.secret_template = template


def _subject_list(field: str) -> Callable[[CertificateSpec, str, str], None]:
    def apply(spec: CertificateSpec, a: str, v: str) -> None:
        setattr(_subject(spec), field, split_csv(a, v))

    return apply


#: annotation -> how it changes the spec, in cert-manager's order
TRANSLATIONS: dict[str, Callable[[CertificateSpec, str, str], None]] = {
    COMMON_NAME: _common_name,
    ALT_NAMES: _alt_names,
    IP_SANS: _ip_sans,
    URI_SANS: _uri_sans,
    EMAIL_SANS: _email_sans,
    **{a: _subject_list(f) for a, f in SUBJECT_LISTS.items()},
    SUBJECT_SERIAL: _serial,
    DURATION: _duration_ann,
    RENEW_BEFORE: _renew_before,
    RENEW_BEFORE_PERCENTAGE: _renew_before_percentage,
    USAGES: _usages,
    REVISION_HISTORY_LIMIT: _revision_history_limit,
    KEY_ALGORITHM: _key_algorithm,
    KEY_ENCODING: _key_encoding,
    KEY_SIZE: _key_size,
    KEY_ROTATION: _key_rotation,
    SECRET_TEMPLATE: _secret_template,
}


def apply_annotations(spec: CertificateSpec, annotations: Mapping[str, str]) -> None:
    """Translate every shim annotation present into ``spec``; BadAnnotation on the first
    that cannot be used."""
    for annotation, translate in TRANSLATIONS.items():
        value = annotations.get(annotation)
        if value is not None:
            translate(spec, annotation, value)
    if spec.renew_before is not None and spec.renew_before_percentage is not None:
        raise BadAnnotation(
            RENEW_BEFORE_PERCENTAGE, annotations[RENEW_BEFORE_PERCENTAGE],
            f'may not be set together with "{RENEW_BEFORE}"',
        )
    _check_key_size(spec, annotations)


def _check_key_size(spec: CertificateSpec, annotations: Mapping[str, str]) -> None:
    key = spec.private_key
    if key is None or key.size is None:
        return
    value = annotations.get(KEY_SIZE, str(key.size))
    algorithm = key.algorithm or "RSA"
    if algorithm == "RSA" and not RSA_MIN_SIZE <= key.size <= RSA_MAX_SIZE:
        raise BadAnnotation(KEY_SIZE, value, f"RSA keys must be {RSA_MIN_SIZE} to {RSA_MAX_SIZE} bits")
    if algorithm == "ECDSA" and str(key.size) not in ECDSA_SIZES:
        raise BadAnnotation(KEY_SIZE, value, "ECDSA keys must be 256, 384 or 521 bits")


def truthy(value: str | None) -> bool:
    """Go's strconv.ParseBool, which cert-manager uses for kubernetes.io/tls-acme."""
    return (value or "") in ("1", "t", "T", "TRUE", "true", "True")
