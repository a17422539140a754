"""Subject distinguished names, built exactly as cert-manager (Go's pkix) builds them.

The RDN order and the string types matter: the literalSubject comparison in
``request_matches_spec`` is a byte comparison, and relying parties display the DN in
encoded order.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .errors import PKIError

if TYPE_CHECKING:  # annotations only: ``status`` describes a certificate without the models
    from certkeeper.api.certificate import CertificateSpec

#: RFC 4514 attribute keys understood in ``literalSubject`` (cert-manager's table)
LITERAL_KEYS: dict[str, ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
}

_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _attribute(oid: ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    """Go marshals a string as PrintableString when it can, else UTF8String; do the same.

    Validation is off because Go does not insist on two-letter countries either.
    """
    asn1_type = _ASN1Type.PrintableString if set(value) <= _PRINTABLE else _ASN1Type.UTF8String
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(oid, value, asn1_type, _validate=False)


def subject_from_spec(spec: CertificateSpec) -> x509.Name:
    """The CSR subject: literalSubject verbatim, else Go's pkix.Name.ToRDNSequence order."""
    if spec.literal_subject:
        return parse_literal_subject(spec.literal_subject)
    s = spec.subject
    rdns: list[x509.RelativeDistinguishedName] = []

    def add(values: list[str] | None, oid: ObjectIdentifier) -> None:
        if values:
            rdns.append(x509.RelativeDistinguishedName([_attribute(oid, v) for v in values]))

    add(s.countries if s else None, NameOID.COUNTRY_NAME)
    add(s.provinces if s else None, NameOID.STATE_OR_PROVINCE_NAME)
    add(s.localities if s else None, NameOID.LOCALITY_NAME)
    add(s.street_addresses if s else None, NameOID.STREET_ADDRESS)
    add(s.postal_codes if s else None, NameOID.POSTAL_CODE)
    add(s.organizations if s else None, NameOID.ORGANIZATION_NAME)
    add(s.organizational_units if s else None, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if spec.common_name:
        add([spec.common_name], NameOID.COMMON_NAME)
    if s and s.serial_number:
        add([s.serial_number], NameOID.SERIAL_NUMBER)
    return x509.Name(rdns)


def _split_unescaped(s: str, seps: str) -> list[str]:
    """Split on separator characters not preceded by a backslash escape."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise PKIError("failed to parse literal subject: got corrupted escaped character")
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c in seps:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape_value(raw: str) -> str:
    """RFC 4514 value: ``\\,``-style and ``\\2C``-style escapes, outer spaces trimmed."""
    # trim unescaped leading/trailing spaces
    start, end = 0, len(raw)
    while start < end and raw[start] == " ":
        start += 1
    while end > start and raw[end - 1] == " " and not (end >= 2 and raw[end - 2] == "\\"):
        end -= 1
    raw = raw[start:end]
    if raw.startswith("#"):
        return _decode_hex_value(raw[1:])
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            nxt = raw[i + 1 : i + 3]
            if len(nxt) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in nxt):
                out.append(int(nxt, 16))
                i += 3
                continue
            out += raw[i + 1].encode()
            i += 2
            continue
        out += c.encode()
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise PKIError("failed to parse literal subject: escaped bytes are not valid UTF-8") from None


def _decode_hex_value(hexstr: str) -> str:
    """``#`` + hex of a BER string value: accept the common single-byte-length strings."""
    try:
        data = bytes.fromhex(hexstr)
    except ValueError:
        raise PKIError("failed to parse literal subject: failed to decode hex-encoded string") from None
    if len(data) < 2:
        raise PKIError("failed to parse literal subject: failed to decode BER encoding")
    length, off = data[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, off = int.from_bytes(data[2 : 2 + n], "big"), 2 + n
    body = data[off : off + length]
    if len(body) != length:
        raise PKIError("failed to parse literal subject: failed to decode BER encoding")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise PKIError("failed to parse literal subject: BER value is not a string") from None


def _oid_for(key: str) -> ObjectIdentifier:
    k = key.strip()
    known = LITERAL_KEYS.get(k.upper())
    if known is not None:
        return known
    parts = k.split(".")
    if len(parts) >= 2 and all(p.isdigit() for p in parts):
        try:
            return ObjectIdentifier(k)
        except ValueError:
            pass
    raise PKIError(f"Literal subject contains unrecognized key with value [{key}]")


def parse_literal_subject(s: str) -> x509.Name:
    """RFC 4514 string to a Name; the string lists RDNs last-first, so they are reversed."""
    if s.strip() == "":
        return x509.Name([])
    rdns: list[x509.RelativeDistinguishedName] = []
    for rdn_text in _split_unescaped(s, ",;"):
        attrs: list[x509.NameAttribute[str]] = []
        for atv in _split_unescaped(rdn_text, "+"):
            eq = atv.find("=")
            if eq <= 0:
                raise PKIError(
                    f"failed to parse literal subject: DN ended with incomplete type, value pair: {atv!r}"
                )
            key, value = atv[:eq], atv[eq + 1 :]
            attrs.append(_attribute(_oid_for(key), _unescape_value(value)))
        try:
            rdns.append(x509.RelativeDistinguishedName(attrs))
        except ValueError as e:
            raise PKIError(f"failed to parse literal subject: {e}") from None
    rdns.reverse()
    return x509.Name(rdns)


def common_name_of(name: x509.Name) -> str:
    """Go's pkix.Name.CommonName: the last CN attribute in the sequence, or ""."""
    values = [str(a.value) for a in name if a.oid == NameOID.COMMON_NAME]
    return values[-1] if values else ""


def values_of(name: x509.Name, oid: ObjectIdentifier) -> list[str]:
    """All string values for one attribute type, in sequence order (pkix.Name lists)."""
    return [str(a.value) for a in name if a.oid == oid]
