"""``acme.cert-manager.io/v1``: the ACME issuer configuration, Order and Challenge.

The issuer and solver structs live here rather than in issuer.py because a Challenge
carries a copy of the solver it uses; keeping them together avoids an import cycle and
mirrors cert-manager's pkg/apis/acme/v1 package.

Embedded Kubernetes types that certkeeper only passes through to the cluster (affinity,
tolerations, security contexts) are plain JSON; everything cert-manager itself reads is
typed so that typos are refused (strict field validation) instead of silently ignored.
"""

from typing import Annotated, Any, ClassVar

from pydantic import Field, WithJsonSchema

from .bytefield import ByteField
from .common import ACME_GROUP, IssuerReference, LocalObjectReference, SecretKeySelector
from .meta import Base64, Int32, Model, Resource, Time, enum

# ---------------------------------------------------------------------------------------
# ACME issuer (pkg/apis/acme/v1/types_issuer.go)
# ---------------------------------------------------------------------------------------


class ACMEExternalAccountBinding(Model):
    """An account of the CA that the ACME account is bound to (RFC 8555 section 7.3.4)."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("keyID", "keySecretRef")

    key_id: str | None = Field(default=None, alias="keyID")
    """The ID of the CA key that the external account is bound to."""
    key_secret_ref: SecretKeySelector | None = None
    """A key in a Secret holding the symmetric MAC key of the binding, as un-padded base64url
    data. `key` names the Secret entry; it is not the keyID."""
    key_algorithm: Annotated[str, enum("HS256", "HS384", "HS512")] | None = None
    """Deprecated and ignored: the MAC algorithm is always HS256. Accepted so that older
    manifests still apply."""


class CertificateDNSNameSelector(Model):
    """Which Certificates' names a solver applies to; no selector makes it the default solver
    with the lowest priority."""

    match_labels: dict[str, str] | None = None
    """Labels a Certificate must have for this solver to apply."""
    dns_names: list[str] | None = None
    """DNS names this solver solves. A dnsNames match takes precedence over a dnsZones match;
    among equal matches the solver with most matching labels wins, then the earliest."""
    dns_zones: list[str] | None = None
    """DNS zones this solver solves; the most specific zone wins (sys.example.com over
    example.com for www.sys.example.com); among equal matches the solver with most matching
    labels wins, then the earliest."""


class ObjectMetaTemplate(Model):
    """The labels/annotations a solver copies onto the Pods/Ingresses it creates."""

    annotations: dict[str, str] | None = None
    """Annotations added to the created resource, overriding built-in values."""
    labels: dict[str, str] | None = None
    """Labels added to the created resource, overriding built-in values."""


#: Kubernetes quantities may be written as numbers (``cpu: 1``) or strings (``20m``)
Quantity = Annotated[
    str | int | float,
    # Kubernetes' own schema for resource.Quantity
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
            "x-kubernetes-int-or-string": True,
        }
    ),
]


class ResourceRequirements(Model):
    """Compute resources of the solver Pods (core/v1 ResourceRequirements)."""

    limits: dict[str, Quantity] | None = None
    """The maximum amount of compute resources allowed."""
    requests: dict[str, Quantity] | None = None
    """The minimum amount of compute resources required."""


class PodSpecTemplate(Model):
    """The fields of the solver Pod's spec that may be overridden."""

    node_selector: dict[str, str] | None = None
    """Labels a node must have for the Pod to be scheduled on it."""
    affinity: dict[str, Any] | None = None
    """The Pod's scheduling constraints (core/v1 Affinity)."""
    tolerations: list[dict[str, Any]] | None = None
    """The Pod's tolerations (core/v1 Toleration)."""
    priority_class_name: str | None = None
    """The Pod's priority class."""
    service_account_name: str | None = None
    """The Pod's service account."""
    image_pull_secrets: list[LocalObjectReference] | None = None
    """Secrets used to pull the solver image."""
    security_context: dict[str, Any] | None = None
    """The Pod's security context (core/v1 PodSecurityContext)."""
    resources: ResourceRequirements | None = None
    """Compute resources of the solver Pod, overriding the controller's defaults."""


class PodTemplate(Model):
    """Overrides for the Pods that solve HTTP-01 challenges."""

    metadata: ObjectMetaTemplate | None = None
    """Labels and annotations of the solver Pod; only these two fields may be set."""
    spec: PodSpecTemplate | None = None
    """Spec overrides of the solver Pod; only the listed fields may be set."""


class IngressTemplate(Model):
    """Overrides for the Ingresses that route HTTP-01 challenges."""

    metadata: ObjectMetaTemplate | None = None
    """Labels and annotations of the solver Ingress; only these two fields may be set."""


class ACMEChallengeSolverHTTP01Ingress(Model):
    """Solves HTTP-01 challenges by routing them through an Ingress to a solver Pod."""

    service_type: str | None = None
    """The type of the solver's Service: `NodePort` (the default) or `ClusterIP`."""
    ingress_class_name: str | None = None
    """The IngressClass of the created Ingresses (`spec.ingressClassName`). Only one of
    `class`, `name` or `ingressClassName` may be set."""
    class_: str | None = Field(default=None, alias="class")
    """The ingress class set as the `kubernetes.io/ingress.class` annotation on created
    Ingresses. Only one of `class`, `name` or `ingressClassName` may be set."""
    name: str | None = None
    """An existing Ingress to add the challenge paths to, instead of creating Ingresses.
    Only one of `class`, `name` or `ingressClassName` may be set."""
    pod_template: PodTemplate | None = None
    """Overrides for the solver Pods."""
    ingress_template: IngressTemplate | None = None
    """Overrides for the solver Ingresses."""


_GW_GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_GW_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
_GW_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GW_SECTION = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ParentReference(Model):
    """Gateway API ``ParentReference`` (sigs.k8s.io/gateway-api/apis/v1)."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    # the Gateway API's own value validations
    group: str | None = Field(default=None, json_schema_extra={"maxLength": 253, "pattern": _GW_GROUP})
    """The group of the parent; "gateway.networking.k8s.io" when unset."""
    kind: str | None = Field(default=None, json_schema_extra={"minLength": 1, "maxLength": 63, "pattern": _GW_KIND})
    """The kind of the parent, usually `Gateway`."""
    namespace: str | None = Field(
        default=None, json_schema_extra={"minLength": 1, "maxLength": 63, "pattern": _GW_NAMESPACE}
    )
    """The namespace of the parent; the route's own namespace when unset."""
    name: str | None = Field(default=None, json_schema_extra={"minLength": 1, "maxLength": 253})
    """The name of the parent."""
    section_name: str | None = Field(
        default=None, json_schema_extra={"minLength": 1, "maxLength": 253, "pattern": _GW_SECTION}
    )
    """A section of the parent, e.g. a Gateway listener's name; the whole parent when unset."""
    port: Int32 | None = Field(default=None, json_schema_extra={"minimum": 1, "maximum": 65535})
    """The network port of the parent the route attaches to."""


class ACMEChallengeSolverHTTP01GatewayHTTPRoute(Model):
    """Solves HTTP-01 challenges through a Gateway API HTTPRoute to a solver Pod."""

    service_type: str | None = None
    """The type of the solver's Service: `NodePort` (the default) or `ClusterIP`."""
    labels: dict[str, str] | None = None
    """Labels set on the HTTPRoutes created for challenges."""
    parent_refs: list[ParentReference] | None = None
    """The parents (usually Gateways) the created HTTPRoutes attach to."""
    pod_template: PodTemplate | None = None
    """Overrides for the solver Pods."""


class ACMEChallengeSolverHTTP01(Model):
    """Solves challenges with the HTTP-01 flow; not possible for wildcard names."""

    ingress: ACMEChallengeSolverHTTP01Ingress | None = None
    """Routes challenges through an Ingress."""
    gateway_http_route: ACMEChallengeSolverHTTP01GatewayHTTPRoute | None = Field(
        default=None, alias="gatewayHTTPRoute"
    )
    """Routes challenges through a Gateway API HTTPRoute in the challenge's namespace."""


class ACMEIssuerDNS01ProviderAkamai(Model):
    """Akamai Edge DNS credentials."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = (
        "accessTokenSecretRef",
        "clientSecretSecretRef",
        "clientTokenSecretRef",
        "serviceConsumerDomain",
    )

    service_consumer_domain: str | None = None
    """The Akamai API host name."""
    client_token_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the EdgeGrid client token."""
    client_secret_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the EdgeGrid client secret."""
    access_token_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the EdgeGrid access token."""


class ACMEIssuerDNS01ProviderCloudDNS(Model):
    """Google Cloud DNS settings."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("project",)

    service_account_secret_ref: SecretKeySelector | None = None
    """A Secret key holding a service account's JSON key; ambient credentials when unset."""
    project: str | None = None
    """The Google Cloud project of the zone."""
    hosted_zone_name: str | None = None
    """The Cloud DNS zone to create the record in; chosen automatically when unset."""


class ACMEIssuerDNS01ProviderCloudflare(Model):
    """Cloudflare credentials: an API token (recommended) or an API key and email."""

    email: str | None = None
    """The account's email, needed only with `apiKeySecretRef`."""
    api_key_secret_ref: SecretKeySelector | None = None
    """A Secret key holding a global API key. An API token is recommended instead."""
    api_token_secret_ref: SecretKeySelector | None = None
    """A Secret key holding an API token."""


class ServiceAccountRef(Model):
    """A ServiceAccount whose bound token is requested for authentication."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = None
    """Name of the ServiceAccount used to request a token."""
    audiences: list[str] | None = None
    """Audiences of the token; `sts.amazonaws.com` when unset."""


class Route53KubernetesAuth(Model):
    """Authenticates with AssumeRoleWithWebIdentity and a bound ServiceAccount token."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("serviceAccountRef",)

    service_account_ref: ServiceAccountRef | None = None
    """The ServiceAccount whose bound token is requested; needs an RBAC rule letting
    certkeeper request tokens."""


class Route53Auth(Model):
    """How Route 53 credentials are obtained."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("kubernetes",)

    kubernetes: Route53KubernetesAuth | None = None
    """Authenticates with a bound ServiceAccount token."""


class ACMEIssuerDNS01ProviderRoute53(Model):
    """AWS Route 53 settings; without explicit credentials, the environment's are used."""

    auth: Route53Auth | None = None
    """How credentials are obtained."""
    access_key_id: str | None = Field(default=None, alias="accessKeyID")
    """The access key ID. Cannot be set with `accessKeyIDSecretRef`."""
    access_key_id_secret_ref: SecretKeySelector | None = Field(default=None, alias="accessKeyIDSecretRef")
    """A Secret key holding the access key ID. Cannot be set with `accessKeyID`."""
    secret_access_key_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the secret access key."""
    role: str | None = None
    """A role ARN to assume with the credentials."""
    hosted_zone_id: str | None = Field(default=None, alias="hostedZoneID")
    """The hosted zone to manage; skips the lookup with ListHostedZonesByName."""
    region: str | None = None
    """The AWS region used to compute the credential scope; AWS_REGION when unset."""


class AzureManagedIdentity(Model):
    """An Azure workload or managed identity."""

    client_id: str | None = Field(default=None, alias="clientID")
    """The client ID of the identity; cannot be set with `resourceID`."""
    resource_id: str | None = Field(default=None, alias="resourceID")
    """The resource ID of the identity; cannot be set with `clientID`."""
    tenant_id: str | None = Field(default=None, alias="tenantID")
    """The tenant ID of the identity; cannot be set with `resourceID`."""


class ACMEIssuerDNS01ProviderAzureDNS(Model):
    """Azure DNS settings: a service principal or a managed identity."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("resourceGroupName", "subscriptionID")

    client_id: str | None = Field(default=None, alias="clientID")
    """The service principal's client ID; `clientSecretSecretRef` and `tenantID` must be set too."""
    client_secret_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the service principal's password."""
    subscription_id: str | None = Field(default=None, alias="subscriptionID")
    """The Azure subscription ID."""
    tenant_id: str | None = Field(default=None, alias="tenantID")
    """The service principal's tenant ID."""
    resource_group_name: str | None = None
    """The resource group of the DNS zone."""
    hosted_zone_name: str | None = None
    """The DNS zone to use."""
    environment: (
        Annotated[str, enum("AzurePublicCloud", "AzureChinaCloud", "AzureGermanCloud", "AzureUSGovernmentCloud")]
        | None
    ) = None
    """The Azure environment. Defaults to `AzurePublicCloud`."""
    managed_identity: AzureManagedIdentity | None = None
    """A workload or managed identity; then no service principal fields may be set."""
    zone_type: Annotated[str, enum("AzurePublicZone", "AzurePrivateZone")] | None = None
    """Whether the zone is public or private. Defaults to `AzurePublicZone`."""


class ACMEIssuerDNS01ProviderDigitalOcean(Model):
    """DigitalOcean DNS credentials."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("tokenSecretRef",)

    token_secret_ref: SecretKeySelector | None = None
    """A Secret key holding an API token."""


class ACMEIssuerDNS01ProviderAcmeDNS(Model):
    """An acme-dns server (https://github.com/joohoi/acme-dns)."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("accountSecretRef", "host")

    host: str | None = None
    """The acme-dns server's URL."""
    account_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the JSON account registrations per domain."""
    ca_bundle: Base64 | None = None
    """Base64-encoded bundle of PEM CAs to trust for the acme-dns server."""


class ACMEIssuerDNS01ProviderRFC2136(Model):
    """RFC 2136 dynamic updates, signed with TSIG."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("nameserver",)

    nameserver: str | None = None
    """An authoritative server accepting updates, as host:port; an IPv6 address in square
    brackets, e.g. [2001:db8::1]; the port is optional."""
    tsig_key_name: str | None = None
    """The TSIG key name; required with `tsigSecretSecretRef`."""
    tsig_secret_secret_ref: SecretKeySelector | None = None
    """A Secret key holding the TSIG secret; required with `tsigKeyName`."""
    tsig_algorithm: str | None = None
    """The TSIG algorithm (case-insensitive): `HMACMD5` (the default), `HMACSHA1`,
    `HMACSHA256` or `HMACSHA512`."""
    protocol: Annotated[str, enum("TCP", "UDP")] | None = None
    """The protocol of update queries: `TCP` or `UDP` (the default)."""


class ACMEIssuerDNS01ProviderWebhook(Model):
    """An external webhook DNS-01 solver."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("groupName", "solverName")

    group_name: str | None = None
    """The API group under which ChallengePayloads are POSTed to the webhook server; the
    GroupName of the solver implementation."""
    solver_name: str | None = None
    """The name of the solver in the webhook implementation, e.g. 'cloudflare'."""
    config: Any = None
    """Arbitrary JSON handed to the webhook solver unchanged. Secret values do not belong
    here: reference a Secret instead. The webhook implementation documents its schema."""


class ACMEChallengeSolverDNS01(Model):
    """Solves challenges with the DNS-01 flow; exactly one provider is set."""

    cname_strategy: Annotated[str, enum("None", "Follow")] | None = None
    """Whether a CNAME found at the challenge name is followed (`Follow`) or not (`None`)."""
    nameservers: list[str] | None = None
    """Recursive nameservers used for this solver's checks, overriding the controller's."""
    akamai: ACMEIssuerDNS01ProviderAkamai | None = None
    """Manages records with the Akamai DNS zone management API."""
    cloud_dns: ACMEIssuerDNS01ProviderCloudDNS | None = Field(default=None, alias="cloudDNS")
    """Manages records with the Google Cloud DNS API."""
    cloudflare: ACMEIssuerDNS01ProviderCloudflare | None = None
    """Manages records with the Cloudflare API."""
    route53: ACMEIssuerDNS01ProviderRoute53 | None = None
    """Manages records with the AWS Route 53 API."""
    azure_dns: ACMEIssuerDNS01ProviderAzureDNS | None = Field(default=None, alias="azureDNS")
    """Manages records with the Microsoft Azure DNS API."""
    digitalocean: ACMEIssuerDNS01ProviderDigitalOcean | None = None
    """Manages records with the DigitalOcean DNS API."""
    acme_dns: ACMEIssuerDNS01ProviderAcmeDNS | None = Field(default=None, alias="acmeDNS")
    """Manages records with an acme-dns server."""
    rfc2136: ACMEIssuerDNS01ProviderRFC2136 | None = None
    """Manages records with RFC 2136 dynamic DNS updates."""
    webhook: ACMEIssuerDNS01ProviderWebhook | None = None
    """Manages records with an external webhook solver."""


class ACMEChallengeSolver(Model):
    """How to solve ACME challenges for the names a selector picks; exactly one of `http01`
    or `dns01` is set."""

    selector: CertificateDNSNameSelector | None = None
    """The Certificates' names this solver applies to; the default solver when unset."""
    http01: ACMEChallengeSolverHTTP01 | None = None
    """Solves challenges with the HTTP-01 flow."""
    dns01: ACMEChallengeSolverDNS01 | None = None
    """Solves challenges with the DNS-01 flow."""
    wait_instead_of_self_check: str | None = None
    """Skip the self check and wait this long (a Go duration) before accepting the challenge."""


class ACMEIssuer(Model):
    """Obtains certificates from an RFC 8555 (ACME) server."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("privateKeySecretRef", "server")

    email: str | None = None
    """The email address of the ACME account; optional, strongly recommended: the CA uses it
    for notices about the account and its certificates."""
    server: str | None = None
    """The URL of the ACME server's directory, e.g.
    "https://acme-staging-v02.api.letsencrypt.org/directory". Only RFC 8555 servers."""
    preferred_chain: str | None = Field(default=None, json_schema_extra={"maxLength": 64})
    """The chain to use if the server offers several: the first whose root-most certificate
    was issued by this common name, e.g. "ISRG Root X1". No guarantee the server offers it."""
    ca_bundle: Base64 | None = None
    """Base64-encoded bundle of PEM CAs to verify the ACME server's certificate chain.
    Mutually exclusive with `skipTLSVerify`; the system's trust store when neither is set."""
    skip_tls_verify: bool | None = Field(default=None, alias="skipTLSVerify")
    """INSECURE: do not verify the ACME server's TLS certificate. Only for development;
    prefer `caBundle`. Defaults to false."""
    external_account_binding: ACMEExternalAccountBinding | None = None
    """An account of the CA that the ACME account is bound to on registration."""
    private_key_secret_ref: SecretKeySelector | None = None
    """The Secret holding the ACME account's private key, generated if missing; `key`
    defaults to `tls.key`."""
    solvers: list[ACMEChallengeSolver] | None = None
    """The challenge solvers used for the matching names; without solvers no certificate can
    be obtained. See https://cert-manager.io/docs/configuration/acme/."""
    disable_account_key_generation: bool | None = None
    """If true, no account key is generated: the key must already be in the Secret. Defaults to false."""
    enable_duration_feature: bool | None = None
    """Request a notAfter matching the Certificate's duration; not every ACME server
    supports it. Defaults to false."""
    profile: str | None = None
    """A certificate profile to request, as listed in the server's directory."""
    renewal_information_source: Annotated[str, enum("ARI", "None")] | None = None
    """Where renewal information comes from: `ARI` (RFC 9773) or `None`."""


class ACMEIssuerStatus(Model):
    """The ACME account as last registered."""

    uri: str | None = None
    """The account's unique URI at the ACME server."""
    last_registered_email: str | None = None
    """The email of the latest registered account, to notice changes."""
    last_private_key_hash: str | None = None
    """A hash of the latest registered account's private key, to notice changes."""


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


State = Annotated[str, enum("valid", "ready", "pending", "processing", "invalid", "expired", "errored")]


class OrderSpec(Model):
    """What to order; set on creation."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("issuerRef", "request")

    request: ByteField | None = None
    """The certificate signing request used to finalize the order (base64 on the wire)."""
    issuer_ref: IssuerReference | None = None
    """The ACME Issuer or ClusterIssuer used to create this Order. A missing issuer is
    retried; a non-ACME issuer fails the Order."""
    common_name: str | None = None
    """The common name of the CSR; if set, it is also in `dnsNames` or `ipAddresses`."""
    dns_names: list[str] | None = None
    """The DNS names validated for the Order; they match the CSR's."""
    ip_addresses: list[str] | None = None
    """The IP addresses validated for the Order; they match the CSR's."""
    duration: str | None = None
    """The requested lifetime, sent as the order's notAfter when the issuer enables it."""
    profile: str | None = None
    """A certificate profile to request, as listed in the server's directory."""
    replaces: str | None = None
    """The ARI CertID of the certificate this order replaces."""


class ACMEChallenge(Model):
    """A challenge the ACME server offers for an authorization."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("token", "type", "url")

    url: str | None = None
    """The URL of this challenge at the ACME server."""
    token: str | None = None
    """The token presented for this challenge; the key is computed from it."""
    type: str | None = None
    """The raw challenge type, e.g. 'http-01' or 'dns-01'; other types are ignored."""


class ACMEAuthorization(Model):
    """An authorization that must be completed to validate one name of an Order."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("url",)

    url: str | None = None
    """The URL of the authorization at the ACME server."""
    identifier: str | None = None
    """The DNS name validated by this authorization."""
    wildcard: bool | None = None
    """True if the authorization is for a wildcard name; `identifier` is then the name
    without `*.`."""
    initial_state: State | None = None
    """The state of the authorization when first fetched; an already `valid` one (authz
    reuse) gets no Challenge."""
    challenges: list[ACMEChallenge] | None = None
    """The challenges offered; one is picked and a Challenge created for it."""


class OrderStatus(Model):
    """The state of the Order at the ACME server."""

    url: str | None = None
    """The URL of the Order, set when it is first processed and immutable afterwards."""
    finalize_url: str | None = Field(default=None, alias="finalizeURL")
    """The URL used to finalize the Order once its authorizations are complete."""
    authorizations: list[ACMEAuthorization] | None = None
    """The authorizations that must be completed to validate the Order's names."""
    certificate: ByteField | None = None
    """The PEM certificate chain, set once the Order is `valid` (base64 on the wire)."""
    state: State | None = None
    """The current state of the Order; `valid`, `invalid`, `expired` and `errored` are final."""
    reason: str | None = None
    """Why the Order is in its current state."""
    failure_time: Time | None = None
    """The time the Order failed; used for back-off and garbage collection."""


class Order(Resource):
    """An Order with an ACME server."""

    API_VERSION: ClassVar[str] = f"{ACME_GROUP}/v1"
    KIND: ClassVar[str] = "Order"
    PLURAL: ClassVar[str] = "orders"
    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("metadata", "spec")

    spec: OrderSpec = Field(default_factory=OrderSpec)
    status: OrderStatus | None = None


# ---------------------------------------------------------------------------------------
# Challenge (pkg/apis/acme/v1/types_challenge.go)
# ---------------------------------------------------------------------------------------


class ChallengeSpec(Model):
    """One ACME challenge to solve; set on creation."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = (
        "authorizationURL",
        "dnsName",
        "issuerRef",
        "key",
        "solver",
        "token",
        "type",
        "url",
    )

    url: str | None = None
    """The URL of the challenge at the ACME server."""
    authorization_url: str | None = Field(default=None, alias="authorizationURL")
    """The URL of the authorization this challenge is part of."""
    dns_name: str | None = None
    """The name the challenge is for; for a wildcard name, the name without `*.`."""
    wildcard: bool | None = None
    """True if the challenge is for a wildcard identifier, e.g. '*.example.com'."""
    type: Annotated[str, enum(CHALLENGE_HTTP01, CHALLENGE_DNS01)] | None = None
    """The type of the challenge: "HTTP-01" or "DNS-01"."""
    token: str | None = None
    """The challenge token, as returned by the ACME server."""
    key: str | None = None
    """The key to present: for HTTP-01 `<token>.<account key thumbprint>`; for DNS-01 the
    base64url SHA-256 digest of that text, as the TXT record's content."""
    solver: ACMEChallengeSolver | None = None
    """The solver configuration used to solve this challenge."""
    issuer_ref: IssuerReference | None = None
    """The ACME Issuer or ClusterIssuer used to solve this Challenge. A missing issuer is
    retried; a non-ACME issuer fails the Challenge."""


class ChallengeStatus(Model):
    """The state of the Challenge."""

    processing: bool | None = None
    """Whether the challenge is being processed: set by the scheduler, cleared once the
    challenge reached a final state."""
    presented: bool | None = None
    """True while the challenge's record or HTTP response is presented; it does not mean the
    self check passes."""
    presented_at: Time | None = None
    """The time the challenge was presented."""
    reason: str | None = None
    """Why the Challenge is in its current state, in human-readable form."""
    state: State | None = None
    """The current state of the challenge; unknown when unset."""


class Challenge(Resource):
    """A Challenge to be solved for an ACME server."""

    API_VERSION: ClassVar[str] = f"{ACME_GROUP}/v1"
    KIND: ClassVar[str] = "Challenge"
    PLURAL: ClassVar[str] = "challenges"
    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("metadata", "spec")

    spec: ChallengeSpec = Field(default_factory=ChallengeSpec)
    status: ChallengeStatus | None = None
