"""RFC 2136 dynamic UPDATE provider (spec §1.8 ``rfc2136``, §4.6), on dnspython.

Present adds one TXT RR (TTL 60) and CleanUp deletes exactly that RR, so several
challenges for the same name (a wildcard and its base name) can coexist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.tsigkeyring
import dns.update

from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, register_provider
from certkeeper.acme.nameserver import join_nameserver, split_nameserver

DEFAULT_TTL = 60
DEFAULT_TIMEOUT = 10.0

TSIG_ALGORITHMS: dict[str, dns.name.Name] = {
    "HMACMD5": dns.tsig.HMAC_MD5,
    "HMACSHA1": dns.tsig.HMAC_SHA1,
    "HMACSHA256": dns.tsig.HMAC_SHA256,
    "HMACSHA512": dns.tsig.HMAC_SHA512,
}
"""The issuer field's names (case-insensitive), HMACMD5 being the default."""


def tsig_algorithm(name: str | None) -> dns.name.Name:
    key = (name or "HMACMD5").upper()
    if key not in TSIG_ALGORITHMS:
        raise DNS01Error(f"algorithm '{name}' is not supported")
    return TSIG_ALGORITHMS[key]


def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name if name.endswith(".") else f"{name}.")


class RFC2136Provider:
    """Sends UPDATE messages to one primary nameserver, TSIG-signed when a key is set."""

    def __init__(
        self,
        nameserver: str,
        *,
        tsig_key_name: str | None = None,
        tsig_secret: str | bytes | None = None,
        tsig_algorithm_name: str | None = None,
        protocol: str | None = None,
        ttl: int = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host, self.port = split_nameserver(nameserver)
        self.protocol = (protocol or "UDP").upper()
        if self.protocol not in ("UDP", "TCP"):
            raise DNS01Error(f"protocol '{protocol}' is not supported (UDP or TCP)")
        self.algorithm = tsig_algorithm(tsig_algorithm_name)
        self.ttl = ttl
        self.timeout = timeout
        self.keyring: dict[dns.name.Name, dns.tsig.Key] | None = None
        self.key_name: dns.name.Name | None = None
        if tsig_key_name and tsig_secret:
            secret = tsig_secret.decode() if isinstance(tsig_secret, bytes) else tsig_secret
            secret = secret.strip()
            try:
                base64.b64decode(secret, validate=True)
            except binascii.Error as exc:
                raise DNS01Error(f"TSIG secret for key {tsig_key_name!r} is not valid base64") from exc
            self.key_name = _absolute(tsig_key_name)
            self.keyring = {self.key_name: dns.tsig.Key(self.key_name, secret, self.algorithm)}

    @property
    def server(self) -> str:
        return join_nameserver(self.host, self.port)

    def present(self, fqdn: str, zone: str, value: str) -> None:
        update = self._update(zone)
        update.add(_absolute(fqdn), self.ttl, self._txt(value))
        self._send(update)

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        update = self._update(zone)
        update.delete(_absolute(fqdn), self._txt(value))
        self._send(update)

    @staticmethod
    def _txt(value: str) -> dns.rdtypes.ANY.TXT.TXT:
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()])

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            _absolute(zone), keyring=self.keyring, keyname=self.key_name,
            keyalgorithm=self.algorithm,
        )

    def _send(self, update: dns.update.UpdateMessage) -> None:
        try:
            if self.protocol == "TCP":
                reply = dns.query.tcp(update, self.host, port=self.port, timeout=self.timeout)
            else:
                reply = dns.query.udp(update, self.host, port=self.port, timeout=self.timeout)
        except dns.exception.Timeout as exc:
            raise DNS01Error(
                f"DNS update failed: no answer from {self.server} ({self.protocol}) within {self.timeout:g}s"
            ) from exc
        except (OSError, dns.exception.DNSException) as exc:
            raise DNS01Error(f"DNS update failed: {self.server} ({self.protocol}): {exc}") from exc
        rcode = reply.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DNS01Error(f"DNS update failed. Server replied: {dns.rcode.to_text(rcode)}")


def from_config(config: Mapping[str, Any], context: ProviderContext) -> RFC2136Provider:
    """Factory for the ``dns01.rfc2136`` block; the TSIG secret is read from its Secret."""
    nameserver = config.get("nameserver")
    if not nameserver:
        raise DNS01Error("rfc2136: nameserver is required")
    key_name = config.get("tsigKeyName")
    secret: bytes | None = None
    ref = config.get("tsigSecretSecretRef") or {}
    if key_name and ref.get("name"):
        secret = context.get_secret(str(ref["name"]), str(ref.get("key") or ""))
    return RFC2136Provider(
        str(nameserver),
        tsig_key_name=key_name,
        tsig_secret=secret,
        tsig_algorithm_name=config.get("tsigAlgorithm"),
        protocol=config.get("protocol"),
    )


register_provider("rfc2136", from_config)
