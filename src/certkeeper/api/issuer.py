"""``cert-manager.io/v1`` Issuer and ClusterIssuer (types_issuer.go).

(Provisional: selfSigned and ca are typed; acme, vault and venafi are being typed.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .common import GROUP
from .meta import Condition, Model, Resource


class SelfSignedIssuer(Model):
    crl_distribution_points: list[str] | None = None


class CAIssuer(Model):
    secret_name: str | None = None
    crl_distribution_points: list[str] | None = None
    ocsp_servers: list[str] | None = None
    issuing_certificate_urls: list[str] | None = Field(default=None, alias="issuingCertificateURLs")


class IssuerSpec(Model):
    acme: dict[str, Any] | None = None
    ca: CAIssuer | None = None
    vault: dict[str, Any] | None = None
    self_signed: SelfSignedIssuer | None = None
    venafi: dict[str, Any] | None = None


class ACMEIssuerStatus(Model):
    uri: str | None = None
    last_registered_email: str | None = None
    last_private_key_hash: str | None = None


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
