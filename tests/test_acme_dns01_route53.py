"""Route 53 (``dns01.route53``) against moto's AWS emulator in server mode, through boto3:
record writes, GetChange, zone discovery, STS role assumption, IAM authentication, and a
wildcard certificate issued end to end by Pebble, natively and through dns-lexicon.

Pebble's VA and the propagation check resolve through ``Route53Nameserver`` (tests/
cloudpeers.py), a stand-in for Route 53's own name servers that answers from moto's records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from certkeeper.acme.dns01 import ChangeTracking, DNS01Error, ProviderContext, build_provider
from certkeeper.api.acme import Challenge
from certkeeper.api.certificate import Certificate
from tests.cloudpeers import MotoServer, Route53Nameserver, iam_user
from tests.peers import PebbleFactory
from tests.test_acme_daemon_support import LiveDaemon, acme_issuer, assert_chains_to, certificate, sans

pytest_plugins = ["tests.peers", "tests.cloudpeers"]

ZONE = "example.test."
FQDN = "_acme-challenge.www.example.test."


def _zone(moto: MotoServer, name: str = ZONE, private: bool = False) -> str:
    kwargs: dict[str, Any] = {"Name": name, "CallerReference": uuid.uuid4().hex}
    if private:
        kwargs["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "private"}
        kwargs["VPC"] = {"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"}
    return str(moto.client("route53").create_hosted_zone(**kwargs)["HostedZone"]["Id"]).removeprefix("/hostedzone/")


def _txt(moto: MotoServer, zone_id: str, fqdn: str = FQDN) -> list[str]:
    sets = moto.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return sorted(r["Value"] for s in sets if s["Name"] == fqdn and s["Type"] == "TXT" for r in s["ResourceRecords"])


def _context(secrets: dict[tuple[str, str], bytes], *, ambient: bool = False) -> ProviderContext:
    def get(name: str, key: str) -> bytes:
        if (name, key) not in secrets:
            raise DNS01Error(f'secret "default/{name}" has no key "{key}"')
        return secrets[(name, key)]

    return ProviderContext(get_secret=get, namespace="default", ambient_credentials=ambient)


KEYS = {("aws", "key-id"): b"AKIDEXAMPLE", ("aws", "secret"): b"s3cr3t"}
BLOCK = {
    "region": "us-east-1",
    "accessKeyIDSecretRef": {"name": "aws", "key": "key-id"},
    "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
}


def test_present_and_cleanup_keep_each_others_values(aws_env: MotoServer) -> None:
    zone_id = _zone(aws_env)
    _zone(aws_env, private=True)  # a private zone of the same name is never picked
    provider = build_provider("route53", BLOCK, _context(KEYS))
    provider.present(FQDN, ZONE, "value-one")
    provider.present(FQDN, ZONE, "value-two")  # the wildcard's challenge, same name
    provider.present(FQDN, ZONE, "value-two")  # repeated: nothing changes
    assert _txt(aws_env, zone_id) == ['"value-one"', '"value-two"']
    assert isinstance(provider, ChangeTracking)
    assert provider.pending_reason(FQDN, ZONE, "value-one") is None  # moto's GetChange: INSYNC
    provider.cleanup(FQDN, ZONE, "value-one")
    assert _txt(aws_env, zone_id) == ['"value-two"']
    provider.cleanup(FQDN, ZONE, "value-two")
    provider.cleanup(FQDN, ZONE, "value-two")  # already gone: no error
    assert _txt(aws_env, zone_id) == []


def test_hosted_zone_id_and_static_access_key_id(aws_env: MotoServer) -> None:
    _zone(aws_env)
    other = _zone(aws_env)  # same name: only hostedZoneID says which
    block = {"accessKeyID": "AKIDEXAMPLE", "hostedZoneID": f"/hostedzone/{other}",
             "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}}
    build_provider("route53", block, _context(KEYS)).present(FQDN, ZONE, "v")
    assert _txt(aws_env, other) == ['"v"']


def test_role_is_assumed_through_sts(aws_env: MotoServer) -> None:
    zone_id = _zone(aws_env)
    key_id, secret = iam_user(aws_env, "assumer", ["sts:AssumeRole"])
    role_arn = aws_env.client("iam").create_role(
        RoleName="dns",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"AWS":"arn:aws:iam::123456789012:user/assumer"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    secrets = {("aws", "key-id"): key_id.encode(), ("aws", "secret"): secret.encode()}
    block = {**BLOCK, "role": role_arn}
    # STS checks the keys and the role's trust policy for real (moto's IAM evaluation) ...
    aws_env.set_auth(0)
    try:
        provider = build_provider("route53", block, _context(secrets))
        with pytest.raises(DNS01Error, match=r"route53: AssumeRole .*role/dns: HTTP 403 .*InvalidClientTokenId"):
            build_provider("route53", block, _context({**secrets, ("aws", "key-id"): b"AKIDUNKNOWN"}))
    finally:
        aws_env.set_auth(None)
    # ... and Route 53 is called with the role's temporary credentials, not the user's
    creds = provider.client._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
    assert creds.access_key != key_id and creds.token
    identity = aws_env.client("sts", creds.access_key, creds.secret_key, creds.token)
    assert identity.get_caller_identity()["Arn"].endswith(":assumed-role/dns/certkeeper")
    provider.present(FQDN, ZONE, "v")
    assert _txt(aws_env, zone_id) == ['"v"']


@pytest.mark.parametrize(
    ("block", "secrets", "ambient", "message"),
    [
        (BLOCK, {}, False, r'route53: accessKeyIDSecretRef: secret "default/aws" has no key "key-id"'),
        ({"region": "us-east-1"}, KEYS, False, "ambient credentials are not allowed for an Issuer"),
        ({**BLOCK, "secretAccessKeySecretRef": None}, KEYS, False, "secretAccessKeySecretRef is required"),
        ({"auth": {"kubernetes": {"serviceAccountRef": {"name": "dns"}}}, "role": "arn:aws:iam::1:role/x"}, {},
         True, r"route53: auth.kubernetes.serviceAccountRef needs a token for a Kubernetes ServiceAccount"),
        ({**BLOCK, "hostedZoneID": None}, {**KEYS, ("aws", "secret"): b"  "}, False,
         'route53: secretAccessKeySecretRef: key "secret" of secret "aws" is empty'),
    ],
)
def test_bad_configuration_names_the_cause(
    aws_env: MotoServer, block: dict[str, Any], secrets: dict[tuple[str, str], bytes], ambient: bool, message: str
) -> None:
    with pytest.raises(DNS01Error, match=message):
        build_provider("route53", block, _context(secrets, ambient=ambient)).present(FQDN, ZONE, "v")


def test_refused_credentials_and_missing_zone(aws_env: MotoServer) -> None:
    # an access key AWS does not know is refused with HTTP 403, as moto does once its IAM
    # authentication is on (moto cannot verify Route 53 signatures of known keys, so the
    # accepted path is tested with authentication off)
    aws_env.set_auth(0)
    try:
        with pytest.raises(DNS01Error, match=r"route53: ListHostedZonesByName: HTTP 403 \(the credentials were "
                                             r"refused\): InvalidClientTokenId"):
            build_provider("route53", BLOCK, _context(KEYS)).present(FQDN, ZONE, "v")
    finally:
        aws_env.set_auth(None)
    _zone(aws_env, "other.test.")
    with pytest.raises(DNS01Error, match=r"route53: zone example\.test\. not found in Route 53"):
        build_provider("route53", BLOCK, _context(KEYS)).present(FQDN, ZONE, "v")
    with pytest.raises(DNS01Error, match=r"route53: ListResourceRecordSets: HTTP 404: NoSuchHostedZone"):
        build_provider("route53", {**BLOCK, "hostedZoneID": "Z0NOSUCHZONE"}, _context(KEYS)).present(FQDN, ZONE, "v")


def test_ambient_credentials_for_cluster_issuers(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    zone_id = _zone(aws_env)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient")
    build_provider("route53", {}, _context({}, ambient=True)).present(FQDN, ZONE, "ambient")
    assert _txt(aws_env, zone_id) == ['"ambient"']


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def route53_dns(aws_env: MotoServer) -> Iterator[Route53Nameserver]:
    front = Route53Nameserver(aws_env, ZONE, _zone(aws_env))
    try:
        yield front
    finally:
        front.close()


def _aws_secret() -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws"},
        "stringData": {"key-id": "AKIDEXAMPLE", "secret": "s3cr3t"},
    })


LEXICON_ROUTE53 = {"webhook": {"groupName": "lexicon.certkeeper.io", "solverName": "route53", "config": {
    "secretRefs": {"auth_access_key": {"name": "aws", "key": "key-id"},
                   "auth_access_secret": {"name": "aws", "key": "secret"}},
}}}


@pytest.mark.parametrize("solver", [{"route53": BLOCK}, LEXICON_ROUTE53], ids=["native", "lexicon"])
def test_wildcard_certificate_through_route53(
    tmp_path: Path, pebble_factory: PebbleFactory, route53_dns: Route53Nameserver, aws_env: MotoServer,
    solver: dict[str, Any],
) -> None:
    pebble = pebble_factory(dns_server=route53_dns.address)
    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[route53_dns.address])
    try:
        daemon.apply(_aws_secret())
        daemon.apply(acme_issuer("r53", pebble, [{"dns01": solver}]))
        names = ["example.test", "*.example.test"]
        daemon.apply(certificate("wild", names, "r53"))
        daemon.wait_ready(Certificate, "wild", timeout=60)
        chain = daemon.chain("wild")
        assert sans(chain[0]) == sorted(names)
        assert_chains_to(chain, pebble.root_pem(0))
        daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 60, "challenges deleted")
        assert _txt(aws_env, route53_dns.zone_id, "_acme-challenge.example.test.") == []
    finally:
        daemon.close()


def test_ambient_credentials_follow_the_daemon_flags(
    tmp_path: Path, pebble_factory: PebbleFactory, route53_dns: Route53Nameserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cert-manager's defaults: a ClusterIssuer may use the environment's AWS keys, an
    Issuer may not (``--issuer-ambient-credentials`` turns that on)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient")
    pebble = pebble_factory(dns_server=route53_dns.address)
    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[route53_dns.address],
                        cluster_resource_namespace="certkeeper")
    try:
        solver = [{"dns01": {"route53": {"region": "us-east-1"}}}]
        daemon.apply(acme_issuer("ambient", pebble, solver, kind="ClusterIssuer"))
        daemon.apply(certificate("cluster", ["example.test"], "ambient", kind="ClusterIssuer"))
        daemon.wait_ready(Certificate, "cluster", timeout=60)
        daemon.apply(acme_issuer("local", pebble, solver))
        daemon.apply(certificate("local", ["www.example.test"], "local"))

        def refused() -> str | None:
            for ch in daemon.store.list(Challenge, "default"):
                if ch.status and ch.status.reason and "ambient credentials are not allowed" in ch.status.reason:
                    return ch.status.reason
            return None

        assert daemon.wait_for(refused, 60, "the Issuer's Challenge refused").startswith("route53: no accessKeyID")
    finally:
        daemon.close()
