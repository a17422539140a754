"""The certificate shims: Certificates from annotated Ingresses and Gateways (spec §2.9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...runtime.controller import Context, Controller
from .controller import GatewayShimController, IngressShimController
from .desired import ShimSettings

if TYPE_CHECKING:
    from ...daemon import DaemonOptions


def settings(opts: DaemonOptions) -> ShimSettings:
    return ShimSettings(
        default_issuer_name=opts.default_issuer_name,
        default_issuer_kind=opts.default_issuer_kind,
        default_issuer_group=opts.default_issuer_group,
        auto_certificate_annotations=tuple(opts.auto_certificate_annotations),
        extra_certificate_annotations=tuple(opts.extra_certificate_annotations),
        gateway_extra_protocols=tuple(opts.gateway_api_extra_protocols),
    )


def factories(opts: DaemonOptions) -> list[Callable[[Context], Controller]]:
    """The shims the options turn on: the ingress-shim where Ingresses are kept (a
    cluster), the gateway-shim with --enable-gateway-api."""
    s = settings(opts)
    out: list[Callable[[Context], Controller]] = []
    if opts.ingress_shim:
        out.append(lambda ctx: IngressShimController(ctx, s))
    if opts.enable_gateway_api:
        out.append(lambda ctx: GatewayShimController(ctx, s))
    return out


__all__ = ["GatewayShimController", "IngressShimController", "ShimSettings", "factories", "settings"]
