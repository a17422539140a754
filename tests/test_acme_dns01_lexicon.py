"""dns-lexicon behind ``dns01.webhook`` (groupName ``lexicon.certkeeper.io``): PowerDNS
(Debian's pdns-server, its HTTP API on loopback) end to end with Pebble asking PowerDNS,
Route 53 through lexicon against moto, the configuration errors, and cert-manager's
external webhook solvers waiting with a reason."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from certkeeper.acme.dns01 import DNS01Error, DNS01Unsupported, ProviderContext, build_provider
from certkeeper.api.acme import Challenge
from certkeeper.api.certificate import Certificate
from tests.cloudpeers import MotoServer
from tests.peers import PebbleFactory
from tests.powerdns import PowerDNSServer
from tests.test_acme_daemon_support import (
    LiveDaemon,
    acme_issuer,
    assert_chains_to,
    certificate,
    sans,
    unique,
)

pytest_plugins = ["tests.peers", "tests.cloudpeers", "tests.powerdns"]

GROUP = "lexicon.certkeeper.io"
ZONE = "example.test."


def _context(secrets: dict[str, dict[str, bytes]]) -> ProviderContext:
    def data(name: str) -> dict[str, bytes]:
        if name not in secrets:
            raise DNS01Error(f'secret "default/{name}" not found')
        return secrets[name]

    def get(name: str, key: str) -> bytes:
        if key not in data(name):
            raise DNS01Error(f'secret "default/{name}" has no key "{key}"')
        return data(name)[key]

    return ProviderContext(get_secret=get, get_secret_data=data, namespace="default")


def _pdns_block(powerdns: PowerDNSServer, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "options": {"pdns_server": powerdns.api_url, "pdns_server_id": "localhost"},
        "secretRefs": {"auth_token": {"name": "pdns", "key": "api-key"}},
        **config,
    }
    return {"groupName": GROUP, "solverName": "powerdns", "config": body}


def test_powerdns_present_and_cleanup(powerdns: PowerDNSServer) -> None:
    fqdn = f"_acme-challenge.{unique('lx')}.example.test."
    ctx = _context({"pdns": {"api-key": powerdns.api_key.encode()}})
    provider = build_provider("webhook", _pdns_block(powerdns), ctx)
    provider.present(fqdn, ZONE, "value-one")
    provider.present(fqdn, ZONE, "value-two")  # a wildcard and its base name share the record
    assert powerdns.txt(fqdn) == ["value-one", "value-two"]
    provider.cleanup(fqdn, ZONE, "value-one")
    assert powerdns.txt(fqdn) == ["value-two"]
    provider.cleanup(fqdn, ZONE, "value-two")
    provider.cleanup(fqdn, ZONE, "value-two")  # already gone: no error
    assert powerdns.txt(fqdn) == []


def test_powerdns_credentials_from_a_whole_secret(powerdns: PowerDNSServer) -> None:
    fqdn = f"_acme-challenge.{unique('whole')}.example.test."
    block = _pdns_block(powerdns, secretRefs=None, credentialsSecretRef={"name": "pdns-all"})
    provider = build_provider("webhook", block, _context({"pdns-all": {"auth-token": powerdns.api_key.encode()}}))
    provider.present(fqdn, ZONE, "v")
    assert powerdns.txt(fqdn) == ["v"]
    provider.cleanup(fqdn, ZONE, "v")


@pytest.mark.parametrize(
    ("config", "secrets", "message"),
    [
        ({"options": {"auth_token": "inline"}}, {}, "webhook.config.options.auth_token: credentials are not "
         "accepted in the spec; name a Secret in webhook.config.secretRefs.auth_token"),
        ({}, {}, r'webhook.config.secretRefs.auth_token: secret "default/pdns" not found'),
        ({}, {"pdns": {"token": b"x"}}, r'webhook.config.secretRefs.auth_token: secret "default/pdns" has no key '
         r'"api-key"'),
        ({"secretRefs": {"auth_token": {"name": "pdns"}}}, {}, r"webhook.config.secretRefs.auth_token.key is "
         "required"),
        ({"ttl": "soon"}, {"pdns": {"api-key": b"x"}}, "webhook.config.ttl: not a number"),
        ({"apiKey": "x"}, {}, "webhook.config.apiKey: unknown field"),
    ],
)
def test_configuration_errors_name_the_field(
    powerdns: PowerDNSServer, config: dict[str, Any], secrets: dict[str, dict[str, bytes]], message: str
) -> None:
    block = _pdns_block(powerdns)
    block["config"] = {**block["config"], **config}
    with pytest.raises(DNS01Error, match=message):
        build_provider("webhook", block, _context(secrets))


def test_server_refusals_are_reported(powerdns: PowerDNSServer) -> None:
    wrong = build_provider("webhook", _pdns_block(powerdns), _context({"pdns": {"api-key": b"not-the-key"}}))
    with pytest.raises(DNS01Error, match=r"lexicon powerdns: authenticate: HTTP 401"):
        wrong.present("_acme-challenge.x.example.test.", ZONE, "v")
    right = build_provider("webhook", _pdns_block(powerdns), _context({"pdns": {"api-key": powerdns.api_key.encode()}}))
    with pytest.raises(DNS01Error, match=r"lexicon powerdns: authenticate: HTTP 404"):
        right.present("_acme-challenge.x.nowhere.test.", "nowhere.test.", "v")
    with pytest.raises(DNS01Error, match='lexicon: dns-lexicon has no provider "nosuchdns"'):
        build_provider("webhook", {"groupName": GROUP, "solverName": "nosuchdns", "config": {}}, _context({}))


def test_external_webhook_servers_are_named_as_such() -> None:
    block = {"groupName": "acme.mycompany.com", "solverName": "my-custom-solver", "config": {"k": "v"}}
    with pytest.raises(DNS01Unsupported, match='webhook solver "my-custom-solver" of group "acme.mycompany.com" '
                                               "is an external cert-manager webhook server"):
        build_provider("webhook", block, _context({}))


def test_route53_through_lexicon(aws_env: MotoServer) -> None:
    route53 = aws_env.client("route53")
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    block = {"groupName": GROUP, "solverName": "route53", "config": {
        "secretRefs": {"auth_access_key": {"name": "aws", "key": "id"},
                       "auth_access_secret": {"name": "aws", "key": "secret"}},
    }}
    provider = build_provider("webhook", block, _context({"aws": {"id": b"AKIDEXAMPLE", "secret": b"s3cr3t"}}))
    fqdn = "_acme-challenge.lexicon.example.test."
    provider.present(fqdn, ZONE, "through-lexicon")
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [s["ResourceRecords"] for s in sets if s["Name"] == fqdn] == [[{"Value": '"through-lexicon"'}]]
    provider.present(fqdn, ZONE, "through-lexicon")  # repeated: Route 53 refuses duplicate values
    provider.present(fqdn, ZONE, "second")  # the wildcard's value beside it
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [s["ResourceRecords"] for s in sets if s["Name"] == fqdn] == [
        [{"Value": '"through-lexicon"'}, {"Value": '"second"'}]]
    provider.cleanup(fqdn, ZONE, "through-lexicon")
    provider.cleanup(fqdn, ZONE, "through-lexicon")  # already gone: lexicon would raise, the solver does not
    provider.cleanup(fqdn, ZONE, "second")
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [s for s in sets if s["Name"] == fqdn] == []


# --------------------------------------------------------------------------- end to end


def _secret(name: str, data: dict[str, str]) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})


def test_wildcard_certificate_through_powerdns(
    tmp_path: Path, pebble_factory: PebbleFactory, powerdns: PowerDNSServer
) -> None:
    """BIND is out of the way: Pebble's VA and the propagation check ask PowerDNS."""
    pebble = pebble_factory(dns_server=powerdns.address)
    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[powerdns.address])
    try:
        daemon.apply(_secret("pdns", {"api-key": powerdns.api_key}))
        daemon.apply(acme_issuer("pdns", pebble, [{"dns01": {"webhook": _pdns_block(powerdns)}}]))
        names = ["example.test", "*.example.test"]
        daemon.apply(certificate("wild", names, "pdns"))
        daemon.wait_ready(Certificate, "wild", timeout=60)
        chain = daemon.chain("wild")
        assert sans(chain[0]) == sorted(names)
        assert_chains_to(chain, pebble.root_pem(0))
        daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 60, "challenges deleted")
        assert powerdns.txt("_acme-challenge.example.test.") == []
    finally:
        daemon.close()


def test_external_webhook_challenge_waits_with_the_reason(
    tmp_path: Path, pebble_factory: PebbleFactory, powerdns: PowerDNSServer
) -> None:
    pebble = pebble_factory(dns_server=powerdns.address)
    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[powerdns.address])
    try:
        solver = {"dns01": {"webhook": {"groupName": "acme.example.com", "solverName": "custom", "config": {}}}}
        daemon.apply(acme_issuer("ext", pebble, [solver]))
        daemon.apply(certificate("ext", [f"{unique('ext')}.example.test"], "ext"))

        def reason() -> str | None:
            for ch in daemon.store.list(Challenge, "default"):
                if ch.status and ch.status.reason and "external cert-manager webhook" in ch.status.reason:
                    return ch.status.reason
            return None

        text = daemon.wait_for(reason, 60, "the Challenge's reason")
        assert 'webhook solver "custom" of group "acme.example.com"' in text
        challenge = daemon.store.list(Challenge, "default")[0]
        assert challenge.status is not None and challenge.status.state == "pending"
        assert not challenge.status.presented
    finally:
        daemon.close()


def test_no_credential_reaches_a_reason(powerdns: PowerDNSServer) -> None:
    """Some lexicon providers put their token in a URL's query, and a server may echo it:
    the reason written to the Challenge has neither."""
    ctx = _context({"pdns": {"api-key": b"tok-1234567890"}})
    provider = build_provider("webhook", _pdns_block(powerdns), ctx)
    text = provider._redact("GET https://dns.example/update?domains=x&token=tok-1234567890 failed: tok-1234567890")
    assert "tok-1234567890" not in text
    assert text == "GET https://dns.example/update?... failed: ***"
    closed = build_provider("webhook", _pdns_block(powerdns, options={"pdns_server": "http://127.0.0.1:9"}), ctx)
    with pytest.raises(DNS01Error, match="lexicon powerdns: authenticate: ConnectionError") as caught:
        closed.present("_acme-challenge.x.example.test.", ZONE, "v")
    assert "tok-1234567890" not in str(caught.value)
