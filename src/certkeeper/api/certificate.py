"""``cert-manager.io/v1`` Certificate and CertificateRequest (types_certificate*.go)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .bytefield import ByteField
from .common import GROUP, IssuerReference, SecretKeySelector
from .meta import Condition, Model, Resource


class X509Subject(Model):
    organizations: list[str] | None = None
    countries: list[str] | None = None
    organizational_units: list[str] | None = None
    localities: list[str] | None = None
    provinces: list[str] | None = None
    street_addresses: list[str] | None = None
    postal_codes: list[str] | None = None
    serial_number: str | None = None


class CertificatePrivateKey(Model):
    rotation_policy: str | None = None
    encoding: str | None = None
    algorithm: str | None = None
    size: int | None = None


class OtherName(Model):
    oid: str | None = None
    utf8_value: str | None = None


class NameConstraintItem(Model):
    dns_domains: list[str] | None = None
    ip_ranges: list[str] | None = None
    email_addresses: list[str] | None = None
    uri_domains: list[str] | None = None


class NameConstraints(Model):
    critical: bool | None = None
    permitted: NameConstraintItem | None = None
    excluded: NameConstraintItem | None = None


class CertificateSecretTemplate(Model):
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class JKSKeystore(Model):
    create: bool
    alias: str | None = None
    password_secret_ref: SecretKeySelector | None = None
    password: str | None = None


class PKCS12Keystore(Model):
    create: bool
    profile: str | None = None
    password_secret_ref: SecretKeySelector | None = None
    password: str | None = None


class CertificateKeystores(Model):
    jks: JKSKeystore | None = None
    pkcs12: PKCS12Keystore | None = None


class CertificateAdditionalOutputFormat(Model):
    type: str


class RenewalWindow(Model):
    timezone: str | None = None
    window_duration: str | None = None
    cron: str | None = None


class CertificateRenewal(Model):
    policy: str | None = None
    windows: list[RenewalWindow] | None = None


class CertificateSpec(Model):
    subject: X509Subject | None = None
    literal_subject: str | None = None
    common_name: str | None = None
    duration: str | None = None
    renew_before: str | None = None
    renew_before_percentage: int | None = None
    renewal: CertificateRenewal | None = None
    dns_names: list[str] | None = None
    ip_addresses: list[str] | None = None
    uris: list[str] | None = None
    other_names: list[OtherName] | None = None
    email_addresses: list[str] | None = None
    secret_name: str | None = None
    secret_template: CertificateSecretTemplate | None = None
    keystores: CertificateKeystores | None = None
    issuer_ref: IssuerReference | None = None
    is_ca: bool | None = Field(default=None, alias="isCA")
    usages: list[str] | None = None
    private_key: CertificatePrivateKey | None = None
    signature_algorithm: str | None = None
    encode_usages_in_request: bool | None = None
    revision_history_limit: int | None = None
    additional_output_formats: list[CertificateAdditionalOutputFormat] | None = None
    name_constraints: NameConstraints | None = None


class CertificateACMEStatus(Model):
    model_config = Model.model_config | {"extra": "allow"}


class CertificateStatus(Model):
    conditions: list[Condition] | None = None
    last_failure_time: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    renewal_time: str | None = None
    revision: int | None = None
    next_private_key_secret_name: str | None = None
    failed_issuance_attempts: int | None = None
    acme: CertificateACMEStatus | None = None


class Certificate(Resource):
    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "Certificate"
    PLURAL: ClassVar[str] = "certificates"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cert", "certs")

    spec: CertificateSpec = Field(default_factory=CertificateSpec)
    status: CertificateStatus | None = None


class CertificateRequestSpec(Model):
    duration: str | None = None
    issuer_ref: IssuerReference | None = None
    #: the PEM CSR (base64 in JSON and YAML)
    request: ByteField | None = None
    is_ca: bool | None = Field(default=None, alias="isCA")
    usages: list[str] | None = None
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class CertificateRequestStatus(Model):
    conditions: list[Condition] | None = None
    #: PEM chain and CA (base64 in JSON and YAML)
    certificate: ByteField | None = None
    ca: ByteField | None = None
    failure_time: str | None = None


class CertificateRequest(Resource):
    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "CertificateRequest"
    PLURAL: ClassVar[str] = "certificaterequests"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cr", "crs")

    spec: CertificateRequestSpec = Field(default_factory=CertificateRequestSpec)
    status: CertificateRequestStatus | None = None
