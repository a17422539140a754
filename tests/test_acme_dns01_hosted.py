"""cert-manager's hosted DNS-01 providers (Cloudflare, Google Cloud DNS, Azure DNS,
DigitalOcean, Akamai, ACME-DNS) with their exact issuer fields and credential Secrets.

None of these services runs here, so each is tested against a local HTTPS stand-in
(tests/standins.py) implementing the documented endpoints the solver uses and checking
credentials as the service does. acme-dns too: its Go module is not available from the
module proxy here, so its three documented endpoints are a stand-in as well. A wildcard
certificate is issued through each by Pebble, which resolves through a DNS front end
serving the stand-in's records.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from certkeeper.acme.dns01 import ChangeTracking, DNS01Error, ProviderContext, build_provider
from certkeeper.api.acme import Challenge
from certkeeper.api.certificate import Certificate
from tests.peers import PebbleFactory
from tests.standins import (
    AcmeDNSStandIn,
    AkamaiStandIn,
    AzureStandIn,
    CloudDNSStandIn,
    CloudflareStandIn,
    DigitalOceanStandIn,
    StandIn,
    ZoneNameserver,
)
from tests.test_acme_daemon_support import LiveDaemon, acme_issuer, assert_chains_to, certificate, sans

pytest_plugins = ["tests.peers"]

ZONE = "example.test."
FQDN = "_acme-challenge.www.example.test."
AUTH_ZONE = "auth.example.test"


def value(n: int) -> str:
    """A DNS-01 value: 43 characters of base64url, as acme-dns insists."""
    return base64.urlsafe_b64encode(hashlib.sha256(str(n).encode()).digest()).rstrip(b"=").decode()


@dataclass
class Case:
    """One provider: its solver block, the Secrets it names, the stand-in and the
    environment that points the solver at the stand-in."""

    field: str
    stand_in: StandIn
    block: dict[str, Any]
    secrets: dict[str, dict[str, str]]
    env: dict[str, str] = field(default_factory=dict)
    #: the Secret and key holding the credential that is swapped for a wrong one
    credential: tuple[str, str] = ("", "")
    wrong: str = "wrong-credential"
    #: where a value for FQDN lands (acme-dns: its own subdomain)
    record: str = FQDN
    cnames: dict[str, str] = field(default_factory=dict)

    def context(self, secrets: dict[str, dict[str, str]] | None = None, ambient: bool = False) -> ProviderContext:
        data = self.secrets if secrets is None else secrets

        def get(name: str, key: str) -> bytes:
            if name not in data:
                raise DNS01Error(f'secret "default/{name}" not found')
            if key not in data[name]:
                raise DNS01Error(f'secret "default/{name}" has no key "{key}"')
            return data[name][key].encode()

        return ProviderContext(get_secret=get, namespace="default", ambient_credentials=ambient)

    def provider(self, **kwargs: Any) -> Any:
        return build_provider(self.field, self.block, self.context(**kwargs))

    def manifests(self) -> str:
        return "---\n".join(
            yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
            for name, data in self.secrets.items()
        )


def _cloudflare(tmp: Path) -> Case:
    s = CloudflareStandIn(tmp, {"example.test": "zone-cf-1"}, token="cf-token", key="cf-global-key",
                          email="ops@example.test")
    return Case("cloudflare", s, {"apiTokenSecretRef": {"name": "cloudflare", "key": "api-token"}},
                {"cloudflare": {"api-token": "cf-token"}}, {"CERTKEEPER_CLOUDFLARE_API_URL": f"{s.url}/client/v4"},
                ("cloudflare", "api-token"))


def _digitalocean(tmp: Path) -> Case:
    s = DigitalOceanStandIn(tmp, {"example.test"}, token="do-token")
    return Case("digitalocean", s, {"tokenSecretRef": {"name": "digitalocean", "key": "access-token"}},
                {"digitalocean": {"access-token": "do-token"}}, {"CERTKEEPER_DIGITALOCEAN_API_URL": f"{s.url}/v2"},
                ("digitalocean", "access-token"))


def _service_account(url: str, key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
                       "private_key": pem, "client_email": "dns@proj-1.iam.gserviceaccount.com",
                       "token_uri": f"{url}/token"})


def _clouddns(tmp: Path) -> Case:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    s = CloudDNSStandIn(tmp, "proj-1", {ZONE: "example-zone"}, key, "dns@proj-1.iam.gserviceaccount.com")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Case("cloudDNS", s, {"project": "proj-1", "serviceAccountSecretRef": {"name": "gcp", "key": "key.json"}},
                {"gcp": {"key.json": _service_account(s.url, key)}}, {"CERTKEEPER_CLOUDDNS_API_URL": f"{s.url}/dns/v1"},
                ("gcp", "key.json"), wrong=_service_account(s.url, other))


def _azure(tmp: Path) -> Case:
    s = AzureStandIn(tmp, "tenant-1", "client-1", "azure-secret", "sub-1", "dns-rg", {"example.test"})
    block = {"clientID": "client-1", "tenantID": "tenant-1", "subscriptionID": "sub-1",
             "resourceGroupName": "dns-rg", "clientSecretSecretRef": {"name": "azure", "key": "client-secret"}}
    return Case("azureDNS", s, block, {"azure": {"client-secret": "azure-secret"}},
                {"CERTKEEPER_AZURE_AUTHORITY_URL": s.url, "CERTKEEPER_AZURE_RESOURCE_MANAGER_URL": s.url},
                ("azure", "client-secret"))


def _akamai(tmp: Path) -> Case:
    s = AkamaiStandIn(tmp, {"example.test"}, "akab-client-token", "client-secret-value", "akab-access-token")
    refs = {"clientTokenSecretRef": {"name": "akamai", "key": "clientToken"},
            "clientSecretSecretRef": {"name": "akamai", "key": "clientSecret"},
            "accessTokenSecretRef": {"name": "akamai", "key": "accessToken"}}
    return Case("akamai", s, {"serviceConsumerDomain": f"127.0.0.1:{s.port}", **refs},
                {"akamai": {"clientToken": "akab-client-token", "clientSecret": "client-secret-value",
                            "accessToken": "akab-access-token"}}, {}, ("akamai", "clientSecret"))


def _acmedns(tmp: Path) -> Case:
    s = AcmeDNSStandIn(tmp, AUTH_ZONE)
    account = requests.post(f"{s.url}/register", verify=str(s.ca_path), timeout=5).json()
    accounts = {"example.test": account, "www.example.test": account}
    return Case("acmeDNS", s, {"host": s.url, "accountSecretRef": {"name": "acme-dns", "key": "acmedns.json"}},
                {"acme-dns": {"acmedns.json": json.dumps(accounts)}}, {}, ("acme-dns", "acmedns.json"),
                wrong=json.dumps({d: {**account, "password": "not-the-password"} for d in accounts}),
                record=f"{account['fulldomain']}.",
                cnames={"_acme-challenge.example.test": account["fulldomain"]})


CASES: dict[str, Callable[[Path], Case]] = {
    "cloudflare": _cloudflare, "cloudDNS": _clouddns, "azureDNS": _azure, "digitalocean": _digitalocean,
    "akamai": _akamai, "acmeDNS": _acmedns,
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Case]:
    built = CASES[request.param](tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(built.stand_in.ca_path))
    for name, val in built.env.items():
        monkeypatch.setenv(name, val)
    try:
        yield built
    finally:
        built.stand_in.close()


def test_present_and_cleanup(case: Case) -> None:
    provider = case.provider()
    provider.present(FQDN, ZONE, value(1))
    provider.present(FQDN, ZONE, value(2))  # the wildcard's challenge at the same name
    if case.field != "acmeDNS":  # acme-dns rotates its two latest values: a repeat would push one out
        provider.present(FQDN, ZONE, value(2))  # repeated: nothing more
    assert sorted(case.stand_in.records.get(case.record)) == sorted([value(1), value(2)])
    provider.cleanup(FQDN, ZONE, value(1))
    if case.field == "acmeDNS":  # acme-dns keeps the two latest values itself; CleanUp sends nothing
        assert [r.path for r in case.stand_in.requests].count("/update") == 2
        return
    assert case.stand_in.records.get(case.record) == [value(2)]
    provider.cleanup(FQDN, ZONE, value(2))
    provider.cleanup(FQDN, ZONE, value(2))  # already gone: no error
    assert case.stand_in.records.get(case.record) == []


def test_wrong_credentials_are_named(case: Case) -> None:
    name, key = case.credential
    secrets = {**case.secrets, name: {**case.secrets[name], key: case.wrong}}
    with pytest.raises(DNS01Error, match=r"HTTP (400|401|403) \(the credentials were refused\)") as caught:
        case.provider(secrets=secrets).present(FQDN, ZONE, value(1))
    assert str(caught.value).startswith(case.field.lower())


def test_missing_secret_and_key_are_named(case: Case) -> None:
    name, key = case.credential
    ref_field = next(f for f, v in case.block.items() if isinstance(v, dict) and v == {"name": name, "key": key})
    with pytest.raises(DNS01Error, match=f'SecretRef: secret "default/{name}" not found'):
        case.provider(secrets={n: d for n, d in case.secrets.items() if n != name})
    with pytest.raises(DNS01Error, match=f'{ref_field}: secret "default/{name}" has no key "{key}"'):
        case.provider(secrets={**case.secrets, name: {k: v for k, v in case.secrets[name].items() if k != key}})


def test_a_zone_the_provider_does_not_have_is_named(case: Case) -> None:
    provider = case.provider()
    if case.field == "acmeDNS":
        with pytest.raises(DNS01Error, match='accountSecretRef has no account for domain "x.nowhere.test"'):
            provider.present("_acme-challenge.x.nowhere.test.", "nowhere.test.", value(1))
        return
    with pytest.raises(DNS01Error, match="nowhere") as caught:
        provider.present("_acme-challenge.x.nowhere.test.", "nowhere.test.", value(1))
    assert "credentials" not in str(caught.value)


@pytest.mark.parametrize(
    ("field_name", "block", "message"),
    [
        ("cloudflare", {"apiKeySecretRef": {"name": "cloudflare", "key": "api-key"}}, "email is required"),
        ("cloudflare", {}, "apiTokenSecretRef or apiKeySecretRef is required"),
        ("cloudDNS", {"serviceAccountSecretRef": {"name": "gcp", "key": "key.json"}}, "project is required"),
        ("cloudDNS", {"project": "p"}, "ambient credentials are not allowed for an Issuer"),
        ("azureDNS", {"clientID": "c", "subscriptionID": "s", "resourceGroupName": "r",
                      "clientSecretSecretRef": {"name": "azure", "key": "k"}}, "tenantID is required"),
        ("azureDNS", {"subscriptionID": "s", "resourceGroupName": "r"}, "managed identity.*not allowed for an Issuer"),
        ("azureDNS", {"subscriptionID": "s", "resourceGroupName": "r", "environment": "Mars"}, "environment 'Mars'"),
        ("akamai", {"clientTokenSecretRef": {"name": "a", "key": "b"}}, "serviceConsumerDomain is required"),
        ("acmeDNS", {"accountSecretRef": {"name": "a", "key": "b"}}, "host is required"),
        ("digitalocean", {}, "tokenSecretRef is required"),
    ],
)
def test_incomplete_blocks_name_the_field(field_name: str, block: dict[str, Any], message: str) -> None:
    context = ProviderContext(get_secret=lambda name, key: b"x")
    with pytest.raises(DNS01Error, match=message):
        build_provider(field_name, block, context)


def test_cloudflare_key_and_email(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _cloudflare(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(case.stand_in.ca_path))
    monkeypatch.setenv("CERTKEEPER_CLOUDFLARE_API_URL", f"{case.stand_in.url}/client/v4")
    block = {"email": "ops@example.test", "apiKeySecretRef": {"name": "cf", "key": "api-key"}}
    build_provider("cloudflare", block, case.context({"cf": {"api-key": "cf-global-key"}})).present(FQDN, ZONE, "v")
    assert case.stand_in.records.get(FQDN) == ["v"]
    assert case.stand_in.requests[-1].headers["x-auth-email"] == "ops@example.test"
    case.stand_in.close()


def test_clouddns_waits_for_the_change_to_be_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _clouddns(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(case.stand_in.ca_path))
    monkeypatch.setenv("CERTKEEPER_CLOUDDNS_API_URL", f"{case.stand_in.url}/dns/v1")
    assert isinstance(case.stand_in, CloudDNSStandIn)
    case.stand_in.pending_polls = 2
    provider = case.provider()
    assert isinstance(provider, ChangeTracking)
    provider.present(FQDN, ZONE, value(1))
    assert provider.pending_reason(FQDN, ZONE, value(1)) == "Cloud DNS change 1 is pending, waiting for done"
    assert provider.pending_reason(FQDN, ZONE, value(1)) == "Cloud DNS change 1 is pending, waiting for done"
    assert provider.pending_reason(FQDN, ZONE, value(1)) is None
    assert provider.pending_reason(FQDN, ZONE, value(1)) is None  # done is remembered: no more calls
    case.stand_in.close()


def test_azure_private_zone_and_hosted_zone_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _azure(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(case.stand_in.ca_path))
    for name, val in case.env.items():
        monkeypatch.setenv(name, val)
    block = {**case.block, "zoneType": "AzurePrivateZone", "hostedZoneName": "example.test"}
    provider = build_provider("azureDNS", block, case.context())
    provider.present(FQDN, "www.example.test.", value(1))  # hostedZoneName wins over the SOA zone
    assert case.stand_in.records.get(FQDN) == [value(1)]
    paths = [r.path for r in case.stand_in.requests if "Microsoft.Network" in r.path]
    assert paths[-1].endswith("/privateDnsZones/example.test/TXT/_acme-challenge.www")
    case.stand_in.close()


def test_every_cert_manager_provider_is_registered() -> None:
    """Every provider of cert-manager's schema is registered (none is reported unsupported)."""
    from certkeeper.acme.dns01 import provider_names
    from certkeeper.api.acme import ACMEChallengeSolverDNS01

    fields = {info.alias or name for name, info in ACMEChallengeSolverDNS01.model_fields.items()
              if name not in ("cname_strategy", "nameservers")}
    assert fields <= set(provider_names())
    for name in fields:
        from certkeeper.acme.dns01.provider import get_provider_factory

        assert callable(get_provider_factory(name))


# --------------------------------------------------------------------------- end to end


def test_wildcard_certificate_through_the_stand_in(
    case: Case, tmp_path: Path, pebble_factory: PebbleFactory
) -> None:
    front = ZoneNameserver(ZONE, case.stand_in.records.get, case.cnames)
    pebble = pebble_factory(dns_server=front.address)
    (tmp_path / "daemon").mkdir()
    daemon = LiveDaemon(tmp_path / "daemon", http01_address=None, dns01_recursive_nameservers=[front.address])
    try:
        daemon.apply(case.manifests())
        daemon.apply(acme_issuer("hosted", pebble, [{"dns01": {case.field: case.block}}]))
        names = ["example.test", "*.example.test"]
        daemon.apply(certificate("wild", names, "hosted"))
        daemon.wait_ready(Certificate, "wild", timeout=60)
        chain = daemon.chain("wild")
        assert sans(chain[0]) == sorted(names)
        assert_chains_to(chain, pebble.root_pem(0))
        daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 60, "challenges deleted")
        if case.field != "acmeDNS":
            assert case.stand_in.records.get("_acme-challenge.example.test.") == []
    finally:
        daemon.close()
        front.close()


def test_bad_credentials_show_on_the_challenge(case: Case, tmp_path: Path, pebble_factory: PebbleFactory) -> None:
    front = ZoneNameserver(ZONE, case.stand_in.records.get, case.cnames)
    pebble = pebble_factory(dns_server=front.address)
    (tmp_path / "daemon").mkdir()
    daemon = LiveDaemon(tmp_path / "daemon", http01_address=None, dns01_recursive_nameservers=[front.address])
    try:
        name, key = case.credential
        case.secrets[name][key] = case.wrong
        daemon.apply(case.manifests())
        daemon.apply(acme_issuer("hosted", pebble, [{"dns01": {case.field: case.block}}]))
        daemon.apply(certificate("bad", ["example.test"], "hosted"))

        def reason() -> str | None:
            for ch in daemon.store.list(Challenge, "default"):
                text = ch.status.reason if ch.status else None
                if text and "the credentials were refused" in text:
                    return text
            return None

        text = daemon.wait_for(reason, 60, "the Challenge's reason")
        assert text.startswith(case.field.lower())
        assert case.wrong not in text  # no credential in the status
    finally:
        daemon.close()
        front.close()


@pytest.mark.parametrize("field_name", ["cloudDNS", "azureDNS"])
def test_cluster_issuers_use_the_machine_identity(
    field_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without credentials in the block, a ClusterIssuer asks the machine's metadata
    service (GCE metadata server, Azure instance metadata) for a token."""
    case = CASES[field_name](tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(case.stand_in.ca_path))
    for name, val in case.env.items():
        monkeypatch.setenv(name, val)
    if field_name == "cloudDNS":
        monkeypatch.setenv("CERTKEEPER_GCE_METADATA_URL",
                           f"{case.stand_in.url}/computeMetadata/v1/instance/service-accounts/default/token")
        block = {"project": "proj-1"}
    else:
        monkeypatch.setenv("CERTKEEPER_AZURE_IMDS_URL", f"{case.stand_in.url}/metadata/identity/oauth2/token")
        block = {k: v for k, v in case.block.items() if k in ("subscriptionID", "resourceGroupName")}
        block["managedIdentity"] = {"clientID": "client-1"}
    provider = build_provider(field_name, block, case.context(ambient=True))
    provider.present(FQDN, ZONE, value(1))
    assert case.stand_in.records.get(FQDN) == [value(1)]
    assert not any("token" in r.path and r.method == "POST" for r in case.stand_in.requests)
    case.stand_in.close()
