"""``cert-manager.io/v1`` Certificate and CertificateRequest (types_certificate*.go)."""

from typing import Annotated, ClassVar

from pydantic import Field

from .bytefield import ByteField
from .common import GROUP, IssuerReference, SecretKeySelector
from .meta import CONDITIONS_LIST, Condition, Int32, Model, Resource, Time, enum

#: key usages and extended key usages a Certificate or CertificateRequest may request
KEY_USAGE_VALUES = (
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
)
KeyUsage = Annotated[str, enum(*KEY_USAGE_VALUES)]


class X509Subject(Model):
    """The X.509 subject attributes of a certificate, besides the common name."""

    organizations: list[str] | None = None
    """Organizations to be used on the Certificate."""
    countries: list[str] | None = None
    """Countries to be used on the Certificate."""
    organizational_units: list[str] | None = None
    """Organizational Units to be used on the Certificate."""
    localities: list[str] | None = None
    """Cities to be used on the Certificate."""
    provinces: list[str] | None = None
    """State/Provinces to be used on the Certificate."""
    street_addresses: list[str] | None = None
    """Street addresses to be used on the Certificate."""
    postal_codes: list[str] | None = None
    """Postal codes to be used on the Certificate."""
    serial_number: str | None = None
    """Serial number to be used on the Certificate."""


class CertificatePrivateKey(Model):
    """How the private key of a Certificate is generated, encoded and rotated."""

    rotation_policy: Annotated[str, enum("Never", "Always")] | None = None
    """How private keys are regenerated when a re-issuance is processed. `Never` generates a
    key only if none exists in the target Secret (a key of the wrong algorithm or size is
    reported and waits for the user); `Always` generates a new key matching the spec on every
    re-issuance. Defaults to `Always`."""
    encoding: Annotated[str, enum("PKCS1", "PKCS8")] | None = None
    """The PKCS encoding of the private key in the Secret: `PKCS1` (the default) or `PKCS8`."""
    algorithm: Annotated[str, enum("RSA", "ECDSA", "Ed25519")] | None = None
    """The private key algorithm: `RSA`, `ECDSA` or `Ed25519`. Without `size`, RSA keys are
    2048 bits and ECDSA keys 256; the size is ignored for Ed25519."""
    size: int | None = None
    """The key size in bits: for `RSA` 2048 (the default), 4096 or 8192; for `ECDSA` 256 (the
    default), 384 or 521; ignored for `Ed25519`. No other values are allowed."""


class OtherName(Model):
    """A UTF-8 string valued otherName subject alternative name."""

    oid: str | None = None
    """The object identifier of the otherName SAN, as a dotted string, e.g. "1.3.6.1.4.1.311.20.2.3"."""
    utf8_value: str | None = None
    """The UTF-8 string value of the otherName SAN."""


class NameConstraintItem(Model):
    """Names that are permitted or excluded by a CA certificate's name constraints."""

    dns_domains: list[str] | None = None
    """DNS domains that are permitted or excluded."""
    ip_ranges: list[str] | None = None
    """IP ranges, in CIDR notation, that are permitted or excluded."""
    email_addresses: list[str] | None = None
    """Email addresses that are permitted or excluded."""
    uri_domains: list[str] | None = None
    """URI domains that are permitted or excluded."""


class NameConstraints(Model):
    """The X.509 NameConstraints extension (RFC 5280 section 4.2.1.10), for CA certificates only."""

    critical: bool | None = None
    """If true, the name constraints extension is marked critical."""
    permitted: NameConstraintItem | None = None
    """The constraints in which the names must be located."""
    excluded: NameConstraintItem | None = None
    """The constraints which must be disallowed: a name matching one is invalid regardless of
    the permitted constraints."""


class CertificateSecretTemplate(Model):
    """Labels and annotations to be copied to the Certificate's Secret."""

    annotations: dict[str, str] | None = None
    """A key value map to be copied to the target Secret's annotations."""
    labels: dict[str, str] | None = None
    """A key value map to be copied to the target Secret's labels."""


class JKSKeystore(Model):
    """A JKS keystore (and truststore) written into the Certificate's Secret."""

    create: bool
    """Write `keystore.jks` (and, when the CA is known, `truststore.jks`) into the target
    Secret, encrypted with the password from `passwordSecretRef` or `password`."""
    alias: str | None = None
    """The alias of the key in the keystore. Defaults to `certificate`."""
    password_secret_ref: SecretKeySelector | None = None
    """A reference to a non-empty key in a Secret holding the keystore password. Mutually
    exclusive with `password`."""
    password: str | None = None
    """A literal password for the keystore. Mutually exclusive with `passwordSecretRef`."""


class PKCS12Keystore(Model):
    """A PKCS#12 keystore (and truststore) written into the Certificate's Secret."""

    create: bool
    """Write `keystore.p12` (and, when the CA is known, `truststore.p12`) into the target
    Secret, encrypted with the password from `passwordSecretRef` or `password`."""
    profile: Annotated[str, enum("LegacyRC2", "LegacyDES", "Modern2023", "Modern2026")] | None = None
    """The key and certificate encryption and MAC algorithms of the keystore: `LegacyRC2`
    (the default, for backward compatibility), `LegacyDES`, `Modern2023` or `Modern2026`."""
    password_secret_ref: SecretKeySelector | None = None
    """A reference to a non-empty key in a Secret holding the keystore password. Mutually
    exclusive with `password`."""
    password: str | None = None
    """A literal password for the keystore. Mutually exclusive with `passwordSecretRef`."""


class CertificateKeystores(Model):
    """Additional keystore formats written into the Certificate's Secret."""

    jks: JKSKeystore | None = None
    """Options for a JKS keystore in the `spec.secretName` Secret."""
    pkcs12: PKCS12Keystore | None = None
    """Options for a PKCS#12 keystore in the `spec.secretName` Secret."""


class CertificateAdditionalOutputFormat(Model):
    """An additional format of the key and chain written into the Certificate's Secret."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("type",)

    type: Annotated[str, enum("DER", "CombinedPEM")]
    """The output format: `DER` (the key as `key.der`) or `CombinedPEM` (key and chain as `tls-combined.pem`)."""


class RenewalWindow(Model):
    """A recurring window of time in which a renewal may start."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("cron", "windowDuration")

    timezone: str | None = None
    """The IANA time zone the cron schedule is read in. Defaults to UTC."""
    window_duration: str | None = None
    """How long each window stays open after it starts, e.g. `2h30m`."""
    cron: str | None = None
    """A five-field cron schedule for the start of each window."""


class CertificateRenewal(Model):
    """When the certificate is renewed."""

    policy: Annotated[str, enum("Disabled", "RenewBefore")] | None = None
    """`RenewBefore` (the default) renews as `renewBefore`/`renewBeforePercentage` say;
    `Disabled` never renews."""
    windows: list[RenewalWindow] | None = None
    """If set, a renewal only starts inside one of these windows."""


class CertificateSpec(Model):
    """The desired state of a Certificate."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("issuerRef", "secretName")

    subject: X509Subject | None = None
    """Requested set of X.509 certificate subject attributes (RFC 5280 section 4.1.2.6).
    The common name is set separately in `commonName`. Cannot be set with `literalSubject`."""
    literal_subject: str | None = None
    """Requested X.509 subject as an LDAP string representation of a distinguished name
    (RFC 4514), e.g. `CN=foo,DC=corp,DC=example,DC=com`; the order of the attributes is kept.
    Cannot be set with `subject` or `commonName`."""
    common_name: str | None = None
    """Requested common name subject attribute. TLS clients ignore it when any subject
    alternative name is set (RFC 6125 section 6.4.4). Should be 64 characters or fewer.
    Cannot be set with `literalSubject`."""
    duration: str | None = None
    """Requested lifetime of the certificate, in Go `time.ParseDuration` units; the issuer may
    ignore it. Defaults to 90 days; at least 1 hour."""
    renew_before: str | None = None
    """How long before the certificate's expiry to renew it, in Go `time.ParseDuration` units.
    Defaults to a third of the issued certificate's lifetime; at least 5 minutes. Cannot be set
    with `renewBeforePercentage`."""
    renew_before_percentage: Int32 | None = None
    """Like `renewBefore`, as a percentage (0 to 100, exclusive) of the issued certificate's
    lifetime. Cannot be set with `renewBefore`."""
    renewal: CertificateRenewal | None = None
    """The renewal policy and optional windows in which renewals may start."""
    dns_names: list[str] | None = None
    """Requested DNS subject alternative names."""
    ip_addresses: list[str] | None = None
    """Requested IP address subject alternative names."""
    uris: list[str] | None = None
    """Requested URI subject alternative names."""
    other_names: list[OtherName] | None = None
    """Requested otherName subject alternative names with UTF-8 string values, e.g. a UPN
    (oid 1.3.6.1.4.1.311.20.2.3). The OID is not checked against the value's type."""
    email_addresses: list[str] | None = None
    """Requested email subject alternative names."""
    secret_name: str | None = None
    """Name of the Secret, in the Certificate's namespace, that is created and kept up to date
    with the private key and the certificate signed by the issuer."""
    secret_template: CertificateSecretTemplate | None = None
    """Annotations and labels copied to the Certificate's Secret; they follow the template as
    entries are added or removed, and never overwrite cert-manager's own annotations."""
    keystores: CertificateKeystores | None = None
    """Additional keystore output formats stored in the Certificate's Secret."""
    issuer_ref: IssuerReference | None = None
    """Reference to the issuer responsible for issuing the certificate. A namespaced Issuer
    must be in the Certificate's namespace; a ClusterIssuer can be used from any namespace.
    The `name` field must always be set."""
    is_ca: bool | None = Field(default=None, alias="isCA")
    """Requested basic constraints isCA value, copied to the CertificateRequest; the issuer may
    ignore it. If true, the `cert sign` usage is added to `usages`."""
    usages: list[KeyUsage] | None = None
    """Requested key usages and extended key usages, copied to the CertificateRequest and,
    unless `encodeUsagesInRequest` is false, encoded in its CSR. Defaults to
    `digital signature` and `key encipherment`."""
    private_key: CertificatePrivateKey | None = None
    """Private key options: algorithm, size, encoding and rotation policy."""
    signature_algorithm: (
        Annotated[
            str,
            enum(
                "SHA256WithRSA",
                "SHA384WithRSA",
                "SHA512WithRSA",
                "ECDSAWithSHA256",
                "ECDSAWithSHA384",
                "ECDSAWithSHA512",
                "PureEd25519",
            ),
        ]
        | None
    ) = None
    """Signature algorithm to use: SHA256WithRSA, SHA384WithRSA or SHA512WithRSA for RSA keys;
    ECDSAWithSHA256, ECDSAWithSHA384 or ECDSAWithSHA512 for ECDSA keys; PureEd25519 for Ed25519."""
    encode_usages_in_request: bool | None = None
    """Whether the KeyUsage and ExtKeyUsage extensions are encoded in the CSR. Defaults to true;
    disable only for issuers that refuse CSRs with these extensions."""
    revision_history_limit: Int32 | None = None
    """The maximum number of CertificateRequest revisions kept in the Certificate's history;
    the oldest are removed first. At least 1. Default value is 1."""
    additional_output_formats: list[CertificateAdditionalOutputFormat] | None = None
    """Extra output formats of the private key and signed certificate chain written to the
    Certificate's Secret."""
    name_constraints: NameConstraints | None = None
    """The X.509 NameConstraints extension; must not be used in a non-CA certificate
    (RFC 5280 section 4.2.1.10)."""


class ARISuggestedWindow(Model):
    """The window in which the ACME server suggests renewing (RFC 9773 section 4.2)."""

    start: str | None = None
    """The start of the window (RFC 3339)."""
    end: str | None = None
    """The end of the window (RFC 3339)."""


class CertificateARIStatus(Model):
    """What the ACME server's renewal information (RFC 9773) said about the current
    certificate; ``certID`` names the certificate the window belongs to."""

    suggested_window: ARISuggestedWindow | None = None
    """The renewal window the server suggests; the renewal happens inside it."""
    explanation_url: str | None = Field(default=None, alias="explanationURL")
    """A page the server offers to explain the window (e.g. a revocation notice)."""
    last_checked: str | None = None
    """When the renewal information was last fetched (RFC 3339)."""
    next_check: str | None = None
    """When it will be fetched again, from the server's Retry-After (RFC 3339)."""
    last_error: str | None = None
    """Why the last fetch failed, if it did."""
    cert_id: str | None = Field(default=None, alias="certID")
    """The ARI certificate identifier (base64url authority key identifier and serial) the
    window belongs to."""


class CertificateACMEStatus(Model):
    """ACME-specific status of a Certificate; unknown members are kept as written."""

    model_config = Model.model_config | {"extra": "allow"}

    ari: CertificateARIStatus | None = None
    """The ACME server's renewal information (ARI) for the current certificate."""


class CertificateStatus(Model):
    """The observed state of a Certificate, set and managed by the controller."""

    conditions: list[Condition] | None = Field(default=None, json_schema_extra=CONDITIONS_LIST)
    """List of status conditions to indicate the status of the Certificate. Known condition
    types are `Ready` and `Issuing`."""
    last_failure_time: Time | None = None
    """The time of the failure, set only if the latest issuance failed. The next attempt waits
    1h x 2^(failedIssuanceAttempts - 1). Unset after a successful issuance."""
    not_before: Time | None = None
    """The time after which the certificate stored in the `spec.secretName` Secret is valid."""
    not_after: Time | None = None
    """The expiration time of the certificate stored in the `spec.secretName` Secret."""
    renewal_time: Time | None = None
    """The time at which the certificate will next be renewed. If not set, no renewal is scheduled."""
    revision: int | None = None
    """The current revision of the certificate as issued. A new CertificateRequest carries
    the annotation `cert-manager.io/certificate-revision` one greater than this value; on
    issuance this field takes the annotation's value, which tells old requests from the
    ongoing one."""
    next_private_key_secret_name: str | None = None
    """The name of the Secret holding the private key for the next certificate; set while the
    `Issuing` condition is `True`, unset otherwise."""
    failed_issuance_attempts: int | None = None
    """The number of consecutive failed issuance attempts, removed on a successful issuance.
    The delay before the next attempt is 1h x 2^(failedIssuanceAttempts - 1)."""
    acme: CertificateACMEStatus | None = None
    """ACME-specific status: the server's renewal information (ARI) for the current certificate."""


class Certificate(Resource):
    """A Certificate resource should be created to ensure an up to date and signed X.509
    certificate is stored in the Kubernetes Secret resource named in `spec.secretName`.

    The stored certificate will be renewed before it expires (as configured by `spec.renewBefore`)."""

    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "Certificate"
    PLURAL: ClassVar[str] = "certificates"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cert", "certs")

    spec: CertificateSpec = Field(default_factory=CertificateSpec)
    """Specification of the desired state of the Certificate resource.
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status"""
    status: CertificateStatus | None = None
    """Status of the Certificate. This is set and managed automatically. Read-only.
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status"""


class CertificateRequestSpec(Model):
    """A request for a signed certificate; immutable after creation."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("issuerRef", "request")

    duration: str | None = None
    """Requested lifetime of the certificate; the issuer may ignore it."""
    issuer_ref: IssuerReference | None = None
    """Reference to the issuer responsible for issuing the certificate. A namespaced Issuer
    must be in the request's namespace; a ClusterIssuer can be used from any namespace.
    The `name` field must always be set."""
    request: ByteField | None = None
    """The PEM-encoded X.509 certificate signing request to be submitted to the issuer
    (base64 on the wire). Its BasicConstraints, KeyUsage and ExtKeyUsage extensions, if
    present, must match `isCA` and `usages`."""
    is_ca: bool | None = Field(default=None, alias="isCA")
    """Requested basic constraints isCA value; the issuer may ignore it. If the CSR has a
    BasicConstraints extension, it must agree. If true, the `cert sign` usage is added."""
    usages: list[KeyUsage] | None = None
    """Requested key usages and extended key usages; if the CSR encodes KeyUsage or
    ExtKeyUsage, they must be exactly these. Defaults to `digital signature` and
    `key encipherment`."""
    username: str | None = None
    """The name of the user that created the CertificateRequest. Set on creation and immutable."""
    uid: str | None = None
    """The uid of the user that created the CertificateRequest. Set on creation and immutable."""
    groups: list[str] | None = None
    """The groups of the user that created the CertificateRequest. Set on creation and immutable."""
    extra: dict[str, list[str]] | None = None
    """Extra attributes of the user that created the CertificateRequest. Set on creation and
    immutable."""


class CertificateRequestStatus(Model):
    """The observed state of a CertificateRequest, set and managed by the controller."""

    conditions: list[Condition] | None = Field(default=None, json_schema_extra=CONDITIONS_LIST)
    """List of status conditions to indicate the status of the CertificateRequest. Known
    condition types are `Ready`, `InvalidRequest`, `Approved` and `Denied`."""
    certificate: ByteField | None = None
    """The PEM-encoded X.509 certificate signed for the request (base64 on the wire). If not
    set, the request has not completed or has failed; the conditions say which."""
    ca: ByteField | None = None
    """The PEM-encoded X.509 certificate of the signer, the CA (base64 on the wire). Set on a
    best-effort basis by issuers; if not set, the CA is unknown."""
    failure_time: Time | None = None
    """The time this CertificateRequest failed; used for back-off and garbage collection."""


class CertificateRequest(Resource):
    """A CertificateRequest is used to request a signed certificate from one of the
    configured issuers.

    All fields within the CertificateRequest's `spec` are immutable after creation.
    A CertificateRequest will either succeed or fail, as denoted by its `Ready` status
    condition and its `status.failureTime` field.

    A CertificateRequest is a one-shot resource, meaning it represents a single
    point in time request for a certificate and cannot be re-used."""

    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "CertificateRequest"
    PLURAL: ClassVar[str] = "certificaterequests"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cr", "crs")

    spec: CertificateRequestSpec = Field(default_factory=CertificateRequestSpec)
    """Specification of the desired state of the CertificateRequest resource.
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status"""
    status: CertificateRequestStatus | None = None
    """Status of the CertificateRequest. This is set and managed automatically. Read-only.
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status"""
