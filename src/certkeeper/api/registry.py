"""Kinds certkeeper knows, looked up by kind, plural, singular or short name (kubectl's way).

The names are kept here beside the module of each kind, so that resolving what a user typed
imports only that kind's models: building every pydantic model of the API costs a
command-line call more than the rest of its work (``tests/test_cli_startup.py`` checks the
names against the classes).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..api.meta import Resource


@dataclasses.dataclass(frozen=True)
class KindName:
    """What kubectl matches a typed name against, and where the class is."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    api_version: str
    module: str
    namespaced: bool = True
    #: it has ``[]byte`` fields (``api.bytefield.ByteField``), which a row written by an
    #: older version may hold as raw PEM: its models read that back as base64
    byte_fields: bool = False

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def qualified(self) -> str:
        """``certificate.cert-manager.io``: how kubectl names the kind in results
        (as ``cli.state.qualified`` names a class)."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()

    @property
    def resource(self) -> str:
        """``certificates.cert-manager.io``: how the API server names it in its messages
        (as ``store.sqlite.resource_name``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> str:
        """The stored kind, as ``store.sqlite.kind_key`` makes it from the class."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def names(self) -> set[str]:
        return {self.kind.lower(), self.plural, *self.short_names}

    def load(self) -> type[Resource]:
        if not self.module:  # a kind given to ``register``
            return next(c for c in _registered if (self.kind, self.api_version) == (c.KIND, c.API_VERSION))
        cls: type[Resource] = getattr(importlib.import_module(self.module, __package__), self.kind)
        return cls


_CM = "cert-manager.io/v1"
#: the kinds the store holds, in lookup order
NAMES: tuple[KindName, ...] = (
    KindName("Certificate", "certificates", ("cert", "certs"), _CM, ".certificate"),
    KindName("CertificateRequest", "certificaterequests", ("cr", "crs"), _CM, ".certificate", byte_fields=True),
    KindName("Issuer", "issuers", ("iss",), _CM, ".issuer"),
    KindName("ClusterIssuer", "clusterissuers", ("ciss",), _CM, ".issuer", namespaced=False),
    KindName("Secret", "secrets", (), "v1", ".core"),
    KindName("Namespace", "namespaces", ("ns",), "v1", ".core", namespaced=False),
    KindName("Order", "orders", (), "acme.cert-manager.io/v1", ".acme", byte_fields=True),
    KindName("Challenge", "challenges", (), "acme.cert-manager.io/v1", ".acme"),
    KindName("Event", "events", ("ev",), "v1", ".event"),
)
#: kinds of other APIs that only the Kubernetes backend watches (the shims' input and the
#: HTTP-01 solver's objects); ``apply`` on a host skips them and SQLite never holds them
CLUSTER_NAMES: tuple[KindName, ...] = (
    KindName("Ingress", "ingresses", ("ing",), "networking.k8s.io/v1", ".cluster"),
    KindName("Gateway", "gateways", ("gtw",), "gateway.networking.k8s.io/v1", ".cluster"),
    KindName("HTTPRoute", "httproutes", (), "gateway.networking.k8s.io/v1", ".cluster"),
    KindName("Pod", "pods", ("po",), "v1", ".cluster"),
    KindName("Service", "services", ("svc",), "v1", ".cluster"),
)

#: the classes of NAMES (and of ``register``), and of CLUSTER_NAMES: imported on first use
KINDS: list[type[Resource]]
CLUSTER_KINDS: list[type[Resource]]

#: kinds added by ``register`` (none in certkeeper itself), after the known ones
_registered: list[type[Resource]] = []


def __getattr__(name: str) -> Any:
    """``KINDS`` and ``CLUSTER_KINDS``, the classes, are imported when first asked for."""
    if name == "KINDS":
        kinds = [k.load() for k in NAMES] + _registered
        globals()["KINDS"] = kinds
        return kinds
    if name == "CLUSTER_KINDS":
        cluster = [k.load() for k in CLUSTER_NAMES]
        globals()["CLUSTER_KINDS"] = cluster
        return cluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(cls: type[Resource]) -> None:
    kinds: list[type[Resource]] = globals()["KINDS"] if "KINDS" in globals() else __getattr__("KINDS")
    if cls not in kinds:
        kinds.append(cls)
        _registered.append(cls)


def by_kind(kind: str) -> type[Resource] | None:
    for k in NAMES:
        if kind == k.kind:
            return k.load()
    return next((cls for cls in _registered if kind == cls.KIND), None)


def by_api_version_kind(api_version: str, kind: str) -> type[Resource] | None:
    for k in NAMES:
        if kind == k.kind and api_version == k.api_version:
            return k.load()
    return next((cls for cls in _registered if kind == cls.KIND and api_version == cls.API_VERSION), None)


def find(name: str) -> KindName | None:
    """Resolve what a user typed: ``cert``, ``certificates``, ``Certificate``,
    ``certificates.cert-manager.io`` ... without importing the kind's models."""
    base, _, group = name.lower().partition(".")
    for k in (*NAMES, *(_name_of(cls) for cls in _registered)):
        if base in k.names() and (not group or group == k.group):
            return k
    return None


def lookup(name: str) -> type[Resource] | None:
    """The class of what a user typed (see ``find``)."""
    k = find(name)
    return None if k is None else k.load()


def _name_of(cls: type[Resource]) -> KindName:
    return KindName(cls.KIND, cls.PLURAL, cls.SHORT_NAMES, cls.API_VERSION, "", cls.NAMESPACED, byte_fields=True)
