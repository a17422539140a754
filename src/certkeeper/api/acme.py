"""``acme.cert-manager.io/v1``: the ACME issuer configuration, Order and Challenge.

The issuer and solver structs live here rather than in issuer.py because a Challenge
carries a copy of the solver it uses; keeping them together avoids an import cycle and
mirrors cert-manager's pkg/apis/acme/v1 package.

Embedded Kubernetes types that certkeeper only passes through to the cluster (affinity,
tolerations, security contexts) are plain JSON; everything cert-manager itself reads is
typed so that typos are refused (strict field validation) instead of silently ignored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .bytefield import ByteField
from .common import ACME_GROUP, IssuerReference, LocalObjectReference, SecretKeySelector
from .meta import Model, Resource

# ---------------------------------------------------------------------------------------
# ACME issuer (pkg/apis/acme/v1/types_issuer.go)
# ---------------------------------------------------------------------------------------


class ACMEExternalAccountBinding(Model):
    key_id: str | None = Field(default=None, alias="keyID")
    key_secret_ref: SecretKeySelector | None = None
    #: deprecated and ignored (HS256 is always used); accepted so old manifests load
    key_algorithm: str | None = None


class CertificateDNSNameSelector(Model):
    match_labels: dict[str, str] | None = None
    dns_names: list[str] | None = None
    dns_zones: list[str] | None = None


class ObjectMetaTemplate(Model):
    """The labels/annotations a solver copies onto the Pods/Ingresses it creates."""

    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class ResourceRequirements(Model):
    # Kubernetes quantities may be written as numbers (``cpu: 1``) or strings (``20m``)
    limits: dict[str, str | int | float] | None = None
    requests: dict[str, str | int | float] | None = None


class PodSpecTemplate(Model):
    node_selector: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    priority_class_name: str | None = None
    service_account_name: str | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    security_context: dict[str, Any] | None = None
    resources: ResourceRequirements | None = None


class PodTemplate(Model):
    metadata: ObjectMetaTemplate | None = None
    spec: PodSpecTemplate | None = None


class IngressTemplate(Model):
    metadata: ObjectMetaTemplate | None = None


class ACMEChallengeSolverHTTP01Ingress(Model):
    service_type: str | None = None
    ingress_class_name: str | None = None
    class_: str | None = Field(default=None, alias="class")
    name: str | None = None
    pod_template: PodTemplate | None = None
    ingress_template: IngressTemplate | None = None


class ParentReference(Model):
    """Gateway API ``ParentReference`` (sigs.k8s.io/gateway-api/apis/v1)."""

    group: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    section_name: str | None = None
    port: int | None = None


class ACMEChallengeSolverHTTP01GatewayHTTPRoute(Model):
    service_type: str | None = None
    labels: dict[str, str] | None = None
    parent_refs: list[ParentReference] | None = None
    pod_template: PodTemplate | None = None


class ACMEChallengeSolverHTTP01(Model):
    ingress: ACMEChallengeSolverHTTP01Ingress | None = None
    gateway_http_route: ACMEChallengeSolverHTTP01GatewayHTTPRoute | None = Field(
        default=None, alias="gatewayHTTPRoute"
    )


class ACMEIssuerDNS01ProviderAkamai(Model):
    service_consumer_domain: str | None = None
    client_token_secret_ref: SecretKeySelector | None = None
    client_secret_secret_ref: SecretKeySelector | None = None
    access_token_secret_ref: SecretKeySelector | None = None


class ACMEIssuerDNS01ProviderCloudDNS(Model):
    service_account_secret_ref: SecretKeySelector | None = None
    project: str | None = None
    hosted_zone_name: str | None = None


class ACMEIssuerDNS01ProviderCloudflare(Model):
    email: str | None = None
    api_key_secret_ref: SecretKeySelector | None = None
    api_token_secret_ref: SecretKeySelector | None = None


class ServiceAccountRef(Model):
    name: str | None = None
    audiences: list[str] | None = None


class Route53KubernetesAuth(Model):
    service_account_ref: ServiceAccountRef | None = None


class Route53Auth(Model):
    kubernetes: Route53KubernetesAuth | None = None


class ACMEIssuerDNS01ProviderRoute53(Model):
    auth: Route53Auth | None = None
    access_key_id: str | None = Field(default=None, alias="accessKeyID")
    access_key_id_secret_ref: SecretKeySelector | None = Field(default=None, alias="accessKeyIDSecretRef")
    secret_access_key_secret_ref: SecretKeySelector | None = None
    role: str | None = None
    hosted_zone_id: str | None = Field(default=None, alias="hostedZoneID")
    region: str | None = None


class AzureManagedIdentity(Model):
    client_id: str | None = Field(default=None, alias="clientID")
    resource_id: str | None = Field(default=None, alias="resourceID")
    tenant_id: str | None = Field(default=None, alias="tenantID")


class ACMEIssuerDNS01ProviderAzureDNS(Model):
    client_id: str | None = Field(default=None, alias="clientID")
    client_secret_secret_ref: SecretKeySelector | None = None
    subscription_id: str | None = Field(default=None, alias="subscriptionID")
    tenant_id: str | None = Field(default=None, alias="tenantID")
    resource_group_name: str | None = None
    hosted_zone_name: str | None = None
    environment: str | None = None
    managed_identity: AzureManagedIdentity | None = None
    zone_type: str | None = None


class ACMEIssuerDNS01ProviderDigitalOcean(Model):
    token_secret_ref: SecretKeySelector | None = None


class ACMEIssuerDNS01ProviderAcmeDNS(Model):
    host: str | None = None
    account_secret_ref: SecretKeySelector | None = None
    #: base64 (Kubernetes ``[]byte``) PEM bundle to trust for the acme-dns server
    ca_bundle: str | None = None


class ACMEIssuerDNS01ProviderRFC2136(Model):
    nameserver: str | None = None
    tsig_key_name: str | None = None
    tsig_secret_secret_ref: SecretKeySelector | None = None
    tsig_algorithm: str | None = None
    protocol: str | None = None


class ACMEIssuerDNS01ProviderWebhook(Model):
    group_name: str | None = None
    solver_name: str | None = None
    #: arbitrary JSON handed to the webhook solver unchanged
    config: Any = None


class ACMEChallengeSolverDNS01(Model):
    cname_strategy: str | None = None
    nameservers: list[str] | None = None
    akamai: ACMEIssuerDNS01ProviderAkamai | None = None
    cloud_dns: ACMEIssuerDNS01ProviderCloudDNS | None = Field(default=None, alias="cloudDNS")
    cloudflare: ACMEIssuerDNS01ProviderCloudflare | None = None
    route53: ACMEIssuerDNS01ProviderRoute53 | None = None
    azure_dns: ACMEIssuerDNS01ProviderAzureDNS | None = Field(default=None, alias="azureDNS")
    digitalocean: ACMEIssuerDNS01ProviderDigitalOcean | None = None
    acme_dns: ACMEIssuerDNS01ProviderAcmeDNS | None = Field(default=None, alias="acmeDNS")
    rfc2136: ACMEIssuerDNS01ProviderRFC2136 | None = None
    webhook: ACMEIssuerDNS01ProviderWebhook | None = None


class ACMEChallengeSolver(Model):
    selector: CertificateDNSNameSelector | None = None
    http01: ACMEChallengeSolverHTTP01 | None = None
    dns01: ACMEChallengeSolverDNS01 | None = None
    #: Go duration; skip the self check and just wait this long before accepting
    wait_instead_of_self_check: str | None = None


class ACMEIssuer(Model):
    email: str | None = None
    server: str | None = None
    preferred_chain: str | None = None
    #: base64 (Kubernetes ``[]byte``) PEM bundle
    ca_bundle: str | None = None
    skip_tls_verify: bool | None = Field(default=None, alias="skipTLSVerify")
    external_account_binding: ACMEExternalAccountBinding | None = None
    private_key_secret_ref: SecretKeySelector | None = None
    solvers: list[ACMEChallengeSolver] | None = None
    disable_account_key_generation: bool | None = None
    enable_duration_feature: bool | None = None
    profile: str | None = None
    renewal_information_source: str | None = None


class ACMEIssuerStatus(Model):
    uri: str | None = None
    last_registered_email: str | None = None
    last_private_key_hash: str | None = None


# ---------------------------------------------------------------------------------------
# Order (pkg/apis/acme/v1/types_order.go)
# ---------------------------------------------------------------------------------------

ORDER_VALID = "valid"
ORDER_READY = "ready"
ORDER_PENDING = "pending"
ORDER_PROCESSING = "processing"
ORDER_INVALID = "invalid"
ORDER_EXPIRED = "expired"
ORDER_ERRORED = "errored"
ORDER_UNKNOWN = ""

FAILURE_STATES = frozenset({ORDER_INVALID, ORDER_EXPIRED, ORDER_ERRORED})
FINAL_STATES = FAILURE_STATES | {ORDER_VALID}

CHALLENGE_HTTP01 = "HTTP-01"
CHALLENGE_DNS01 = "DNS-01"


def is_failure_state(state: str | None) -> bool:
    return (state or "") in FAILURE_STATES


def is_final_state(state: str | None) -> bool:
    return (state or "") in FINAL_STATES


class OrderSpec(Model):
    #: the PEM CSR (base64 in JSON and YAML)
    request: ByteField | None = None
    issuer_ref: IssuerReference | None = None
    common_name: str | None = None
    dns_names: list[str] | None = None
    ip_addresses: list[str] | None = None
    duration: str | None = None
    profile: str | None = None
    #: ARI CertID of the certificate this order replaces
    replaces: str | None = None


class ACMEChallenge(Model):
    url: str | None = None
    token: str | None = None
    type: str | None = None


class ACMEAuthorization(Model):
    url: str | None = None
    identifier: str | None = None
    wildcard: bool | None = None
    initial_state: str | None = None
    challenges: list[ACMEChallenge] | None = None


class OrderStatus(Model):
    url: str | None = None
    finalize_url: str | None = Field(default=None, alias="finalizeURL")
    authorizations: list[ACMEAuthorization] | None = None
    #: the PEM chain (base64 in JSON and YAML)
    certificate: ByteField | None = None
    state: str | None = None
    reason: str | None = None
    failure_time: str | None = None


class Order(Resource):
    API_VERSION: ClassVar[str] = f"{ACME_GROUP}/v1"
    KIND: ClassVar[str] = "Order"
    PLURAL: ClassVar[str] = "orders"

    spec: OrderSpec = Field(default_factory=OrderSpec)
    status: OrderStatus | None = None


# ---------------------------------------------------------------------------------------
# Challenge (pkg/apis/acme/v1/types_challenge.go)
# ---------------------------------------------------------------------------------------


class ChallengeSpec(Model):
    url: str | None = None
    authorization_url: str | None = Field(default=None, alias="authorizationURL")
    dns_name: str | None = None
    wildcard: bool | None = None
    type: str | None = None
    token: str | None = None
    key: str | None = None
    solver: ACMEChallengeSolver | None = None
    issuer_ref: IssuerReference | None = None


class ChallengeStatus(Model):
    processing: bool | None = None
    presented: bool | None = None
    presented_at: str | None = None
    reason: str | None = None
    state: str | None = None


class Challenge(Resource):
    API_VERSION: ClassVar[str] = f"{ACME_GROUP}/v1"
    KIND: ClassVar[str] = "Challenge"
    PLURAL: ClassVar[str] = "challenges"

    spec: ChallengeSpec = Field(default_factory=ChallengeSpec)
    status: ChallengeStatus | None = None
