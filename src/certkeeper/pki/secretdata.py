"""What goes into the certificate Secret besides tls.key/tls.crt/ca.crt (§5.1, §5.3)."""

from __future__ import annotations

import base64
import binascii
import importlib
import re
from types import ModuleType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certkeeper.api.certificate import CertificateAdditionalOutputFormat, CertificateKeystores

from .chain import parse_certificates
from .errors import PKIError
from .keys import PrivateKey
from .subject import common_name_of, values_of

ANNOTATION_PREFIX = "cert-manager.io/"
COMMON_NAME_ANNOTATION = "cert-manager.io/common-name"
ALT_NAMES_ANNOTATION = "cert-manager.io/alt-names"
IP_SANS_ANNOTATION = "cert-manager.io/ip-sans"
URI_SANS_ANNOTATION = "cert-manager.io/uri-sans"
EMAIL_SANS_ANNOTATION = "cert-manager.io/email-sans"
SUBJECT_ORGANIZATIONS_ANNOTATION = "cert-manager.io/subject-organizations"
SUBJECT_ORGANIZATIONAL_UNITS_ANNOTATION = "cert-manager.io/subject-organizationalunits"
SUBJECT_COUNTRIES_ANNOTATION = "cert-manager.io/subject-countries"
SUBJECT_PROVINCES_ANNOTATION = "cert-manager.io/subject-provinces"
SUBJECT_LOCALITIES_ANNOTATION = "cert-manager.io/subject-localities"
SUBJECT_POSTAL_CODES_ANNOTATION = "cert-manager.io/subject-postalcodes"
SUBJECT_STREET_ADDRESSES_ANNOTATION = "cert-manager.io/subject-streetaddresses"
SUBJECT_SERIAL_NUMBER_ANNOTATION = "cert-manager.io/subject-serialnumber"

DER_KEY = "key.der"
COMBINED_PEM_KEY = "tls-combined.pem"
PKCS12_KEYSTORE_KEY = "keystore.p12"
PKCS12_TRUSTSTORE_KEY = "truststore.p12"
JKS_KEYSTORE_KEY = "keystore.jks"
JKS_TRUSTSTORE_KEY = "truststore.jks"

DEFAULT_JKS_ALIAS = "certificate"


def join_csv(values: list[str]) -> str:
    """One record as Go's encoding/csv writes it, without the trailing newline."""
    out = []
    for v in values:
        needs_quotes = v != "" and (v == "\\." or any(c in v for c in ',"\r\n') or v[0].isspace())
        out.append('"' + v.replace('"', '""') + '"' if needs_quotes else v)
    return ",".join(out)


def _san_values(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def certificate_annotations(leaf: x509.Certificate) -> dict[str, str]:
    """The detail annotations cert-manager derives from the issued leaf certificate."""
    san = _san_values(leaf)
    dns = san.get_values_for_type(x509.DNSName) if san else []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] if san else []
    uris = san.get_values_for_type(x509.UniformResourceIdentifier) if san else []
    emails = san.get_values_for_type(x509.RFC822Name) if san else []
    subject = leaf.subject
    ann = {COMMON_NAME_ANNOTATION: common_name_of(subject)}
    serials = values_of(subject, NameOID.SERIAL_NUMBER)
    if serials and serials[-1]:
        ann[SUBJECT_SERIAL_NUMBER_ANNOTATION] = serials[-1]
    for oid, key in (
        (NameOID.ORGANIZATION_NAME, SUBJECT_ORGANIZATIONS_ANNOTATION),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, SUBJECT_ORGANIZATIONAL_UNITS_ANNOTATION),
        (NameOID.COUNTRY_NAME, SUBJECT_COUNTRIES_ANNOTATION),
        (NameOID.STATE_OR_PROVINCE_NAME, SUBJECT_PROVINCES_ANNOTATION),
        (NameOID.LOCALITY_NAME, SUBJECT_LOCALITIES_ANNOTATION),
        (NameOID.POSTAL_CODE, SUBJECT_POSTAL_CODES_ANNOTATION),
        (NameOID.STREET_ADDRESS, SUBJECT_STREET_ADDRESSES_ANNOTATION),
    ):
        values = values_of(subject, oid)
        if values:
            ann[key] = join_csv(values)
    if emails:
        ann[EMAIL_SANS_ANNOTATION] = join_csv(emails)
    ann[IP_SANS_ANNOTATION] = join_csv(ips)
    ann[URI_SANS_ANNOTATION] = join_csv(uris)
    ann[ALT_NAMES_ANNOTATION] = join_csv(dns)
    return ann


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def first_pem_block_der(pem: bytes) -> bytes:
    """DER body of the first PEM block (Go's pem.Decode), headers skipped."""
    m = _PEM_BLOCK.search(pem)
    if m is None:
        raise PKIError("error decoding PEM block: none found")
    body = m.group(2)
    if b":" in body.split(b"\n\n", 1)[0] and b"\n\n" in body:
        body = body.split(b"\n\n", 1)[1]  # RFC 1421 headers such as Proc-Type
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PKIError("error decoding PEM block: invalid base64") from None


def additional_output_formats(
    formats: list[CertificateAdditionalOutputFormat] | None, key_pem: bytes, cert_pem: bytes
) -> dict[str, bytes]:
    """``key.der`` / ``tls-combined.pem`` for the configured output format types."""
    out: dict[str, bytes] = {}
    for f in formats or []:
        if f.type == "DER":
            out[DER_KEY] = first_pem_block_der(key_pem)
        elif f.type == "CombinedPEM":
            out[COMBINED_PEM_KEY] = key_pem + b"\n" + cert_pem
    return out


def _pkcs12_encryption(profile: str | None, password: str) -> serialization.KeySerializationEncryption:
    """Encryption settings per profile.

    ``LegacyRC2`` would encrypt certificates with 40-bit RC2, which OpenSSL 3 (and so the
    cryptography package) no longer offers; it is written like ``LegacyDES`` (3DES,
    SHA-1 MAC), which the same legacy readers accept. ``Modern2026`` is written like
    ``Modern2023`` (AES-256-CBC, PBKDF2/SHA-256, SHA-256 MAC).
    """
    if not password:
        raise PKIError("PKCS#12 keystore password must not be empty")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
    if profile in ("Modern2023", "Modern2026"):
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            hashes.SHA1()
        )
    return builder.build(password.encode("utf-8"))


def _pkcs12_keystore(
    profile: str | None,
    password: str,
    key: PrivateKey,
    chain: list[x509.Certificate],
    cas: list[x509.Certificate],
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        None, key, chain[0], chain[1:] + cas, _pkcs12_encryption(profile, password)
    )


def _pkcs12_truststore(profile: str | None, password: str, cas: list[x509.Certificate]) -> bytes:
    entries = [pkcs12.PKCS12Certificate(c, c.subject.rfc4514_string().encode("utf-8")) for c in cas]
    return pkcs12.serialize_java_truststore(entries, _pkcs12_encryption(profile, password))


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _jks() -> ModuleType:
    """pyjks (with pycryptodome and pyasn1) is imported on first use: some 6 MB of a
    daemon's memory that only JKS keystores need."""
    return importlib.import_module("jks")


def _jks_ca_entries(cas: list[x509.Certificate]) -> list[object]:
    jks = _jks()
    return [jks.TrustedCertEntry.new("ca" if i == 0 else f"ca-{i}", _der(c)) for i, c in enumerate(cas)]


def _jks_keystore(
    password: str, alias: str, key: PrivateKey, chain: list[x509.Certificate], cas: list[x509.Certificate]
) -> bytes:
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jks = _jks()
    entry = jks.PrivateKeyEntry.new(alias, [_der(c) for c in chain], key_der, "pkcs8")
    store = jks.KeyStore.new("jks", [entry, *_jks_ca_entries(cas)])
    data: bytes = store.saves(password)
    return data


def _jks_truststore(password: str, cas: list[x509.Certificate]) -> bytes:
    data: bytes = _jks().KeyStore.new("jks", _jks_ca_entries(cas)).saves(password)
    return data


def build_keystores(
    keystores: CertificateKeystores | None,
    key: PrivateKey,
    chain_pem: bytes,
    ca_pem: bytes | None,
    jks_password: str | None,
    pkcs12_password: str | None,
) -> dict[str, bytes]:
    """Keystore/truststore Secret entries for the enabled keystores (truststores only with a CA)."""
    out: dict[str, bytes] = {}
    if keystores is None:
        return out
    want_p12 = keystores.pkcs12 is not None and keystores.pkcs12.create
    want_jks = keystores.jks is not None and keystores.jks.create
    if not (want_p12 or want_jks):
        return out
    chain = parse_certificates(chain_pem)
    cas = parse_certificates(ca_pem) if ca_pem else []
    if want_p12 and keystores.pkcs12 is not None:
        if pkcs12_password is None:
            raise PKIError("no password given for the PKCS#12 keystore")
        profile = keystores.pkcs12.profile
        out[PKCS12_KEYSTORE_KEY] = _pkcs12_keystore(profile, pkcs12_password, key, chain, cas)
        if cas:
            out[PKCS12_TRUSTSTORE_KEY] = _pkcs12_truststore(profile, pkcs12_password, cas)
    if want_jks and keystores.jks is not None:
        if jks_password is None:
            raise PKIError("no password given for the JKS keystore")
        alias = keystores.jks.alias or DEFAULT_JKS_ALIAS
        out[JKS_KEYSTORE_KEY] = _jks_keystore(jks_password, alias, key, chain, cas)
        if cas:
            out[JKS_TRUSTSTORE_KEY] = _jks_truststore(jks_password, cas)
    return out


def keystore_opens(key: str, data: bytes, password: str) -> bool:
    """Whether a stored keystore opens with ``password``: a changed password Secret must
    lead to a re-encoded keystore, and this is how the change shows without keeping the
    old password anywhere."""
    try:
        if key.endswith(".p12"):
            pkcs12.load_pkcs12(data, password.encode())
        else:
            _jks().KeyStore.loads(data, password)
    except Exception:  # every library failure means the same thing here: it does not open
        return False
    return True
