"""Kinds of other APIs that certkeeper reads or writes only on a Kubernetes cluster:
Ingresses and Gateways (the shims' input), and the solver's Pods, Services, Ingresses and
HTTPRoutes (HTTP-01 answered in the cluster).

They are kept as loose dictionaries under ``spec`` and ``status``: certkeeper reads a few
members (``spec.tls``, a listener's ``certificateRefs``) and writes objects it builds, and
must round-trip every field another controller or a newer API version set without
knowing it. They are not in ``registry.KINDS``: ``certkeeper apply`` on a host skips them
(no controller there acts on them), the SQLite store never holds them.
"""

from typing import Any, ClassVar

from .meta import Resource


class _Loose(Resource):
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


class Ingress(_Loose):
    API_VERSION: ClassVar[str] = "networking.k8s.io/v1"
    KIND: ClassVar[str] = "Ingress"
    PLURAL: ClassVar[str] = "ingresses"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ing",)


class Gateway(_Loose):
    API_VERSION: ClassVar[str] = "gateway.networking.k8s.io/v1"
    KIND: ClassVar[str] = "Gateway"
    PLURAL: ClassVar[str] = "gateways"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("gtw",)


class HTTPRoute(_Loose):
    API_VERSION: ClassVar[str] = "gateway.networking.k8s.io/v1"
    KIND: ClassVar[str] = "HTTPRoute"
    PLURAL: ClassVar[str] = "httproutes"


class Pod(_Loose):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Pod"
    PLURAL: ClassVar[str] = "pods"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("po",)


class Service(_Loose):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Service"
    PLURAL: ClassVar[str] = "services"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("svc",)
