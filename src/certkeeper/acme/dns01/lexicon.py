"""dns-lexicon's providers behind ``dns01.webhook`` with ``groupName: lexicon.certkeeper.io``.

``config`` (the webhook's free-form JSON) holds::

    options:               # the provider's lexicon options that are not secret
      pdns_server: http://127.0.0.1:8081
    secretRefs:            # options read from Secrets in the resource namespace
      auth_token: {name: pdns-api, key: api-key}
    credentialsSecretRef:  # or: every key of one Secret is an option
      name: pdns-api
    ttl: 60

Credentials never sit in the spec: an ``options`` entry named like lexicon's credential
options (``auth_*``) is refused with the field that should hold it. Lexicon's own zone
guessing (public-suffix list, system resolver) is not used: the zone found by SOA discovery
is handed to the provider, so private zones and ``.test`` domains work.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, unfqdn

DEFAULT_TTL = 60
_QUERY = re.compile(r"\?[^\s'\")]+")
_ALLOWED = {"options", "secretRefs", "credentialsSecretRef", "ttl"}


def _option_name(name: str) -> str:
    return name.replace("-", "_")


def _is_credential(name: str) -> bool:
    return _option_name(name).startswith("auth_")


class LexiconProvider:
    """One lexicon provider module and the options resolved from the spec and Secrets."""

    def __init__(self, name: str, options: Mapping[str, str], ttl: int, secret_options: frozenset[str]) -> None:
        self.name = name
        self.options = dict(options)
        self.secret_options = secret_options
        self.ttl = ttl
        try:
            self.module = importlib.import_module(f"lexicon._private.providers.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(f".{name}"):
                raise DNS01Error(f'lexicon: dns-lexicon has no provider "{name}"') from e
            raise DNS01Error(
                f'lexicon: provider "{name}" needs the Python package "{e.name}" (pip install "dns-lexicon[{name}]")'
            ) from e

    def _operations(self, zone: str) -> Any:
        from lexicon.config import ConfigResolver  # noqa: PLC0415

        config = ConfigResolver().with_dict({  # type: ignore[no-untyped-call]
            "provider_name": self.name, "domain": unfqdn(zone), "ttl": self.ttl, self.name: self.options,
        })
        provider = self.module.Provider(config)
        self._run("authenticate", provider.authenticate)
        return provider

    def _run(self, action: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except DNS01Error:
            raise
        except Exception as e:  # lexicon providers raise anything from requests to their own types
            raise DNS01Error(self._redact(f"lexicon {self.name}: {action}: {_describe(e)}")) from None

    def _redact(self, message: str) -> str:
        """The reason goes into the Challenge's status: no credential may reach it, even
        where a provider puts one in a URL's query or the server echoes it."""
        message = _QUERY.sub("?...", message)
        for name in self.secret_options:
            secret = self.options.get(name)
            if secret and len(secret) >= 4:
                message = message.replace(secret, "***")
        return message

    def _has(self, provider: Any, fqdn: str, value: str) -> bool:
        records = self._run("list TXT records", provider.list_records, "TXT", unfqdn(fqdn), None)
        return any(str(r.get("content", "")).strip('"') == value for r in records or [])

    def present(self, fqdn: str, zone: str, value: str) -> None:
        """Idempotent whatever the provider does with a second identical create."""
        provider = self._operations(zone)
        if not self._has(provider, fqdn, value):
            self._run("create TXT record", provider.create_record, "TXT", unfqdn(fqdn), value)

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        """Idempotent: several providers raise when asked to delete what is already gone."""
        provider = self._operations(zone)
        if self._has(provider, fqdn, value):
            self._run("delete TXT record", provider.delete_record, None, "TXT", unfqdn(fqdn), value)


def _describe(e: Exception) -> str:
    """The HTTP status and the server's words where the error carries a response."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        body = (getattr(response, "text", "") or "").strip().replace("\n", " ")[:300]
        return f"HTTP {status}" + (f": {body}" if body else "")
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _secret_ref(value: Any, path: str) -> tuple[str, str]:
    if not isinstance(value, Mapping) or not value.get("name"):
        raise DNS01Error(f"lexicon: {path}.name is required")
    return str(value["name"]), str(value.get("key") or "")


def from_webhook(solver: str, config: Any, context: ProviderContext) -> LexiconProvider:
    if not solver:
        raise DNS01Error("lexicon: webhook.solverName (the dns-lexicon provider) is required")
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise DNS01Error("lexicon: webhook.config must be an object")
    unknown = sorted(set(config) - _ALLOWED)
    if unknown:
        raise DNS01Error(
            f"lexicon: webhook.config.{unknown[0]}: unknown field (expected {', '.join(sorted(_ALLOWED))})"
        )
    options: dict[str, str] = {}
    secret_names: set[str] = set()
    inline = config.get("options") or {}
    if not isinstance(inline, Mapping):
        raise DNS01Error("lexicon: webhook.config.options must be an object")
    for name, value in inline.items():
        if _is_credential(str(name)):
            raise DNS01Error(
                f"lexicon: webhook.config.options.{name}: credentials are not accepted in the spec; "
                f"name a Secret in webhook.config.secretRefs.{name}"
            )
        options[_option_name(str(name))] = str(value)
    whole = config.get("credentialsSecretRef")
    if whole is not None:
        name, _ = _secret_ref(whole, "webhook.config.credentialsSecretRef")
        try:
            data = context.get_secret_data(name)
        except DNS01Error as e:
            raise DNS01Error(f"lexicon: webhook.config.credentialsSecretRef: {e}") from e
        for key, value in data.items():
            options[_option_name(key)] = value.decode("utf-8", "replace").strip()
            secret_names.add(_option_name(key))
    refs = config.get("secretRefs") or {}
    if not isinstance(refs, Mapping):
        raise DNS01Error("lexicon: webhook.config.secretRefs must be an object")
    for option, ref in refs.items():
        path = f"webhook.config.secretRefs.{option}"
        name, key = _secret_ref(ref, path)
        if not key:
            raise DNS01Error(f"lexicon: {path}.key is required")
        try:
            value = context.get_secret(name, key).decode("utf-8", "replace").strip()
        except DNS01Error as e:
            raise DNS01Error(f"lexicon: {path}: {e}") from e
        options[_option_name(str(option))] = value
        secret_names.add(_option_name(str(option)))
    try:
        ttl = int(config.get("ttl") or DEFAULT_TTL)
    except (TypeError, ValueError):
        raise DNS01Error(f"lexicon: webhook.config.ttl: not a number: {config.get('ttl')!r}") from None
    try:
        import lexicon  # noqa: F401, PLC0415
    except ImportError as e:
        raise DNS01Error("lexicon: dns-lexicon is not installed (pip install 'certkeeper[lexicon]')") from e
    return LexiconProvider(solver, options, ttl, frozenset(secret_names))
