"""Kinds certkeeper knows, looked up by kind, plural, singular or short name (kubectl's way)."""

from __future__ import annotations

from ..api.meta import Resource
from .acme import Challenge, Order
from .certificate import Certificate, CertificateRequest
from .cluster import Gateway, HTTPRoute, Ingress, Pod, Service
from .core import Namespace, Secret
from .event import Event
from .issuer import ClusterIssuer, Issuer

KINDS: list[type[Resource]] = [
    Certificate,
    CertificateRequest,
    Issuer,
    ClusterIssuer,
    Secret,
    Namespace,
    Order,
    Challenge,
    Event,
]

#: kinds of other APIs that only the Kubernetes backend watches (the shims' input and the
#: HTTP-01 solver's objects); ``apply`` on a host skips them and SQLite never holds them
CLUSTER_KINDS: list[type[Resource]] = [Ingress, Gateway, HTTPRoute, Pod, Service]


def register(cls: type[Resource]) -> None:
    if cls not in KINDS:
        KINDS.append(cls)


def by_kind(kind: str) -> type[Resource] | None:
    for cls in KINDS:
        if kind == cls.KIND:
            return cls
    return None


def by_api_version_kind(api_version: str, kind: str) -> type[Resource] | None:
    for cls in KINDS:
        if kind == cls.KIND and api_version == cls.API_VERSION:
            return cls
    return None


def lookup(name: str) -> type[Resource] | None:
    """Resolve what a user typed: ``cert``, ``certificates``, ``Certificate``,
    ``certificates.cert-manager.io`` ..."""
    n = name.lower()
    base, _, group = n.partition(".")
    for cls in KINDS:
        names = {cls.KIND.lower(), cls.PLURAL, *cls.SHORT_NAMES}
        cls_group = cls.API_VERSION.rpartition("/")[0]
        if base in names and (not group or group == cls_group):
            return cls
    return None
