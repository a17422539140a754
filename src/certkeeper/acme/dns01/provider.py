"""The DNS-01 provider interface and a registry keyed by the solver's field name
(``rfc2136``, ``route53``, ``cloudflare``, ``webhook`` ...).

A provider is a module of its own that registers a factory; the solver never names one.
Built-in providers are imported on first use only, so a daemon that solves HTTP-01 never
loads boto3 or dns-lexicon (start-up time and memory are measured).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SecretGetter = Callable[[str, str], bytes]
"""``(secret name, key) -> value``: reads a referenced Secret in the resource namespace."""

SecretDataGetter = Callable[[str], Mapping[str, bytes]]
"""``secret name -> all its keys``: for providers whose credentials are a whole Secret."""


class DNS01Error(Exception):
    """Presenting or cleaning up a record failed; the message is shown in status reasons."""


class DNS01Unsupported(DNS01Error):
    """The solver block names something certkeeper cannot drive (an external webhook
    server); the Challenge waits with this message instead of failing."""


def _no_secret_data(name: str) -> Mapping[str, bytes]:
    raise DNS01Error(f'secret "{name}" cannot be read here')


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may use besides its own block.

    ``ambient_credentials``: whether credentials from the daemon's environment (AWS
    variables, instance roles ...) may be used when the block names none; cert-manager
    allows this for ClusterIssuers and refuses it for Issuers."""

    get_secret: SecretGetter
    get_secret_data: SecretDataGetter = field(default=_no_secret_data)
    namespace: str = ""
    ambient_credentials: bool = False


@runtime_checkable
class DNS01Provider(Protocol):
    """Creates and removes the ``_acme-challenge`` TXT record.

    ``fqdn`` and ``zone`` are absolute (trailing dot); ``zone`` is the zone found by SOA
    discovery. Both calls must be idempotent: the controller may repeat them, and must
    leave other values at the same name alone (a wildcard and its base name share one)."""

    def present(self, fqdn: str, zone: str, value: str) -> None: ...

    def cleanup(self, fqdn: str, zone: str, value: str) -> None: ...


@runtime_checkable
class ChangeTracking(Protocol):
    """Optional: providers whose API says when a change is live (Route 53 ``GetChange``
    INSYNC). The solver asks before its DNS propagation check instead of blocking in
    ``present``."""

    def pending_reason(self, fqdn: str, zone: str, value: str) -> str | None: ...


ProviderFactory = Callable[[Mapping[str, Any], ProviderContext], DNS01Provider]
"""Builds a provider from the solver's provider block (camelCase keys, as in the manifest)."""

_REGISTRY: dict[str, ProviderFactory] = {}

BUILTIN_MODULES: dict[str, str] = {
    "rfc2136": "certkeeper.acme.dns01.rfc2136",
    "route53": "certkeeper.acme.dns01.route53",
    "cloudflare": "certkeeper.acme.dns01.cloudflare",
    "cloudDNS": "certkeeper.acme.dns01.clouddns",
    "azureDNS": "certkeeper.acme.dns01.azuredns",
    "digitalocean": "certkeeper.acme.dns01.digitalocean",
    "akamai": "certkeeper.acme.dns01.akamai",
    "acmeDNS": "certkeeper.acme.dns01.acmedns",
    "webhook": "certkeeper.acme.dns01.webhook",
}
"""Solver field -> the module that registers it, imported the first time it is needed."""


def register_provider(field_name: str, factory: ProviderFactory) -> None:
    """Register (or replace) the factory for the ``dns01.<field_name>`` solver block."""
    _REGISTRY[field_name] = factory


def get_provider_factory(field_name: str) -> ProviderFactory:
    if field_name not in _REGISTRY and field_name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[field_name])
    try:
        return _REGISTRY[field_name]
    except KeyError:
        raise DNS01Error(f"no DNS01 provider registered for {field_name!r}") from None


def provider_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(BUILTIN_MODULES))


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


def build_provider(
    field_name: str, config: Any, context: ProviderContext | SecretGetter
) -> DNS01Provider:
    """Provider for a solver block; a bare secret getter is accepted for simple callers."""
    if not isinstance(context, ProviderContext):
        context = ProviderContext(get_secret=context)
    return get_provider_factory(field_name)(config_mapping(config), context)


# ----------------------------------------------------------------- helpers for providers


def secret_ref(config: Mapping[str, Any], field_name: str) -> tuple[str, str] | None:
    """``(name, key)`` of a SecretKeySelector field, None when the field is unset."""
    ref = config.get(field_name)
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    return str(ref["name"]), str(ref.get("key") or "")


def read_secret(
    context: ProviderContext, provider: str, config: Mapping[str, Any], field_name: str, *, required: bool = True
) -> str | None:
    """The text of the Secret key a ``...SecretRef`` field names; a missing field, Secret
    or key is an error naming the field."""
    ref = secret_ref(config, field_name)
    if ref is None:
        if required:
            raise DNS01Error(f"{provider}: {field_name} is required")
        return None
    name, key = ref
    if not key:
        raise DNS01Error(f"{provider}: {field_name}.key is required")
    try:
        value = context.get_secret(name, key)
    except DNS01Error as e:
        raise DNS01Error(f"{provider}: {field_name}: {e}") from e
    text = value.decode("utf-8", "replace").strip()
    if not text:
        raise DNS01Error(f'{provider}: {field_name}: key "{key}" of secret "{name}" is empty')
    return text


def require(config: Mapping[str, Any], provider: str, field_name: str) -> str:
    value = config.get(field_name)
    if not value:
        raise DNS01Error(f"{provider}: {field_name} is required")
    return str(value)


def unfqdn(name: str) -> str:
    return name[:-1] if name.endswith(".") else name
