"""ACME-DNS (``dns01.acmeDNS``): the ``/update`` call of an acme-dns server, with
``requests``.

``accountSecretRef`` holds the JSON the acme-dns client writes at registration, keyed by
domain: ``{"example.com": {"username", "password", "fulldomain", "subdomain", ...}}``; the
user has pointed ``_acme-challenge.<domain>`` at ``fulldomain`` with a CNAME once. Present
sends the value; CleanUp does nothing, as in cert-manager: the server keeps the two most
recent values and drops older ones itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
import weakref
from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.httpapi import call
from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, read_secret, register_provider, unfqdn

NAME = "acmedns"
CHALLENGE_PREFIX = "_acme-challenge."


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class AcmeDNSProvider:
    def __init__(self, host: str, accounts: Mapping[str, Any], ca_bundle: bytes | None) -> None:
        self.host = host.rstrip("/")
        self.accounts = accounts
        self.verify: bool | str = True
        if ca_bundle:
            fd, path = tempfile.mkstemp(prefix="certkeeper-acmedns-ca-", suffix=".pem")
            with os.fdopen(fd, "wb") as handle:
                handle.write(ca_bundle)
            self.verify = path
            weakref.finalize(self, _remove, path)

    def _account(self, fqdn: str) -> Mapping[str, Any]:
        domain = unfqdn(fqdn).removeprefix(CHALLENGE_PREFIX)
        account = self.accounts.get(domain) or self.accounts.get(f"*.{domain}")
        if not isinstance(account, Mapping):
            known = ", ".join(sorted(str(k) for k in self.accounts)) or "none"
            raise DNS01Error(f'{NAME}: accountSecretRef has no account for domain "{domain}" (accounts for: {known})')
        for field in ("username", "password", "subdomain"):
            if not account.get(field):
                raise DNS01Error(f'{NAME}: accountSecretRef: the account for "{domain}" has no {field}')
        return account

    def present(self, fqdn: str, zone: str, value: str) -> None:
        account = self._account(fqdn)
        call(NAME, "POST", f"{self.host}/update", verify=self.verify,
             headers={"X-Api-User": str(account["username"]), "X-Api-Key": str(account["password"])},
             json={"subdomain": str(account["subdomain"]), "txt": value})

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        """acme-dns keeps only the two latest values: nothing to remove."""


def from_config(config: Mapping[str, Any], context: ProviderContext) -> AcmeDNSProvider:
    host = config.get("host")
    if not host:
        raise DNS01Error(f"{NAME}: host is required")
    text = read_secret(context, NAME, config, "accountSecretRef")
    try:
        accounts = json.loads(text or "")
    except ValueError as e:
        raise DNS01Error(f"{NAME}: accountSecretRef: not acme-dns account JSON: {e}") from e
    if not isinstance(accounts, Mapping):
        raise DNS01Error(f"{NAME}: accountSecretRef: not acme-dns account JSON (an object keyed by domain)")
    bundle = None
    if config.get("caBundle"):
        try:
            bundle = base64.b64decode(str(config["caBundle"]), validate=True)
        except binascii.Error as e:
            raise DNS01Error(f"{NAME}: caBundle is not base64") from e
    return AcmeDNSProvider(str(host), accounts, bundle)


register_provider("acmeDNS", from_config)
