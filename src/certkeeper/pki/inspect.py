"""Human description of a certificate bundle, in the spirit of ``cmctl inspect secret``."""

from __future__ import annotations

import datetime as _dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from .chain import is_self_signed, parse_certificates
from .keys import key_description
from .subject import common_name_of, values_of
from .usages import usages_from_certificate

_NONE = "<none>"


def _list(values: list[str], indent: str = "\t\t") -> str:
    if not values:
        return " " + _NONE
    return "".join(f"\n{indent}- {v}" for v in values)


def _time(t: _dt.datetime) -> str:
    return t.astimezone(_dt.UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _name_block(name: x509.Name) -> str:
    def joined(oid: x509.ObjectIdentifier) -> str:
        return ", ".join(values_of(name, oid)) or _NONE

    return (
        f"\tCommon Name:\t\t{common_name_of(name) or _NONE}\n"
        f"\tOrganization:\t\t{joined(NameOID.ORGANIZATION_NAME)}\n"
        f"\tOrganizationalUnit:\t{joined(NameOID.ORGANIZATIONAL_UNIT_NAME)}\n"
        f"\tCountry:\t\t{joined(NameOID.COUNTRY_NAME)}\n"
    )


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def describe_certificate(cert: x509.Certificate) -> str:
    san = _ext(cert, x509.SubjectAlternativeName)
    sans = san if isinstance(san, x509.SubjectAlternativeName) else None
    bc = _ext(cert, x509.BasicConstraints)
    is_ca = isinstance(bc, x509.BasicConstraints) and bc.ca
    crl = _ext(cert, x509.CRLDistributionPoints)
    crl_urls = (
        [str(n.value) for dp in crl for n in dp.full_name or []]
        if isinstance(crl, x509.CRLDistributionPoints)
        else []
    )
    aia = _ext(cert, x509.AuthorityInformationAccess)
    ocsp = (
        [
            str(d.access_location.value)
            for d in aia
            if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        ]
        if isinstance(aia, x509.AuthorityInformationAccess)
        else []
    )
    algorithm, size = key_description(cert)
    sig = getattr(cert.signature_algorithm_oid, "_name", cert.signature_algorithm_oid.dotted_string)
    return (
        "Valid for:\n"
        f"\tDNS Names:{_list(sans.get_values_for_type(x509.DNSName) if sans else [])}\n"
        f"\tURIs:{_list(sans.get_values_for_type(x509.UniformResourceIdentifier) if sans else [])}\n"
        f"\tIP Addresses:{_list([str(i) for i in sans.get_values_for_type(x509.IPAddress)] if sans else [])}\n"
        f"\tEmail Addresses:{_list(sans.get_values_for_type(x509.RFC822Name) if sans else [])}\n"
        f"\tUsages:{_list(usages_from_certificate(cert))}\n"
        "\n"
        "Validity period:\n"
        f"\tNot Before:\t{_time(cert.not_valid_before_utc)}\n"
        f"\tNot After:\t{_time(cert.not_valid_after_utc)}\n"
        "\n"
        "Issued By:\n"
        f"{_name_block(cert.issuer)}"
        "\n"
        "Issued For:\n"
        f"{_name_block(cert.subject)}"
        "\n"
        "Certificate:\n"
        f"\tSigning Algorithm:\t{sig}\n"
        f"\tPublic Key Algorithm:\t{algorithm} {size} bit\n"
        f"\tSerial Number:\t\t{cert.serial_number}\n"
        f"\tFingerprint (SHA-256):\t{_fingerprint(cert)}\n"
        f"\tIs a CA certificate:\t{'true' if is_ca else 'false'}\n"
        f"\tCRL:\t\t\t{', '.join(crl_urls) or _NONE}\n"
        f"\tOCSP:\t\t\t{', '.join(ocsp) or _NONE}\n"
    )


def describe_certificate_pem(pem: bytes) -> str:
    """Describe the leaf of a PEM bundle in detail, then list every certificate in it."""
    certs = parse_certificates(pem)
    lines = [describe_certificate(certs[0]), "Chain:"]
    for i, c in enumerate(certs):
        role = "leaf" if i == 0 else ("root" if is_self_signed(c) else "intermediate")
        lines.append(
            f"\t{i}: {c.subject.rfc4514_string() or _NONE} ({role}), issued by "
            f"{c.issuer.rfc4514_string() or _NONE}, expires {_time(c.not_valid_after_utc)}"
        )
    return "\n".join(lines) + "\n"
