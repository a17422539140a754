"""Akamai Edge DNS (``dns01.akamai``) through its Edge DNS v2 API with ``requests``.

Requests are signed with Akamai's EdgeGrid scheme (EG1-HMAC-SHA256, as Akamai documents
it and its own libraries do) from ``clientTokenSecretRef``, ``clientSecretSecretRef`` and
``accessTokenSecretRef``, and sent to ``https://<serviceConsumerDomain>``. The TXT record
set at the name holds every value, so a wildcard and its base name coexist.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from certkeeper.acme.dns01.httpapi import call, json_of
from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, read_secret, register_provider, unfqdn

NAME = "akamai"
TTL = 60
MAX_BODY = 131072


def _b64_hmac(key: bytes, message: str) -> str:
    return base64.b64encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode()


class EdgeGridAuth(requests.auth.AuthBase):
    """The ``Authorization: EG1-HMAC-SHA256 ...`` header over method, URL and body."""

    def __init__(self, client_token: str, client_secret: str, access_token: str) -> None:
        self.client_token, self.client_secret, self.access_token = client_token, client_secret, access_token

    def header(self, method: str, url: str, body: bytes, timestamp: str, nonce: str) -> str:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = (f"EG1-HMAC-SHA256 client_token={self.client_token};access_token={self.access_token};"
                f"timestamp={timestamp};nonce={nonce};")
        content_hash = (
            base64.b64encode(hashlib.sha256(body[:MAX_BODY]).digest()).decode()
            if method.upper() == "POST" and body else ""
        )
        data = "\t".join([method.upper(), parts.scheme, parts.netloc.lower(), path, "", content_hash, base])
        signing_key = _b64_hmac(self.client_secret.encode(), timestamp)
        return f"{base}signature={_b64_hmac(signing_key.encode(), data)}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        timestamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H:%M:%S+0000")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers["Authorization"] = self.header(
            request.method or "GET", request.url or "", body, timestamp, str(uuid.uuid4())
        )
        return request


class AkamaiProvider:
    def __init__(self, host: str, auth: EdgeGridAuth) -> None:
        self.base = host if host.startswith(("https://", "http://")) else f"https://{host}"
        self.base = self.base.rstrip("/")
        self.auth = auth

    def _url(self, fqdn: str, zone: str) -> str:
        return f"{self.base}/config-dns/v2/zones/{unfqdn(zone)}/names/{unfqdn(fqdn)}/types/TXT"

    def _values(self, url: str) -> list[str] | None:
        response = call(NAME, "GET", url, auth=self.auth, ok=(200, 404))
        if response.status_code == 404:
            return None
        return [str(v).strip('"') for v in json_of(NAME, response).get("rdata") or []]

    def _write(self, method: str, url: str, fqdn: str, values: list[str]) -> None:
        body = json.dumps({"name": unfqdn(fqdn), "type": "TXT", "ttl": TTL, "rdata": [f'"{v}"' for v in values]})
        call(NAME, method, url, auth=self.auth, data=body.encode(), headers={"Content-Type": "application/json"})

    def present(self, fqdn: str, zone: str, value: str) -> None:
        url = self._url(fqdn, zone)
        values = self._values(url)
        if values is None:
            self._write("POST", url, fqdn, [value])
        elif value not in values:
            self._write("PUT", url, fqdn, [*values, value])

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        url = self._url(fqdn, zone)
        values = self._values(url)
        if not values or value not in values:
            return
        rest = [v for v in values if v != value]
        if rest:
            self._write("PUT", url, fqdn, rest)
        else:
            call(NAME, "DELETE", url, auth=self.auth, ok=(200, 204, 404))


def from_config(config: Mapping[str, Any], context: ProviderContext) -> AkamaiProvider:
    host = config.get("serviceConsumerDomain")
    if not host:
        raise DNS01Error(f"{NAME}: serviceConsumerDomain is required")
    client_token = read_secret(context, NAME, config, "clientTokenSecretRef") or ""
    client_secret = read_secret(context, NAME, config, "clientSecretSecretRef") or ""
    access_token = read_secret(context, NAME, config, "accessTokenSecretRef") or ""
    return AkamaiProvider(str(host), EdgeGridAuth(client_token, client_secret, access_token))


register_provider("akamai", from_config)
