"""Cloudflare (``dns01.cloudflare``) through its v4 REST API with ``requests``.

An API token (``apiTokenSecretRef``, preferred) or the global API key with the account
``email`` (``apiKeySecretRef``). The zone is the nearest Cloudflare zone for the record,
as cert-manager finds it; Present adds one TXT record (an identical one counts as done),
CleanUp deletes exactly the record holding this value. The base URL can be moved with
``CERTKEEPER_CLOUDFLARE_API_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.httpapi import call, endpoint, json_of
from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, read_secret, register_provider, unfqdn

NAME = "cloudflare"
DEFAULT_URL = "https://api.cloudflare.com/client/v4"
TTL = 120
DUPLICATE = 81058
"""Cloudflare's error code for "An identical record already exists"."""


class CloudflareProvider:
    def __init__(self, headers: Mapping[str, str]) -> None:
        self.base = endpoint("CERTKEEPER_CLOUDFLARE_API_URL", DEFAULT_URL)
        self.headers = dict(headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = call(NAME, method, f"{self.base}{path}", headers=self.headers, **kwargs)
        return json_of(NAME, response)

    def zone_id(self, fqdn: str, zone: str) -> str:
        """The nearest zone Cloudflare has: the SOA zone first, then its parents."""
        labels = unfqdn(zone).split(".")
        for i in range(len(labels) - 1):
            name = ".".join(labels[i:])
            found = self._call("GET", "/zones", params={"name": name})
            for entry in found.get("result") or []:
                if entry.get("name") == name:
                    return str(entry["id"])
        raise DNS01Error(f"{NAME}: no Cloudflare zone for {unfqdn(fqdn)} (looked for {unfqdn(zone)} and its parents)")

    def _records(self, zone_id: str, fqdn: str, value: str) -> list[str]:
        found = self._call("GET", f"/zones/{zone_id}/dns_records",
                           params={"type": "TXT", "name": unfqdn(fqdn), "content": value})
        return [str(r["id"]) for r in found.get("result") or [] if r.get("content") in (value, f'"{value}"')]

    def present(self, fqdn: str, zone: str, value: str) -> None:
        zone_id = self.zone_id(fqdn, zone)
        if self._records(zone_id, fqdn, value):
            return
        body = {"type": "TXT", "name": unfqdn(fqdn), "content": value, "ttl": TTL}
        response = call(NAME, "POST", f"{self.base}/zones/{zone_id}/dns_records", headers=self.headers, json=body,
                        ok=(200, 201, 400))
        if response.status_code == 400:
            errors = json_of(NAME, response).get("errors") or []
            if any(e.get("code") == DUPLICATE for e in errors):
                return
            raise DNS01Error(f"{NAME}: POST /zones/{zone_id}/dns_records: HTTP 400: "
                             + "; ".join(str(e.get("message")) for e in errors))

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        zone_id = self.zone_id(fqdn, zone)
        for record in self._records(zone_id, fqdn, value):
            call(NAME, "DELETE", f"{self.base}/zones/{zone_id}/dns_records/{record}", headers=self.headers,
                 ok=(200, 204, 404))


def from_config(config: Mapping[str, Any], context: ProviderContext) -> CloudflareProvider:
    has_key, has_token = config.get("apiKeySecretRef"), config.get("apiTokenSecretRef")
    if has_key and has_token:
        raise DNS01Error(f"{NAME}: apiKeySecretRef and apiTokenSecretRef are mutually exclusive")
    if has_token:
        token = read_secret(context, NAME, config, "apiTokenSecretRef")
        return CloudflareProvider({"Authorization": f"Bearer {token}"})
    if has_key:
        email = config.get("email")
        if not email:
            raise DNS01Error(f"{NAME}: email is required with apiKeySecretRef")
        key = read_secret(context, NAME, config, "apiKeySecretRef")
        return CloudflareProvider({"X-Auth-Email": str(email), "X-Auth-Key": str(key)})
    raise DNS01Error(f"{NAME}: apiTokenSecretRef or apiKeySecretRef is required")


register_provider("cloudflare", from_config)
