"""``cert-manager.io/v1`` Issuer and ClusterIssuer (types_issuer.go).

The ACME configuration is defined in :mod:`certkeeper.api.acme` (shared with Challenge);
it is re-exported here so callers can find every issuer type in one place.
"""

from typing import ClassVar

from pydantic import Field

from .acme import ACMEIssuer, ACMEIssuerStatus
from .common import GROUP, LocalObjectReference, SecretKeySelector
from .meta import CONDITIONS_LIST, Base64, Condition, Model, Resource

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
    """Signs each certificate with the private key of its own CertificateRequest."""

    crl_distribution_points: list[str] | None = None
    """The CRL distribution points (an X.509 v3 extension) to set on issued certificates,
    where the revocation of a certificate can be checked. If not set, none are set."""


class CAIssuer(Model):
    """Signs certificates with a CA key pair stored in a Secret."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("secretName",)

    secret_name: str | None = None
    """The name of the Secret holding the signing CA's `tls.crt` and `tls.key`."""
    crl_distribution_points: list[str] | None = None
    """The CRL distribution points (an X.509 v3 extension) to set on issued certificates,
    where the revocation of a certificate can be checked. If not set, none are set."""
    ocsp_servers: list[str] | None = None
    """The URLs of OCSP responders to set on issued certificates (an X.509 v3 extension),
    e.g. "http://ocsp.int-x3.letsencrypt.org". If not set, none are set."""
    issuing_certificate_urls: list[str] | None = Field(default=None, alias="issuingCertificateURLs")
    """URLs of the issuing certificate to embed in issued certificates (Authority Information
    Access, RFC 5280 section 4.2.2.1), e.g. "http://ca.example.com/ca.crt"."""


# --- Vault --------------------------------------------------------------------------------


class VaultServiceAccountRef(Model):
    """A ServiceAccount whose bound token is requested to authenticate with Vault."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = None
    """Name of the ServiceAccount used to request a token."""
    audiences: list[str] | None = None
    """Extra audiences to include in the token passed to Vault; the default audiences are
    always included."""


class VaultAppRole(Model):
    """Authenticates with Vault's App Role auth method, the secret kept in a Secret."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("path", "roleId", "secretRef")

    path: str | None = None
    """Where the App Role auth method is mounted in Vault, e.g. "approle"."""
    role_id: str | None = Field(default=None, alias="roleId")
    """The RoleID configured in the App Role auth method."""
    secret_ref: SecretKeySelector | None = None
    """A key in a Secret holding the App Role secret used to authenticate with Vault; `key`
    must be set."""


class VaultClientCertificateAuth(Model):
    """Authenticates with Vault by presenting a client certificate in the TLS handshake (HTTPS only)."""

    mount_path: str | None = None
    """The mount path of the auth method, e.g. `/v1/auth/foo` logs in at
    `/v1/auth/foo/login`. Defaults to "/v1/auth/cert"."""
    secret_name: str | None = None
    """A `kubernetes.io/tls` Secret whose `tls.crt` and `tls.key` authenticate to Vault."""
    name: str | None = None
    """The certificate role to authenticate against; if not set, any matching role."""


class VaultKubernetesAuth(Model):
    """Authenticates with Vault with a Kubernetes ServiceAccount token."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("role",)

    mount_path: str | None = None
    """The mount path of the auth method, e.g. `/v1/auth/foo` logs in at
    `/v1/auth/foo/login`. Defaults to "/v1/auth/kubernetes"."""
    secret_ref: SecretKeySelector | None = None
    """A Secret holding a ServiceAccount token (JWT) used to authenticate with Vault."""
    service_account_ref: VaultServiceAccountRef | None = None
    """A ServiceAccount whose bound (projected) token is requested for each login, instead of
    a static token in `secretRef`; needs an RBAC rule letting certkeeper request tokens."""
    role: str | None = None
    """The Vault role to assume; it binds a Kubernetes ServiceAccount to Vault policies."""


class VaultAWSAuth(Model):
    """Authenticates with Vault's AWS IAM auth method."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("role",)

    mount_path: str | None = None
    """The mount path of the auth method. Defaults to "/v1/auth/aws"."""
    role: str | None = None
    """The Vault role to authenticate as."""
    region: str | None = None
    """The AWS region of the STS endpoint used to sign the login request."""
    service_account_ref: VaultServiceAccountRef | None = None
    """A ServiceAccount whose bound token is exchanged for AWS credentials."""
    iam_role_arn: str | None = None
    """The ARN of the IAM role assumed with the ServiceAccount token."""
    vault_header_value: str | None = None
    """The value of the `X-Vault-AWS-IAM-Server-ID` header sent with the login request."""


class VaultAuth(Model):
    """How certkeeper authenticates with Vault; exactly one method is set."""

    token_secret_ref: SecretKeySelector | None = None
    """Authenticates with a Vault token kept in a Secret."""
    app_role: VaultAppRole | None = None
    """Authenticates with the App Role auth method, the role and secret kept in a Secret."""
    client_certificate: VaultClientCertificateAuth | None = None
    """Authenticates by presenting a client certificate in the TLS handshake (HTTPS only)."""
    kubernetes: VaultKubernetesAuth | None = None
    """Authenticates with a Kubernetes ServiceAccount token."""
    aws: VaultAWSAuth | None = None
    """Authenticates with AWS IAM credentials."""


class VaultIssuer(Model):
    """Signs certificates with a HashiCorp Vault PKI backend."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("auth", "path", "server")

    server: str | None = None
    """The connection address of the Vault server, e.g. "https://vault.example.com:8200"."""
    server_name: str | None = None
    """The host name used to verify the Vault server's certificate."""
    path: str | None = None
    """The mount path of the Vault PKI backend's `sign` endpoint, e.g.
    "my_pki_mount/sign/my-role-name"."""
    namespace: str | None = None
    """The Vault Enterprise namespace, e.g. "ns1"."""
    ca_bundle: Base64 | None = None
    """Base64-encoded bundle of PEM CAs to verify the Vault server's certificate chain over
    HTTPS. Mutually exclusive with `caBundleSecretRef`; if neither is set, the system's trust
    store is used."""
    ca_bundle_secret_ref: SecretKeySelector | None = None
    """A Secret holding a bundle of PEM CAs to verify the Vault server's chain (key defaults to
    `ca.crt`). Mutually exclusive with `caBundle`."""
    client_cert_secret_ref: SecretKeySelector | None = None
    """A Secret holding a PEM client certificate for Vault servers that require mTLS."""
    client_key_secret_ref: SecretKeySelector | None = None
    """A Secret holding the PEM private key of the mTLS client certificate."""
    auth: VaultAuth | None = None
    """How certkeeper authenticates with the Vault server."""


# --- Venafi -------------------------------------------------------------------------------


class VenafiTPP(Model):
    """CyberArk Certificate Manager Self-Hosted (formerly Venafi TPP) settings."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("credentialsRef", "url")

    url: str | None = None
    """The base URL of the vedsdk endpoint, e.g. "https://tpp.example.com/vedsdk"."""
    credentials_ref: LocalObjectReference | None = None
    """A Secret holding the API credentials: `access-token`, or `username` and `password`."""
    ca_bundle: Base64 | None = None
    """Base64-encoded bundle of PEM CAs to verify the server's certificate chain over HTTPS.
    Mutually exclusive with `caBundleSecretRef`."""
    ca_bundle_secret_ref: SecretKeySelector | None = None
    """A Secret holding a bundle of PEM CAs to verify the server's chain over HTTPS. Mutually
    exclusive with `caBundle`."""


class VenafiCloud(Model):
    """CyberArk Certificate Manager SaaS (formerly Venafi Cloud) settings."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("apiTokenSecretRef",)

    url: str | None = None
    """The base URL of the service. Defaults to "https://api.venafi.cloud/"."""
    api_token_secret_ref: SecretKeySelector | None = None
    """A Secret holding the API token."""


class VenafiNGTS(Model):
    """Next-generation trust service settings."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("credentialsRef", "tsgID")

    url: str | None = None
    """The base URL of the service."""
    token_endpoint: str | None = None
    """The OAuth token endpoint used to obtain access tokens."""
    tsg_id: str | None = Field(default=None, alias="tsgID")
    """The tenant service group ID."""
    credentials_ref: LocalObjectReference | None = None
    """A Secret holding the client credentials."""


class VenafiIssuer(Model):
    """Signs certificates with a CyberArk Certificate Manager (Venafi) policy zone; exactly one
    of `tpp`, `cloud` or `ngts` is set."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("zone",)
    SCHEMA_RULES: ClassVar[tuple[tuple[str, str], ...]] = (
        (
            "(has(self.tpp) ? 1 : 0) + (has(self.cloud) ? 1 : 0) + (has(self.ngts) ? 1 : 0) == 1",
            "exactly one of tpp, cloud, or ngts must be configured",
        ),
    )

    zone: str | None = None
    """The policy zone that every request through this issuer is restricted by."""
    tpp: VenafiTPP | None = None
    """Self-Hosted (TPP) settings."""
    cloud: VenafiCloud | None = None
    """SaaS (Cloud) settings."""
    ngts: VenafiNGTS | None = None
    """Next-generation trust service settings."""


# --- Issuer -------------------------------------------------------------------------------


class IssuerSpec(Model):
    """The configuration of an issuer; exactly one issuer type is set."""

    acme: ACMEIssuer | None = None
    """Obtains certificates from an RFC 8555 (ACME) server, such as Let's Encrypt."""
    ca: CAIssuer | None = None
    """Signs certificates with a CA key pair stored in a Secret, for internal PKIs."""
    vault: VaultIssuer | None = None
    """Signs certificates with a HashiCorp Vault PKI backend."""
    self_signed: SelfSignedIssuer | None = None
    """Self-signs certificates with the private key of each CertificateRequest."""
    venafi: VenafiIssuer | None = None
    """Signs certificates with a CyberArk Certificate Manager (Venafi) policy zone."""


class IssuerStatus(Model):
    """The observed state of an issuer, set and managed by the controller."""

    conditions: list[Condition] | None = Field(default=None, json_schema_extra=CONDITIONS_LIST)
    """List of status conditions to indicate the status of the issuer. Known condition types
    are `Ready`."""
    acme: ACMEIssuerStatus | None = None
    """ACME-specific status, set only for ACME issuers."""


class Issuer(Resource):
    """An Issuer represents a certificate issuing authority which can be referenced as part
    of `issuerRef` fields. It is scoped to a single namespace and can therefore only be
    referenced by resources within the same namespace."""

    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "Issuer"
    PLURAL: ClassVar[str] = "issuers"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("iss",)
    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("spec",)

    spec: IssuerSpec = Field(default_factory=IssuerSpec)
    """Desired state of the issuer."""
    status: IssuerStatus | None = None
    """Status of the issuer. This is set and managed automatically."""


class ClusterIssuer(Issuer):
    """A ClusterIssuer represents a certificate issuing authority which can be referenced as
    part of `issuerRef` fields. It is similar to an Issuer, however it is cluster-scoped and
    therefore can be referenced by resources that exist in *any* namespace, not just the
    same namespace as the referent."""

    KIND: ClassVar[str] = "ClusterIssuer"
    PLURAL: ClassVar[str] = "clusterissuers"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ciss",)
    NAMESPACED: ClassVar[bool] = False


AnyIssuer = Issuer  # ClusterIssuer is a subclass
