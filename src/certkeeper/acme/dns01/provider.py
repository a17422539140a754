"""The DNS-01 provider interface and a registry keyed by the solver's field name
(``rfc2136``, ``cloudflare``, ``webhook`` ...), so a new provider plugs in by registering a
factory; controllers look the factory up by the field set in the Issuer's ``dns01`` block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

SecretGetter = Callable[[str, str], bytes]
"""``(secret name, key) -> value``: reads a referenced Secret in the resource namespace."""


class DNS01Error(Exception):
    """Presenting or cleaning up a record failed; the message is shown in status reasons."""


@runtime_checkable
class DNS01Provider(Protocol):
    """Creates and removes the ``_acme-challenge`` TXT record.

    ``fqdn`` and ``zone`` are absolute (trailing dot); ``zone`` is the zone found by SOA
    discovery. Both calls must be idempotent: the controller may repeat them."""

    def present(self, fqdn: str, zone: str, value: str) -> None: ...

    def cleanup(self, fqdn: str, zone: str, value: str) -> None: ...


ProviderFactory = Callable[[Mapping[str, Any], SecretGetter], DNS01Provider]
"""Builds a provider from the solver's provider block (camelCase keys, as in the manifest)."""

_REGISTRY: dict[str, ProviderFactory] = {}


def register_provider(field_name: str, factory: ProviderFactory) -> None:
    """Register (or replace) the factory for the ``dns01.<field_name>`` solver block."""
    _REGISTRY[field_name] = factory


def get_provider_factory(field_name: str) -> ProviderFactory:
    try:
        return _REGISTRY[field_name]
    except KeyError:
        raise DNS01Error(f"no DNS01 provider registered for {field_name!r}") from None


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def config_mapping(config: Any) -> Mapping[str, Any]:
    """Accept an API model (pydantic, camelCase aliases) or a plain mapping."""
    if isinstance(config, Mapping):
        return config
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        result = dump(by_alias=True, exclude_none=True)
        if isinstance(result, Mapping):
            return result
    raise TypeError(f"cannot read provider config of type {type(config).__name__}")


def build_provider(field_name: str, config: Any, get_secret: SecretGetter) -> DNS01Provider:
    """Provider for a solver block (built-ins are registered by the package import)."""
    return get_provider_factory(field_name)(config_mapping(config), get_secret)
