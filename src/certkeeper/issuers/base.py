"""What an issuer type provides: readiness of its Issuer, and signing of a request.

Signers are looked up by the issuer spec field that is set (``selfSigned``, ``ca``,
``acme`` ...), so an issuer type plugs in without touching the controllers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from ..api.acme import ACMEIssuerStatus
from ..api.certificate import CertificateRequest
from ..api.issuer import Issuer
from ..runtime.controller import Context


@dataclasses.dataclass
class Issued:
    certificate: bytes
    ca: bytes = b""


@dataclasses.dataclass
class Pending:
    """Not signed yet; ``event_reason`` goes to the event, the condition says Pending."""

    event_reason: str
    message: str


@dataclasses.dataclass
class Failed:
    event_reason: str
    message: str


SignOutcome = Issued | Pending | Failed


@dataclasses.dataclass
class IssuerReadiness:
    ready: bool
    reason: str
    message: str
    #: ACME account state to store in ``status.acme`` (None: leave it as it is)
    acme_status: ACMEIssuerStatus | None = None
    #: look again after this long (a server that was unreachable), None: wait for events
    requeue_after: dt.timedelta | None = None


class Signer(Protocol):
    issuer_type: str

    def setup(self, ctx: Context, issuer: Issuer) -> IssuerReadiness: ...

    def sign(self, ctx: Context, cr: CertificateRequest, issuer: Issuer) -> SignOutcome: ...


def issuer_type(issuer: Issuer) -> str | None:
    spec = issuer.spec
    for field, name in (
        ("acme", "acme"), ("ca", "ca"), ("vault", "vault"), ("self_signed", "selfSigned"), ("venafi", "venafi"),
    ):
        if getattr(spec, field, None) is not None:
            return name
    return None


def resource_namespace(ctx: Context, issuer: Issuer) -> str:
    """Where an issuer's Secrets live: its own namespace, or the cluster resource one."""
    if issuer.KIND == "ClusterIssuer":
        return ctx.options.cluster_resource_namespace
    return issuer.namespace or ""


def referenced_secrets(issuer: Issuer) -> set[str]:
    """Names of the Secrets an issuer's spec refers to (CA key pair, ACME account key,
    EAB key, DNS provider credentials ...), so that a Secret event wakes only its issuers."""
    names: set[str] = set()

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            if key.endswith("SecretRef") or key == "secretRef":
                name = node.get("name")
                if isinstance(name, str):
                    names.add(name)
            for k, v in node.items():
                if k in ("secretName", "secretRef") and isinstance(v, str):
                    names.add(v)
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    walk(issuer.spec.to_dict())
    return names
