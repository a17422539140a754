"""DigitalOcean (``dns01.digitalocean``) through its v2 REST API with ``requests``.

The token comes from ``tokenSecretRef``; the domain is the zone found by SOA. Present adds
one TXT record (none if the value is already there), CleanUp deletes the records holding
this value. The base URL can be moved with ``CERTKEEPER_DIGITALOCEAN_API_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.httpapi import call, endpoint, json_of
from certkeeper.acme.dns01.provider import ProviderContext, read_secret, register_provider, unfqdn

NAME = "digitalocean"
DEFAULT_URL = "https://api.digitalocean.com/v2"
TTL = 60


class DigitalOceanProvider:
    def __init__(self, token: str) -> None:
        self.base = endpoint("CERTKEEPER_DIGITALOCEAN_API_URL", DEFAULT_URL)
        self.headers = {"Authorization": f"Bearer {token}"}

    def _records(self, zone: str, fqdn: str, value: str) -> list[str]:
        response = call(NAME, "GET", f"{self.base}/domains/{unfqdn(zone)}/records", headers=self.headers,
                        params={"type": "TXT", "name": unfqdn(fqdn), "per_page": 200})
        records = json_of(NAME, response).get("domain_records") or []
        return [str(r["id"]) for r in records if r.get("data") == value]

    def present(self, fqdn: str, zone: str, value: str) -> None:
        if self._records(zone, fqdn, value):
            return
        relative = unfqdn(fqdn)[: -len(unfqdn(zone))].rstrip(".") or "@"
        call(NAME, "POST", f"{self.base}/domains/{unfqdn(zone)}/records", headers=self.headers,
             json={"type": "TXT", "name": relative, "data": value, "ttl": TTL})

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        for record in self._records(zone, fqdn, value):
            call(NAME, "DELETE", f"{self.base}/domains/{unfqdn(zone)}/records/{record}", headers=self.headers,
                 ok=(200, 204, 404))


def from_config(config: Mapping[str, Any], context: ProviderContext) -> DigitalOceanProvider:
    token = read_secret(context, NAME, config, "tokenSecretRef")
    assert token is not None
    return DigitalOceanProvider(token)


register_provider("digitalocean", from_config)
