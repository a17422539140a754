"""Google Cloud DNS (``dns01.cloudDNS``) through its v1 REST API with ``requests``.

Credentials: the service account JSON key in ``serviceAccountSecretRef``, exchanged for an
access token with a signed JWT (RFC 7523, the grant Google documents for service accounts;
signed with ``cryptography``), or, for ClusterIssuers without a key, the token of the
machine's own service account from the metadata server. The managed zone is
``hostedZoneName`` or the public zone whose DNS name is the zone found by SOA. Writes are
Cloud DNS changes holding every value at the name, and ``pending_reason`` reports a change
until Cloud DNS calls it ``done``. ``CERTKEEPER_CLOUDDNS_API_URL`` moves the API base.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from certkeeper.acme.dns01.httpapi import call, endpoint, json_of
from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, read_secret, register_provider

NAME = "clouddns"
DEFAULT_URL = "https://dns.googleapis.com/dns/v1"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
TTL = 60

_pending_lock = threading.Lock()
_pending: dict[tuple[str, str], tuple[str, str]] = {}
"""(record, value) -> (changes URL of the zone, change id) not yet known to be done."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_token(key: Mapping[str, Any], now: float | None = None) -> str:
    """An OAuth access token for a service account key (JWT bearer grant)."""
    try:
        email, pem, token_uri = str(key["client_email"]), str(key["private_key"]).encode(), key.get("token_uri")
    except KeyError as e:
        raise DNS01Error(f"{NAME}: serviceAccountSecretRef: the service account JSON has no {e.args[0]}") from e
    try:
        private = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError) as e:
        raise DNS01Error(f"{NAME}: serviceAccountSecretRef: private_key is not a PEM private key: {e}") from e
    if not isinstance(private, rsa.RSAPrivateKey):
        raise DNS01Error(f"{NAME}: serviceAccountSecretRef: private_key is not an RSA key")
    issued = int(now if now is not None else time.time())
    audience = str(token_uri or DEFAULT_TOKEN_URI)
    header = {"alg": "RS256", "typ": "JWT", **({"kid": key["private_key_id"]} if key.get("private_key_id") else {})}
    claims = {"iss": email, "scope": SCOPE, "aud": audience, "iat": issued, "exp": issued + 3600}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    response = call(NAME, "POST", audience, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": f"{signing_input}.{_b64url(signature)}",
    })
    token = json_of(NAME, response).get("access_token")
    if not token:
        raise DNS01Error(f"{NAME}: the token endpoint answered without an access_token")
    return str(token)


def metadata_token() -> str:
    url = endpoint("CERTKEEPER_GCE_METADATA_URL", METADATA_URL)
    token = json_of(NAME, call(NAME, "GET", url, headers={"Metadata-Flavor": "Google"})).get("access_token")
    if not token:
        raise DNS01Error(f"{NAME}: the metadata server answered without an access_token")
    return str(token)


class CloudDNSProvider:
    def __init__(self, token: str, project: str, hosted_zone_name: str | None) -> None:
        self.base = endpoint("CERTKEEPER_CLOUDDNS_API_URL", DEFAULT_URL)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.project = project
        self.hosted_zone_name = hosted_zone_name

    def _get(self, path: str, **params: Any) -> Any:
        return json_of(NAME, call(NAME, "GET", f"{self.base}{path}", headers=self.headers, params=params))

    def zone_name(self, zone: str) -> str:
        if self.hosted_zone_name:
            return self.hosted_zone_name
        found = self._get(f"/projects/{self.project}/managedZones", dnsName=zone)
        for managed in found.get("managedZones") or []:
            if managed.get("dnsName") == zone and managed.get("visibility", "public") == "public":
                return str(managed["name"])
        raise DNS01Error(f"{NAME}: no public managed zone for {zone} in project {self.project}")

    def _values(self, zone_path: str, fqdn: str) -> tuple[list[str], dict[str, Any] | None]:
        found = self._get(f"{zone_path}/rrsets", name=fqdn, type="TXT")
        for rrset in found.get("rrsets") or []:
            if rrset.get("name") == fqdn and rrset.get("type") == "TXT":
                return [str(v).strip('"') for v in rrset.get("rrdatas") or []], rrset
        return [], None

    def _change(self, zone_path: str, fqdn: str, old: dict[str, Any] | None, values: list[str]) -> str:
        body: dict[str, Any] = {"kind": "dns#change"}
        if old is not None:
            body["deletions"] = [old]
        if values:
            body["additions"] = [{"kind": "dns#resourceRecordSet", "name": fqdn, "type": "TXT", "ttl": TTL,
                                  "rrdatas": [f'"{v}"' for v in values]}]
        response = call(NAME, "POST", f"{self.base}{zone_path}/changes", headers=self.headers, json=body)
        change = json_of(NAME, response)
        return "" if change.get("status") == "done" else str(change.get("id") or "")

    def present(self, fqdn: str, zone: str, value: str) -> None:
        zone_path = f"/projects/{self.project}/managedZones/{self.zone_name(zone)}"
        values, old = self._values(zone_path, fqdn)
        if value in values:
            return
        change = self._change(zone_path, fqdn, old, [*values, value])
        if change:
            with _pending_lock:
                _pending[(fqdn, value)] = (zone_path, change)

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        with _pending_lock:
            _pending.pop((fqdn, value), None)
        zone_path = f"/projects/{self.project}/managedZones/{self.zone_name(zone)}"
        values, old = self._values(zone_path, fqdn)
        if value in values:
            self._change(zone_path, fqdn, old, [v for v in values if v != value])

    def pending_reason(self, fqdn: str, zone: str, value: str) -> str | None:
        with _pending_lock:
            pending = _pending.get((fqdn, value))
        if pending is None:
            return None
        zone_path, change = pending
        status = self._get(f"{zone_path}/changes/{change}").get("status")
        if status == "done":
            with _pending_lock:
                _pending.pop((fqdn, value), None)
            return None
        return f"Cloud DNS change {change} is {status}, waiting for done"


def from_config(config: Mapping[str, Any], context: ProviderContext) -> CloudDNSProvider:
    project = config.get("project")
    if not project:
        raise DNS01Error(f"{NAME}: project is required")
    if config.get("serviceAccountSecretRef"):
        text = read_secret(context, NAME, config, "serviceAccountSecretRef")
        try:
            key = json.loads(text or "")
        except ValueError as e:
            raise DNS01Error(f"{NAME}: serviceAccountSecretRef: not a service account JSON key: {e}") from e
        if not isinstance(key, Mapping):
            raise DNS01Error(f"{NAME}: serviceAccountSecretRef: not a service account JSON key")
        token = service_account_token(key)
    elif context.ambient_credentials:
        token = metadata_token()
    else:
        raise DNS01Error(f"{NAME}: serviceAccountSecretRef is required: ambient credentials are not allowed for "
                         "an Issuer (use a ClusterIssuer or give a service account key)")
    hosted = config.get("hostedZoneName")
    return CloudDNSProvider(token, str(project), str(hosted) if hosted else None)


register_provider("cloudDNS", from_config)
