"""Route 53 (``dns01.route53``) through AWS's own SDK, boto3 (imported on first use).

Fields as cert-manager has them: static keys (``accessKeyID`` or ``accessKeyIDSecretRef``
plus ``secretAccessKeySecretRef``), ``role`` to assume through STS, ``hostedZoneID`` or
discovery of the public hosted zone named like the zone found by SOA, and ``region``.
Without keys the SDK's own chain (environment, profile, instance role) is used, for
ClusterIssuers only, as cert-manager's ambient-credentials rule says.

Present and CleanUp read the record set first and write the union (or the rest) of its
values, so the challenges of a wildcard and its base name never remove each other's value.
The change ID of the last write is kept, and ``pending_reason`` reports it until
``GetChange`` says INSYNC. Endpoints follow the SDK's settings (``AWS_ENDPOINT_URL_ROUTE_53``,
``AWS_ENDPOINT_URL_STS``), which is how a private endpoint or an emulator is reached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from certkeeper.acme.dns01.provider import (
    DNS01Error,
    ProviderContext,
    read_secret,
    register_provider,
    unfqdn,
)

TTL = 10
"""cert-manager's TTL for the challenge record."""
DEFAULT_REGION = "us-east-1"
ROLE_SESSION_NAME = "certkeeper"

_pending_lock = threading.Lock()
_pending: dict[tuple[str, str], str] = {}
"""(record name, value) -> the change ID of the write that is not yet known to be INSYNC."""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: str) -> str:
    return "".join(part for part in value.strip().split('"')[1::2]) if value.startswith('"') else value


def _error(action: str, exc: Exception) -> DNS01Error:
    """A readable reason from a botocore error: the HTTP status, the API's code and message."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        err = response.get("Error") or {}
        if not err.get("Code"):  # an error body in the query protocol's shape
            err = (response.get("Errors") or {}).get("Error") or err
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        detail = ": ".join(str(part) for part in (err.get("Code"), err.get("Message")) if part)
        hint = " (the credentials were refused)" if status == 403 else ""
        return DNS01Error(f"route53: {action}: HTTP {status}{hint}" + (f": {detail}" if detail else ""))
    return DNS01Error(f"route53: {action}: {exc}")


class Route53Provider:
    def __init__(self, client: Any, hosted_zone_id: str | None) -> None:
        self.client = client
        self.hosted_zone_id = hosted_zone_id.removeprefix("/hostedzone/") if hosted_zone_id else None

    def _call(self, action: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - lazy SDK

        try:
            return getattr(self.client, action)(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise _error(_api_name(action), e) from e

    def zone_id(self, zone: str) -> str:
        """``hostedZoneID`` or the public hosted zone named ``zone`` (cert-manager's rule)."""
        if self.hosted_zone_id:
            return self.hosted_zone_id
        found = self._call("list_hosted_zones_by_name", DNSName=zone)
        for hosted in found.get("HostedZones", []):
            if hosted.get("Name") == zone and not hosted.get("Config", {}).get("PrivateZone"):
                return str(hosted["Id"]).removeprefix("/hostedzone/")
        raise DNS01Error(f"route53: zone {zone} not found in Route 53 (no public hosted zone of that name)")

    def _values(self, zone_id: str, fqdn: str) -> tuple[list[str], int]:
        found = self._call(
            "list_resource_record_sets", HostedZoneId=zone_id, StartRecordName=fqdn,
            StartRecordType="TXT", MaxItems="1",
        )
        for rrset in found.get("ResourceRecordSets", []):
            if rrset.get("Name") == fqdn and rrset.get("Type") == "TXT":
                return [_unquote(r["Value"]) for r in rrset.get("ResourceRecords", [])], int(rrset.get("TTL", TTL))
        return [], TTL

    def _change(self, zone_id: str, action: str, fqdn: str, values: list[str], ttl: int) -> str:
        batch = {
            "Comment": "certkeeper ACME DNS-01 challenge",
            "Changes": [{
                "Action": action,
                "ResourceRecordSet": {
                    "Name": fqdn, "Type": "TXT", "TTL": ttl,
                    "ResourceRecords": [{"Value": _quote(v)} for v in values],
                },
            }],
        }
        result = self._call("change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch=batch)
        return str(result["ChangeInfo"]["Id"])

    def present(self, fqdn: str, zone: str, value: str) -> None:
        zone_id = self.zone_id(zone)
        values, _ = self._values(zone_id, fqdn)
        if value in values:
            return
        change = self._change(zone_id, "UPSERT", fqdn, [*values, value], TTL)
        with _pending_lock:
            _pending[(fqdn, value)] = change

    def cleanup(self, fqdn: str, zone: str, value: str) -> None:
        with _pending_lock:
            _pending.pop((fqdn, value), None)
        zone_id = self.zone_id(zone)
        values, ttl = self._values(zone_id, fqdn)
        if value not in values:
            return
        rest = [v for v in values if v != value]
        if rest:
            self._change(zone_id, "UPSERT", fqdn, rest, ttl)
        else:
            self._change(zone_id, "DELETE", fqdn, values, ttl)

    def pending_reason(self, fqdn: str, zone: str, value: str) -> str | None:
        """None once Route 53 reports the write INSYNC (or none is known, e.g. after a
        restart: then DNS itself is the judge)."""
        with _pending_lock:
            change = _pending.get((fqdn, value))
        if change is None:
            return None
        status = self._call("get_change", Id=change)["ChangeInfo"]["Status"]
        if status == "INSYNC":
            with _pending_lock:
                _pending.pop((fqdn, value), None)
            return None
        return f"Route 53 change {change.removeprefix('/change/')} is {status}, waiting for INSYNC"


def _api_name(action: str) -> str:
    return "".join(part.capitalize() for part in action.split("_"))


def from_config(config: Mapping[str, Any], context: ProviderContext) -> Route53Provider:
    try:  # the SDK is loaded only by daemons that use Route 53
        import boto3  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    except ImportError as e:
        raise DNS01Error("route53: the AWS SDK is not installed (pip install 'certkeeper[route53]')") from e

    if (config.get("auth") or {}).get("kubernetes"):
        raise DNS01Error(
            "route53: auth.kubernetes.serviceAccountRef needs a token for a Kubernetes ServiceAccount, which "
            "certkeeper cannot request yet; give the role with keys in Secrets (role plus accessKeyIDSecretRef/"
            "secretAccessKeySecretRef) or use the environment's credentials (AWS_WEB_IDENTITY_TOKEN_FILE and "
            "AWS_ROLE_ARN work there) with a ClusterIssuer"
        )
    region = str(config.get("region") or DEFAULT_REGION)
    key_id = config.get("accessKeyID") or read_secret(context, "route53", config, "accessKeyIDSecretRef",
                                                      required=False)
    secret = read_secret(context, "route53", config, "secretAccessKeySecretRef", required=False)
    if key_id and not secret:
        raise DNS01Error("route53: secretAccessKeySecretRef is required with an access key ID")
    if secret and not key_id:
        raise DNS01Error("route53: accessKeyID or accessKeyIDSecretRef is required with a secret access key")
    if not key_id and not context.ambient_credentials:
        raise DNS01Error(
            "route53: no accessKeyID/secretAccessKeySecretRef given and ambient credentials are not allowed "
            "for an Issuer (use a ClusterIssuer or give the keys in Secrets)"
        )
    session = boto3.session.Session(
        aws_access_key_id=key_id or None, aws_secret_access_key=secret or None, region_name=region,
    )
    role = config.get("role")
    if role:
        try:
            assumed = session.client("sts").assume_role(RoleArn=str(role), RoleSessionName=ROLE_SESSION_NAME)
        except (ClientError, BotoCoreError) as e:
            raise _error(f"AssumeRole {role}", e) from e
        creds = assumed["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=region,
        )
    hosted = config.get("hostedZoneID")
    return Route53Provider(session.client("route53"), unfqdn(str(hosted)) if hosted else None)


register_provider("route53", from_config)
