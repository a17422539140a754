"""``cert-manager.io/v1`` Issuer and ClusterIssuer (types_issuer.go).

The ACME configuration is defined in :mod:`certkeeper.api.acme` (shared with Challenge);
it is re-exported here so callers can find every issuer type in one place.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .acme import ACMEIssuer, ACMEIssuerStatus
from .common import GROUP, LocalObjectReference, SecretKeySelector
from .meta import Condition, Model, Resource

__all__ = [
    "ACMEIssuer",
    "ACMEIssuerStatus",
    "AnyIssuer",
    "CAIssuer",
    "ClusterIssuer",
    "Issuer",
    "IssuerSpec",
    "IssuerStatus",
    "SelfSignedIssuer",
    "VaultAppRole",
    "VaultAWSAuth",
    "VaultAuth",
    "VaultClientCertificateAuth",
    "VaultIssuer",
    "VaultKubernetesAuth",
    "VenafiCloud",
    "VenafiIssuer",
    "VenafiNGTS",
    "VenafiTPP",
]


class SelfSignedIssuer(Model):
    crl_distribution_points: list[str] | None = None


class CAIssuer(Model):
    secret_name: str | None = None
    crl_distribution_points: list[str] | None = None
    ocsp_servers: list[str] | None = None
    issuing_certificate_urls: list[str] | None = Field(default=None, alias="issuingCertificateURLs")


# --- Vault --------------------------------------------------------------------------------


class VaultServiceAccountRef(Model):
    name: str | None = None
    audiences: list[str] | None = None


class VaultAppRole(Model):
    path: str | None = None
    role_id: str | None = Field(default=None, alias="roleId")
    secret_ref: SecretKeySelector | None = None


class VaultClientCertificateAuth(Model):
    mount_path: str | None = None
    secret_name: str | None = None
    name: str | None = None


class VaultKubernetesAuth(Model):
    mount_path: str | None = None
    secret_ref: SecretKeySelector | None = None
    service_account_ref: VaultServiceAccountRef | None = None
    role: str | None = None


class VaultAWSAuth(Model):
    mount_path: str | None = None
    role: str | None = None
    region: str | None = None
    service_account_ref: VaultServiceAccountRef | None = None
    iam_role_arn: str | None = None
    vault_header_value: str | None = None


class VaultAuth(Model):
    token_secret_ref: SecretKeySelector | None = None
    app_role: VaultAppRole | None = None
    client_certificate: VaultClientCertificateAuth | None = None
    kubernetes: VaultKubernetesAuth | None = None
    aws: VaultAWSAuth | None = None


class VaultIssuer(Model):
    server: str | None = None
    server_name: str | None = None
    path: str | None = None
    namespace: str | None = None
    #: base64 (Kubernetes ``[]byte``) PEM bundle
    ca_bundle: str | None = None
    ca_bundle_secret_ref: SecretKeySelector | None = None
    client_cert_secret_ref: SecretKeySelector | None = None
    client_key_secret_ref: SecretKeySelector | None = None
    auth: VaultAuth | None = None


# --- Venafi -------------------------------------------------------------------------------


class VenafiTPP(Model):
    url: str | None = None
    credentials_ref: LocalObjectReference | None = None
    #: base64 (Kubernetes ``[]byte``) PEM bundle
    ca_bundle: str | None = None
    ca_bundle_secret_ref: SecretKeySelector | None = None


class VenafiCloud(Model):
    url: str | None = None
    api_token_secret_ref: SecretKeySelector | None = None


class VenafiNGTS(Model):
    url: str | None = None
    token_endpoint: str | None = None
    tsg_id: str | None = Field(default=None, alias="tsgID")
    credentials_ref: LocalObjectReference | None = None


class VenafiIssuer(Model):
    zone: str | None = None
    tpp: VenafiTPP | None = None
    cloud: VenafiCloud | None = None
    ngts: VenafiNGTS | None = None


# --- Issuer -------------------------------------------------------------------------------


class IssuerSpec(Model):
    acme: ACMEIssuer | None = None
    ca: CAIssuer | None = None
    vault: VaultIssuer | None = None
    self_signed: SelfSignedIssuer | None = None
    venafi: VenafiIssuer | None = None


class IssuerStatus(Model):
    conditions: list[Condition] | None = None
    acme: ACMEIssuerStatus | None = None


class Issuer(Resource):
    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "Issuer"
    PLURAL: ClassVar[str] = "issuers"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("iss",)

    spec: IssuerSpec = Field(default_factory=IssuerSpec)
    status: IssuerStatus | None = None


class ClusterIssuer(Issuer):
    KIND: ClassVar[str] = "ClusterIssuer"
    PLURAL: ClassVar[str] = "clusterissuers"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ciss",)
    NAMESPACED: ClassVar[bool] = False


AnyIssuer = Issuer  # ClusterIssuer is a subclass
