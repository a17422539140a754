"""CSR construction from a Certificate spec (cert-manager's GenerateCSR) and CSR decoding."""

from __future__ import annotations

import functools
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ObjectIdentifier

from certkeeper.api.certificate import CertificateSpec, NameConstraintItem, NameConstraints

from .errors import PKIError
from .keys import KeyLike, PrivateKey, public_keys_equal, signature_hash
from .subject import common_name_of, subject_from_spec
from .usages import compute_usages, key_usage_bits


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def utf8_other_name(oid: str, value: str) -> x509.OtherName:
    """An otherName whose value is a DER UTF8String, as cert-manager encodes them."""
    raw = value.encode("utf-8")
    try:
        return x509.OtherName(ObjectIdentifier(oid), b"\x0c" + _der_length(len(raw)) + raw)
    except ValueError as e:
        raise PKIError(f"invalid otherName oid {oid!r}: {e}") from None


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP as Go's net.ParseIP + To4 sees it: IPv4-mapped IPv6 collapses to IPv4."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise PKIError(f"invalid IP address: {value!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def general_names_for_spec(spec: CertificateSpec) -> list[x509.GeneralName]:
    """SANs in cert-manager's order: DNS, email, IP, URI, otherName."""
    names: list[x509.GeneralName] = []
    try:
        names += [x509.DNSName(d) for d in spec.dns_names or []]
        names += [x509.RFC822Name(e) for e in spec.email_addresses or []]
        names += [x509.IPAddress(parse_ip(ip)) for ip in spec.ip_addresses or []]
        names += [x509.UniformResourceIdentifier(u) for u in spec.uris or []]
    except ValueError as e:
        raise PKIError(f"invalid subject alternative name: {e}") from None
    for on in spec.other_names or []:
        names.append(utf8_other_name(on.oid or "", on.utf8_value or ""))
    return names


def _subtrees(item: NameConstraintItem | None) -> list[x509.GeneralName] | None:
    if item is None:
        return None
    out: list[x509.GeneralName] = []
    try:
        out += [x509.DNSName(d) for d in item.dns_domains or []]
        out += [x509.IPAddress(ipaddress.ip_network(r, strict=False)) for r in item.ip_ranges or []]
        out += [x509.RFC822Name(e) for e in item.email_addresses or []]
        out += [x509.UniformResourceIdentifier(u) for u in item.uri_domains or []]
    except ValueError as e:
        raise PKIError(f"invalid name constraint: {e}") from None
    return out or None


def name_constraints_for_spec(nc: NameConstraints | None) -> x509.NameConstraints | None:
    """The NameConstraints extension value, or None when nothing is constrained."""
    if nc is None:
        return None
    permitted, excluded = _subtrees(nc.permitted), _subtrees(nc.excluded)
    if permitted is None and excluded is None:
        return None
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def build_csr(spec: CertificateSpec, key: PrivateKey) -> bytes:
    """PEM ``CERTIFICATE REQUEST`` for the spec, signed with ``key``."""
    subject = subject_from_spec(spec)
    sans = general_names_for_spec(spec)
    if not common_name_of(subject) and not sans:
        raise PKIError(
            "no common name, DNS name, URI SAN, Email SAN, IP or OtherName SAN specified on certificate"
        )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
    if spec.encode_usages_in_request is not False:
        ku, ekus = compute_usages(spec.usages, bool(spec.is_ca))
        if key_usage_bits(ku):  # an all-zero KU is omitted, as Go does
            builder = builder.add_extension(ku, critical=True)
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    nc = name_constraints_for_spec(spec.name_constraints)
    if nc is not None and spec.name_constraints is not None:
        builder = builder.add_extension(nc, critical=bool(spec.name_constraints.critical))
    algorithm = signature_hash(key, spec.signature_algorithm)
    try:
        csr = builder.sign(key, algorithm)  # type: ignore[arg-type]
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise PKIError(f"failed to sign CSR: {e}") from None
    return csr.public_bytes(serialization.Encoding.PEM)


def _decode_csr_uncached(pem: bytes) -> x509.CertificateSigningRequest:
    """Parse one PEM CSR and check its self-signature (PKIError otherwise)."""
    if isinstance(pem, str):
        pem = pem.encode()
    if (
        b"-----BEGIN CERTIFICATE REQUEST-----" not in pem
        and b"-----BEGIN NEW CERTIFICATE REQUEST-----" not in pem
    ):
        raise PKIError("error decoding certificate request PEM block")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise PKIError(f"error parsing certificate request: {e}") from None
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise PKIError("certificate request has an invalid signature")
    return csr


def csr_public_key_matches(csr_pem: bytes, key: KeyLike) -> bool:
    """Whether the CSR was made for ``key``; an undecodable CSR never matches."""
    try:
        csr = decode_csr(csr_pem)
    except PKIError:
        return False
    return public_keys_equal(csr, key)


_decode_csr_cached = functools.lru_cache(maxsize=1024)(_decode_csr_uncached)


def decode_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """Parse one PEM CSR and check its self-signature (PKIError otherwise).

    Remembered by content: the same Secret or request is looked at by several controllers,
    and the parsed objects are immutable."""
    if isinstance(pem, str):
        pem = pem.encode()
    return _decode_csr_cached(pem)
