"""DNS-01: provider interface and registry, RFC 2136 provider, zone discovery and
propagation checks (spec §4.6)."""

from certkeeper.acme.dns01 import rfc2136 as _rfc2136  # noqa: F401  (registers "rfc2136")
from certkeeper.acme.dns01.provider import (
    DNS01Error,
    DNS01Provider,
    build_provider,
    get_provider_factory,
    provider_names,
    register_provider,
)

__all__ = [
    "DNS01Error",
    "DNS01Provider",
    "build_provider",
    "get_provider_factory",
    "provider_names",
    "register_provider",
]
