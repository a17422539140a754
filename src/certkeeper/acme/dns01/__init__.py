"""DNS-01: provider interface and registry (each provider a module of its own, imported
on first use), zone discovery and propagation checks (spec §4.6)."""

from certkeeper.acme.dns01.provider import (
    ChangeTracking,
    DNS01Error,
    DNS01Provider,
    DNS01Unsupported,
    ProviderContext,
    build_provider,
    get_provider_factory,
    provider_names,
    register_provider,
)

__all__ = [
    "ChangeTracking",
    "DNS01Error",
    "DNS01Provider",
    "DNS01Unsupported",
    "ProviderContext",
    "build_provider",
    "get_provider_factory",
    "provider_names",
    "register_provider",
]
