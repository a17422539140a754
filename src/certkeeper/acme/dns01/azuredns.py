"""Azure DNS (``dns01.azureDNS``) through the Azure Resource Manager REST API with
``requests``.

Credentials: a service principal (``clientID``, ``tenantID``, ``clientSecretSecretRef``)
exchanged for a token at the cloud's Microsoft Entra endpoint (client-credentials grant),
or, for ClusterIssuers, the machine's managed identity (``managedIdentity`` or nothing)
from the instance metadata service. ``environment`` picks the cloud's endpoints,
``zoneType: AzurePrivateZone`` the private-zone API. Present and CleanUp write the whole
TXT record set with every value at the name, so a wildcard and its base name coexist.
``CERTKEEPER_AZURE_AUTHORITY_URL`` and ``CERTKEEPER_AZURE_RESOURCE_MANAGER_URL`` move the
endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.httpapi import call, endpoint, json_of
from certkeeper.acme.dns01.provider import DNS01Error, ProviderContext, read_secret, register_provider, unfqdn

NAME = "azuredns"
TTL = 60
ENVIRONMENTS = {
    "AzurePublicCloud": ("https://login.microsoftonline.com", "https://management.azure.com"),
    "AzureChinaCloud": ("https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
    "AzureGermanCloud": ("https://login.microsoftonline.de", "https://management.microsoftazure.de"),
    "AzureUSGovernmentCloud": ("https://login.microsoftonline.us", "https://management.usgovcloudapi.net"),
}
IMDS_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
PUBLIC = ("dnsZones", "2018-05-01", "TTL", "TXTRecords")
PRIVATE = ("privateDnsZones", "2018-09-01", "ttl", "txtRecords")


def client_secret_token(authority: str, tenant: str, client_id: str, secret: str, arm: str) -> str:
    response = call(NAME, "POST", f"{authority}/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "scope": f"{arm}/.default",
    })
    token = json_of(NAME, response).get("access_token")
    if not token:
        raise DNS01Error(f"{NAME}: the token endpoint answered without an access_token")
    return str(token)


def managed_identity_token(arm: str, identity: Mapping[str, Any]) -> str:
    params = {"api-version": "2018-02-01", "resource": f"{arm}/"}
    if identity.get("clientID"):
        params["client_id"] = str(identity["clientID"])
    if identity.get("resourceID"):
        params["msi_res_id"] = str(identity["resourceID"])
    url = endpoint("CERTKEEPER_AZURE_IMDS_URL", IMDS_URL)
    token = json_of(NAME, call(NAME, "GET", url, params=params, headers={"Metadata": "true"})).get("access_token")
    if not token:
        raise DNS01Error(f"{NAME}: the managed identity endpoint answered without an access_token")
    return str(token)


class AzureDNSProvider:
    def __init__(self, token: str, arm: str, subscription: str, group: str, zone_name: str | None,
                 private: bool) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.arm = arm
        self.prefix = f"{arm}/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Network"
        self.zone_name = zone_name
        self.kind, self.version, self.ttl_key, self.records_key = PRIVATE if private else PUBLIC

    def _url(self, fqdn: str, zone: str) -> str:
        zone_name = unfqdn(self.zone_name or zone)
        name = unfqdn(fqdn)
        if name != zone_name and not name.endswith(f".{zone_name}"):
            raise DNS01Error(f"{NAME}: {name} is not in the zone {zone_name}")
        relative = name[: -len(zone_name)].rstrip(".") or "@"
        return f"{self.prefix}/{self.kind}/{zone_name}/TXT/{relative}?api-version={self.version}"

    def _values(self, url: str) -> list[str]:
        response = call(NAME, "GET", url, headers=self.headers, ok=(200, 404))
        if response.status_code == 404:
            body = json_of(NAME, response) if response.content else {}
            code = (body.get("error") or {}).get("code") if isinstance(body, Mapping) else None
            if code in ("ParentResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound"):
                raise DNS01Error(f"{NAME}: {url.split('?')[0].removeprefix(self.arm)}: HTTP 404: {code}: "
                                 f"{(body.get('error') or {}).get('message', '')}")
            return []
        records = (json_of(NAME, response).get("properties") or {}).get(self.records_key) or []
        return ["".join(r.get("value") or []) for r in records]

    def _write(self, url: str, values: list[str]) -> None:
        if not values:
            call(NAME, "DELETE", url, headers=self.headers, ok=(200, 202, 204, 404))
            return
        body = {"properties": {self.ttl_key: TTL, self.records_key: [{"value": [v]} for v in values]}}
        call(NAME, "PUT", url, headers=self.headers, json=body)

    def present(self, fqdn: str, zone: str, value: str) -> None:
        url = self._url(fqdn, zone)
        values = self._values(url)
        if value not in values:
            self._write(url, [*values, value])

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        url = self._url(fqdn, zone)
        values = self._values(url)
        if value in values:
            self._write(url, [v for v in values if v != value])


def from_config(config: Mapping[str, Any], context: ProviderContext) -> AzureDNSProvider:
    environment = str(config.get("environment") or "AzurePublicCloud")
    if environment not in ENVIRONMENTS:
        raise DNS01Error(f"{NAME}: environment {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
    authority = endpoint("CERTKEEPER_AZURE_AUTHORITY_URL", ENVIRONMENTS[environment][0])
    arm = endpoint("CERTKEEPER_AZURE_RESOURCE_MANAGER_URL", ENVIRONMENTS[environment][1])
    for required in ("subscriptionID", "resourceGroupName"):
        if not config.get(required):
            raise DNS01Error(f"{NAME}: {required} is required")
    zone_type = str(config.get("zoneType") or "AzurePublicZone")
    if zone_type not in ("AzurePublicZone", "AzurePrivateZone"):
        raise DNS01Error(f"{NAME}: zoneType {zone_type!r} is not AzurePublicZone or AzurePrivateZone")
    if config.get("clientSecretSecretRef") or config.get("clientID") and not config.get("managedIdentity"):
        for required in ("clientID", "tenantID"):
            if not config.get(required):
                raise DNS01Error(f"{NAME}: {required} is required with clientSecretSecretRef")
        secret = read_secret(context, NAME, config, "clientSecretSecretRef")
        token = client_secret_token(authority, str(config["tenantID"]), str(config["clientID"]), secret or "", arm)
    elif context.ambient_credentials:
        token = managed_identity_token(arm, config.get("managedIdentity") or {})
    else:
        raise DNS01Error(f"{NAME}: clientID, tenantID and clientSecretSecretRef are required: ambient credentials "
                         "(managed identity) are not allowed for an Issuer")
    zone_name = config.get("hostedZoneName")
    return AzureDNSProvider(token, arm, str(config["subscriptionID"]), str(config["resourceGroupName"]),
                            str(zone_name) if zone_name else None, zone_type == "AzurePrivateZone")


register_provider("azureDNS", from_config)
