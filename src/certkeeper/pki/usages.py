"""Key usage names of the API (§1.6) and their X.509 KeyUsage / ExtendedKeyUsage forms."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from .errors import PKIError

#: API name -> cryptography KeyUsage attribute
KEY_USAGES: dict[str, str] = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}

#: API name -> EKU OID
EXT_KEY_USAGES: dict[str, ObjectIdentifier] = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1"),
}

DEFAULT_USAGES: tuple[str, ...] = ("digital signature", "key encipherment")

#: KeyUsage attributes in Go's bit order (bit 0 first); used for names and bitmasks
KU_BIT_ORDER: tuple[tuple[str, str], ...] = (
    ("digital_signature", "digital signature"),
    ("content_commitment", "content commitment"),
    ("key_encipherment", "key encipherment"),
    ("data_encipherment", "data encipherment"),
    ("key_agreement", "key agreement"),
    ("key_cert_sign", "cert sign"),
    ("crl_sign", "crl sign"),
    ("encipher_only", "encipher only"),
    ("decipher_only", "decipher only"),
)

#: EKU OID -> canonical API name (reverse table; emailProtection -> "email protection")
EKU_NAMES: dict[ObjectIdentifier, str] = {}
for _name, _oid in EXT_KEY_USAGES.items():
    EKU_NAMES.setdefault(_oid, _name)


def is_known_usage(name: str) -> bool:
    return name in KEY_USAGES or name in EXT_KEY_USAGES


def _key_usage(flags: set[str]) -> x509.KeyUsage:
    try:
        return x509.KeyUsage(**{attr: attr in flags for attr, _ in KU_BIT_ORDER})
    except ValueError as e:
        raise PKIError(f"invalid key usages: {e}") from None


def compute_usages(usages: list[str] | None, is_ca: bool) -> tuple[x509.KeyUsage, list[ObjectIdentifier]]:
    """KU and EKU list for a request: defaults if none given, ``cert sign`` added for a CA.

    The EKU list keeps the order (and repeats) of ``usages`` because the CSR's EKU list
    is compared with it in order.
    """
    flags: set[str] = {"key_cert_sign"} if is_ca else set()
    ekus: list[ObjectIdentifier] = []
    unknown: list[str] = []
    for u in usages or DEFAULT_USAGES:
        if u in KEY_USAGES:
            flags.add(KEY_USAGES[u])
        elif u in EXT_KEY_USAGES:
            ekus.append(EXT_KEY_USAGES[u])
        else:
            unknown.append(u)
    if unknown:
        raise PKIError(f"unknown key usages: [{' '.join(unknown)}]")
    return _key_usage(flags), ekus


def key_usage_bits(ku: x509.KeyUsage | None) -> int:
    """Go's ``x509.KeyUsage`` bitmask, so messages and comparisons read like cert-manager's."""
    if ku is None:
        return 0
    bits = 0
    for i, (attr, _) in enumerate(KU_BIT_ORDER):
        if attr in ("encipher_only", "decipher_only") and not ku.key_agreement:
            continue  # cryptography refuses to read these unless key_agreement is set
        if getattr(ku, attr):
            bits |= 1 << i
    return bits


def key_usage_names(ku: x509.KeyUsage | None) -> list[str]:
    bits = key_usage_bits(ku)
    return [name for i, (_, name) in enumerate(KU_BIT_ORDER) if bits & (1 << i)]


def eku_names(ekus: list[ObjectIdentifier]) -> list[str]:
    return [EKU_NAMES.get(oid, oid.dotted_string) for oid in ekus]


def _ext_value(
    exts: x509.Extensions, cls: type[x509.KeyUsage] | type[x509.ExtendedKeyUsage]
) -> x509.ExtensionType | None:
    try:
        return exts.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def certificate_key_usage(exts: x509.Extensions) -> x509.KeyUsage | None:
    v = _ext_value(exts, x509.KeyUsage)
    return v if isinstance(v, x509.KeyUsage) else None


def certificate_ext_key_usages(exts: x509.Extensions) -> list[ObjectIdentifier]:
    v = _ext_value(exts, x509.ExtendedKeyUsage)
    return list(v) if isinstance(v, x509.ExtendedKeyUsage) else []


def usages_from_certificate(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """API usage names of a certificate (KU in bit order, then EKU in extension order)."""
    return key_usage_names(certificate_key_usage(cert.extensions)) + eku_names(
        certificate_ext_key_usages(cert.extensions)
    )
