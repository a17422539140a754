"""Issuer / ClusterIssuer checklist (spec §1.9; validation/issuer.go), CA, Vault and Venafi.

The ACME part is large enough to have its own module, :mod:`.acmeissuer`.
"""

from __future__ import annotations

from ..common import SecretKeySelector
from ..issuer import CAIssuer, Issuer, IssuerSpec, VaultAuth, VaultIssuer, VenafiIssuer
from .acmeissuer import validate_acme_issuer
from .common import ca_bundle_error, validate_byte_format
from .errors import FieldError, child, forbidden, index, invalid, required

SNIP = "<snip>"
VENAFI_CEL_MESSAGE = "exactly one of tpp, cloud, or ngts must be configured"


def validate_issuer(iss: Issuer) -> list[FieldError]:
    """Same rules for Issuer and ClusterIssuer, on create and update."""
    return validate_issuer_spec(iss.spec, "spec")


def validate_issuer_spec(spec: IssuerSpec, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    configured = 0
    for name, cfg in (
        ("acme", spec.acme),
        ("ca", spec.ca),
        ("selfSigned", spec.self_signed),
        ("vault", spec.vault),
        ("venafi", spec.venafi),
    ):
        if cfg is None:
            continue
        p = child(path, name)
        if configured > 0:
            el.append(forbidden(p, "may not specify more than one issuer type"))
            continue
        configured += 1
        if spec.acme is not None and name == "acme":
            el += validate_acme_issuer(spec.acme, p)
        elif spec.ca is not None and name == "ca":
            el += validate_ca_issuer(spec.ca, p)
        elif spec.vault is not None and name == "vault":
            el += validate_vault_issuer(spec.vault, p)
        elif spec.venafi is not None and name == "venafi":
            el += validate_venafi_issuer(spec.venafi, p)
    if configured == 0:
        el.append(required(path, "at least one issuer must be configured"))
    return el


# --- CA -----------------------------------------------------------------------------------


def validate_ca_issuer(ca: CAIssuer, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    if not ca.secret_name:
        el.append(required(child(path, "secretName"), ""))
    for i, url in enumerate(ca.ocsp_servers or []):
        if not url:
            el.append(
                invalid(
                    # cert-manager's path says "ocspServer" (singular); kept for identical output
                    index(child(path, "ocspServer"), i),
                    url,
                    "must be a valid URL, e.g., http://ocsp.int-x3.letsencrypt.org",
                )
            )
    for i, url in enumerate(ca.issuing_certificate_urls or []):
        if not url:
            el.append(invalid(index(child(path, "issuingCertificateURLs"), i), url, "must be a valid URL"))
    return el


# --- Vault --------------------------------------------------------------------------------

DOTDOT_MESSAGE = "must not contain '..' path segments"


def _dotdot(value: str | None) -> bool:
    """Only a literal ``..`` segment: stricter cleaning would break working Issuers."""
    return value is not None and ".." in value.split("/")


def validate_vault_issuer(v: VaultIssuer, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    if not v.server:
        el.append(required(child(path, "server"), ""))
    if not v.path:
        el.append(required(child(path, "path"), ""))
    elif _dotdot(v.path):
        el.append(invalid(child(path, "path"), v.path, DOTDOT_MESSAGE))
    el += validate_byte_format(v.ca_bundle, child(path, "caBundle"))
    # bundles and key references are shown as "<snip>": echoing them would not help
    if v.ca_bundle:
        err = ca_bundle_error(v.ca_bundle)
        if err:
            el.append(invalid(child(path, "caBundle"), SNIP, err))
    if v.ca_bundle and v.ca_bundle_secret_ref is not None:
        el.append(
            invalid(
                child(path, "caBundle"),
                SNIP,
                "specified caBundle and caBundleSecretRef cannot be used together",
            )
        )
        el.append(
            invalid(
                child(path, "caBundleSecretRef"),
                v.ca_bundle_secret_ref.name or "",
                "specified caBundleSecretRef and caBundle cannot be used together",
            )
        )
    if v.client_cert_secret_ref is not None and v.client_key_secret_ref is None:
        el.append(
            invalid(
                child(path, "clientKeySecretRef"),
                SNIP,
                "clientKeySecretRef must be provided when defining the clientCertSecretRef",
            )
        )
    elif v.client_cert_secret_ref is None and v.client_key_secret_ref is not None:
        el.append(
            invalid(
                child(path, "clientCertSecretRef"),
                SNIP,
                "clientCertSecretRef must be provided when defining the clientKeySecretRef",
            )
        )
    el += validate_vault_auth(v.auth or VaultAuth(), child(path, "auth"))
    return el


def validate_vault_auth(auth: VaultAuth, path: str) -> list[FieldError]:
    """At least one method; more than one is caught later by Setup (issuer not Ready).

    Some paths name the Go field (``path``) rather than the JSON one (``mountPath``);
    that is cert-manager's output and is kept identical.
    """
    el: list[FieldError] = []
    count = 0
    if auth.token_secret_ref is not None:
        count += 1
    if auth.app_role is not None:
        count += 1
        ar = auth.app_role
        if not ar.role_id:
            el.append(required(child(path, "appRole", "roleId"), ""))
        if not (ar.secret_ref or SecretKeySelector()).name:
            el.append(required(child(path, "appRole", "secretRef", "name"), ""))
        if _dotdot(ar.path):
            el.append(invalid(child(path, "appRole", "path"), ar.path, DOTDOT_MESSAGE))
    if auth.client_certificate is not None:
        count += 1
        cc = auth.client_certificate
        if _dotdot(cc.mount_path):
            el.append(invalid(child(path, "clientCertificate", "path"), cc.mount_path, DOTDOT_MESSAGE))
    if auth.kubernetes is not None:
        count += 1
        k = auth.kubernetes
        kp = child(path, "kubernetes")
        if not k.role:
            el.append(required(child(kp, "role"), ""))
        if _dotdot(k.mount_path):
            el.append(invalid(child(kp, "path"), k.mount_path, DOTDOT_MESSAGE))
        sources = 0
        if k.secret_ref is not None and k.secret_ref.name:
            sources += 1
        if k.service_account_ref is not None:
            sources += 1
            if not k.service_account_ref.name:
                el.append(required(child(kp, "serviceAccountRef", "name"), ""))
        if sources == 0:
            el.append(required(kp, "please supply one of: secretRef, serviceAccountRef"))
        elif sources > 1:
            el.append(forbidden(kp, "please supply one of: secretRef, serviceAccountRef"))
    if auth.aws is not None:
        count += 1
        a = auth.aws
        ap = child(path, "aws")
        if not a.role:
            el.append(required(child(ap, "role"), ""))
        if _dotdot(a.mount_path):
            el.append(invalid(child(ap, "mountPath"), a.mount_path, DOTDOT_MESSAGE))
        if a.service_account_ref is not None:
            if not a.service_account_ref.name:
                el.append(required(child(ap, "serviceAccountRef", "name"), ""))
            if not a.iam_role_arn:
                el.append(
                    required(
                        child(ap, "iamRoleArn"),
                        "iamRoleArn is required when using serviceAccountRef for IRSA",
                    )
                )
    if count == 0:
        el.append(
            required(
                path, "please supply one of: appRole, kubernetes, tokenSecretRef, clientCertificate, aws"
            )
        )
    return el


# --- Venafi -------------------------------------------------------------------------------


def validate_venafi_issuer(v: VenafiIssuer, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    if not v.zone:
        el.append(required(child(path, "zone"), ""))
    configured = [x for x in (v.tpp, v.cloud, v.ngts) if x is not None]
    if len(configured) != 1:
        # the CRD's CEL rule (the only one in the API) refuses this before the webhook runs
        el.append(invalid(path, "object", VENAFI_CEL_MESSAGE))
    if v.tpp is not None:
        tp = child(path, "tpp")
        if not v.tpp.url:
            el.append(required(child(tp, "url"), ""))
        el += validate_byte_format(v.tpp.ca_bundle, child(tp, "caBundle"))
        if v.tpp.ca_bundle and v.tpp.ca_bundle_secret_ref is not None:
            el.append(
                forbidden(tp, "may not specify more than one of caBundle/caBundleSecretRef as TPP CA Bundle")
            )
    if v.ngts is not None:
        np_ = child(path, "ngts")
        if not v.ngts.tsg_id:
            el.append(required(child(np_, "tsgID"), ""))
        if v.ngts.credentials_ref is None or not v.ngts.credentials_ref.name:
            el.append(required(child(np_, "credentialsRef", "name"), ""))
    return el
