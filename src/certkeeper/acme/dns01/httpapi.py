"""The HTTPS plumbing the hosted-DNS providers share: one request with a timeout, and
errors that name the provider, the call, the HTTP status and the server's own words.

Each provider's API base can be moved with an environment variable (an API-compatible
endpoint, a proxy, a sovereign cloud); TLS trust is requests' own (system store or
``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests

from certkeeper.acme.dns01.provider import DNS01Error

TIMEOUT = 30.0
MAX_DETAIL = 300
OAUTH_REFUSALS = ("invalid_grant", "invalid_client", "unauthorized_client")
"""OAuth token errors (HTTP 400) that mean the credentials themselves were refused."""


def endpoint(variable: str, default: str) -> str:
    return (os.environ.get(variable) or default).rstrip("/")


def _detail(response: requests.Response) -> str:
    """The error text a JSON API puts in its answer (several shapes), else the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip().replace("\n", " ")[:MAX_DETAIL]
    messages: list[str] = []
    if isinstance(data, Mapping) and isinstance(data.get("error"), str) and data.get("error_description"):
        return f"{data['error']}: {data['error_description']}"[:MAX_DETAIL]  # OAuth 2.0 (RFC 6749 §5.2)
    if isinstance(data, Mapping):
        for key in ("errors", "error", "message", "detail", "title"):
            value = data.get(key)
            if isinstance(value, list):
                messages += [str(v.get("message", v)) if isinstance(v, Mapping) else str(v) for v in value]
            elif isinstance(value, Mapping):
                messages.append(str(value.get("message") or value.get("code") or value))
            elif value:
                messages.append(str(value))
            if messages:
                break
    return "; ".join(messages)[:MAX_DETAIL] if messages else str(data)[:MAX_DETAIL]


def call(
    provider: str,
    method: str,
    url: str,
    *,
    ok: tuple[int, ...] = (200, 201, 202, 204),
    auth: Any = None,
    **kwargs: Any,
) -> requests.Response:
    """One API request; any answer outside ``ok`` raises DNS01Error."""
    path = urllib.parse.urlsplit(url).path
    try:
        response = requests.request(method, url, timeout=TIMEOUT, auth=auth, **kwargs)
    except requests.RequestException as e:
        raise DNS01Error(f"{provider}: {method} {path}: cannot reach {urllib.parse.urlsplit(url).netloc}: {e}") from e
    if response.status_code not in ok:
        detail = _detail(response)
        refused = response.status_code in (401, 403) or detail.split(":")[0] in OAUTH_REFUSALS
        hint = " (the credentials were refused)" if refused else ""
        raise DNS01Error(
            f"{provider}: {method} {path}: HTTP {response.status_code}{hint}" + (f": {detail}" if detail else "")
        )
    return response


def json_of(provider: str, response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as e:
        raise DNS01Error(f"{provider}: {response.request.method} {urllib.parse.urlsplit(response.url).path}: "
                         "the answer is not JSON") from e
