"""DNS-01 against a real BIND: RFC 2136 updates with every TSIG algorithm, errors, zone
discovery, CNAME following and propagation checks (including TCP fallback)."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from certkeeper.acme.dns01 import DNS01Error, build_provider, provider_names, register_provider
from certkeeper.acme.dns01.resolve import (
    DNSLookupError,
    challenge_record_name,
    check_propagation,
    find_zone,
    follow_cnames,
    query,
)
from certkeeper.acme.dns01.rfc2136 import RFC2136Provider, from_config
from certkeeper.acme.nameserver import split_nameserver
from certkeeper.api.acme import ACMEIssuerDNS01ProviderRFC2136
from tests.peers import BindServer, free_port, make_tls_ca_and_server_cert

pytest_plugins = ["tests.peers"]

VALUE = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"


def txt_values(bind: BindServer, fqdn: str) -> list[str]:
    """What BIND serves right now (asked over TCP so nothing is truncated)."""
    response = dns.query.tcp(dns.message.make_query(fqdn, dns.rdatatype.TXT), bind.host, port=bind.port, timeout=5)
    return sorted(b"".join(r.strings).decode() for rrset in response.answer for r in rrset)


def unique_fqdn(prefix: str) -> str:
    return f"_acme-challenge.{prefix}-{time.time_ns()}.example.test."


def provider_for(bind: BindServer, algorithm: str = "hmac-sha256", **kwargs: object) -> RFC2136Provider:
    key = bind.keys[algorithm]
    name = algorithm.replace("-", "").upper()  # hmac-sha256 -> HMACSHA256, the field's spelling
    return RFC2136Provider(
        bind.address, tsig_key_name=key.name, tsig_secret=key.secret, tsig_algorithm_name=name,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def rfc2136(bind: BindServer) -> Iterator[RFC2136Provider]:
    yield provider_for(bind)


pytestmark = pytest.mark.peers


# --------------------------------------------------------------------------- nameserver strings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5053", ("127.0.0.1", 5053)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("ns.example.test:53", ("ns.example.test", 53)),
    ],
)
def test_split_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert split_nameserver(text) == expected


@pytest.mark.parametrize("text", ["", "127.0.0.1:", "127.0.0.1:x", "[::1", "[::1]x", "127.0.0.1:70000"])
def test_split_nameserver_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        split_nameserver(text)


# --------------------------------------------------------------------------- RFC 2136


@pytest.mark.parametrize("algorithm", ["hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512"])
@pytest.mark.parametrize("protocol", ["UDP", "TCP"])
def test_rfc2136_present_and_cleanup_each_algorithm(bind: BindServer, algorithm: str, protocol: str) -> None:
    provider = provider_for(bind, algorithm, protocol=protocol.lower())
    fqdn = unique_fqdn(f"{algorithm}-{protocol}")
    provider.present(fqdn, "example.test.", VALUE)
    assert txt_values(bind, fqdn) == [VALUE]
    provider.present(fqdn, "example.test.", VALUE)  # idempotent
    assert txt_values(bind, fqdn) == [VALUE]
    provider.cleanup(fqdn, "example.test.", VALUE)
    assert txt_values(bind, fqdn) == []


def test_rfc2136_defaults_to_hmacmd5_and_names_are_case_insensitive(bind: BindServer) -> None:
    md5 = bind.keys["hmac-md5"]
    default = RFC2136Provider(bind.address, tsig_key_name=md5.name, tsig_secret=md5.secret)
    fqdn = unique_fqdn("default-md5")
    default.present(fqdn, "example.test", VALUE)
    assert txt_values(bind, fqdn) == [VALUE]
    sha512 = bind.keys["hmac-sha512"]
    mixed = RFC2136Provider(
        bind.address, tsig_key_name=sha512.name, tsig_secret=sha512.secret, tsig_algorithm_name="HmacSha512"
    )
    mixed.cleanup(fqdn, "example.test", VALUE)
    assert txt_values(bind, fqdn) == []
    with pytest.raises(DNS01Error, match="algorithm 'HMACSHA3' is not supported"):
        RFC2136Provider(bind.address, tsig_key_name="k", tsig_secret=md5.secret, tsig_algorithm_name="HMACSHA3")


def test_rfc2136_cleanup_removes_exactly_its_record(bind: BindServer, rfc2136: RFC2136Provider) -> None:
    fqdn = unique_fqdn("two-values")  # e.g. example.test and *.example.test share a record name
    rfc2136.present(fqdn, "example.test.", VALUE)
    rfc2136.present(fqdn, "example.test.", "other-value")
    assert txt_values(bind, fqdn) == sorted([VALUE, "other-value"])
    rfc2136.cleanup(fqdn, "example.test.", VALUE)
    assert txt_values(bind, fqdn) == ["other-value"]
    rfc2136.cleanup(fqdn, "example.test.", "other-value")
    assert txt_values(bind, fqdn) == []


def test_rfc2136_ttl_is_60(bind: BindServer, rfc2136: RFC2136Provider) -> None:
    fqdn = unique_fqdn("ttl")
    rfc2136.present(fqdn, "example.test.", VALUE)
    response = dns.query.tcp(dns.message.make_query(fqdn, dns.rdatatype.TXT), bind.host, port=bind.port, timeout=5)
    assert response.answer[0].ttl == 60
    rfc2136.cleanup(fqdn, "example.test.", VALUE)


def test_rfc2136_unreachable_server_gives_clear_error(bind: BindServer) -> None:
    key = bind.tsig
    port = free_port(udp_too=True)
    for protocol in ("UDP", "TCP"):
        provider = RFC2136Provider(
            f"127.0.0.1:{port}", tsig_key_name=key.name, tsig_secret=key.secret,
            tsig_algorithm_name="HMACSHA256", protocol=protocol, timeout=0.5,
        )
        with pytest.raises(DNS01Error) as failed:
            provider.present(unique_fqdn("unreachable"), "example.test.", VALUE)
        message = str(failed.value)
        assert message.startswith("DNS update failed")
        assert f"127.0.0.1:{port}" in message and protocol in message


def test_rfc2136_refusals_carry_the_rcode(bind: BindServer) -> None:
    unsigned = RFC2136Provider(bind.address)
    with pytest.raises(DNS01Error, match=r"^DNS update failed. Server replied: REFUSED$"):
        unsigned.present(unique_fqdn("unsigned"), "example.test.", VALUE)
    signed = provider_for(bind)
    with pytest.raises(DNS01Error, match=r"^DNS update failed. Server replied: NOTAUTH$"):
        signed.present("_acme-challenge.x.other.test.", "other.test.", VALUE)
    wrong_secret = RFC2136Provider(
        bind.address, tsig_key_name=bind.tsig.name, tsig_secret="d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
        tsig_algorithm_name="HMACSHA256",
    )
    with pytest.raises(DNS01Error, match="DNS update failed"):
        wrong_secret.present(unique_fqdn("badsig"), "example.test.", VALUE)
    with pytest.raises(DNS01Error, match="not valid base64"):
        RFC2136Provider(bind.address, tsig_key_name="k", tsig_secret="***")


def test_registry_builds_rfc2136_from_the_issuer_block(bind: BindServer) -> None:
    assert "rfc2136" in provider_names()
    secrets = {("tsig-secret", "secret"): bind.tsig.secret.encode()}
    block = ACMEIssuerDNS01ProviderRFC2136.model_validate(
        {
            "nameserver": bind.address,
            "tsigKeyName": bind.tsig.name,
            "tsigAlgorithm": "hmacsha256",
            "tsigSecretSecretRef": {"name": "tsig-secret", "key": "secret"},
            "protocol": "TCP",
        }
    )
    provider = build_provider("rfc2136", block, lambda name, key: secrets[(name, key)])
    fqdn = unique_fqdn("registry")
    provider.present(fqdn, "example.test.", VALUE)
    assert txt_values(bind, fqdn) == [VALUE]
    provider.cleanup(fqdn, "example.test.", VALUE)
    with pytest.raises(DNS01Error, match="no DNS01 provider registered for 'nosuchdns'"):
        build_provider("nosuchdns", {}, lambda name, key: b"")
    register_provider("rfc2136-alias", from_config)  # a plug-in registers the same way
    assert "rfc2136-alias" in provider_names()


# --------------------------------------------------------------------------- zone and CNAMEs


def test_find_zone_walks_up_to_the_soa(bind: BindServer) -> None:
    servers = [bind.address]
    assert find_zone("_acme-challenge.www.example.test.", servers) == "example.test."
    assert find_zone("_acme-challenge.a.b.example.test", servers) == "example.test."
    assert find_zone("_acme-challenge.x.sub.example.test.", servers) == "sub.example.test."
    assert find_zone("example.test.", servers) == "example.test."
    with pytest.raises(DNSLookupError, match="Unexpected response code 'REFUSED'"):
        find_zone("_acme-challenge.www.elsewhere.invalid.", servers)


def test_follow_cnames_and_loop_detection(bind: BindServer) -> None:
    servers = [bind.address]
    target = "_acme-challenge.target.example.test."
    assert follow_cnames("_acme-challenge.follow.example.test", servers) == target
    assert follow_cnames("_acme-challenge.chain.example.test.", servers) == target
    assert follow_cnames("_acme-challenge.plain.example.test.", servers) == "_acme-challenge.plain.example.test."
    with pytest.raises(DNSLookupError, match="Found recursive CNAME record"):
        follow_cnames("_acme-challenge.loop1.example.test.", servers)
    # the zone of a CNAME target is the target's zone
    tosub = follow_cnames("_acme-challenge.tosub.example.test.", servers)
    assert find_zone(tosub, servers) == "sub.example.test."


def test_challenge_record_name() -> None:
    assert challenge_record_name("www.example.test") == "_acme-challenge.www.example.test."
    assert challenge_record_name("*.example.test") == "_acme-challenge.example.test."


# --------------------------------------------------------------------------- propagation


@pytest.mark.parametrize("authoritative", [True, False])
def test_check_propagation(bind: BindServer, rfc2136: RFC2136Provider, authoritative: bool) -> None:
    fqdn = unique_fqdn(f"prop-{authoritative}")
    servers = [bind.address]
    assert check_propagation(fqdn, VALUE, nameservers=servers, authoritative=authoritative) == (
        f'DNS record for "{fqdn}" not yet propagated'
    )
    rfc2136.present(fqdn, "example.test.", "some-other-value")
    assert check_propagation(fqdn, VALUE, nameservers=servers, authoritative=authoritative) is not None
    rfc2136.present(fqdn, "example.test.", VALUE)
    assert check_propagation(fqdn, VALUE, nameservers=servers, authoritative=authoritative) is None
    rfc2136.cleanup(fqdn, "example.test.", VALUE)
    rfc2136.cleanup(fqdn, "example.test.", "some-other-value")


def test_check_propagation_authoritative_port(bind: BindServer, rfc2136: RFC2136Provider) -> None:
    fqdn = unique_fqdn("port")
    rfc2136.present(fqdn, "example.test.", VALUE)
    servers = [bind.address]
    # ns.example.test resolves to 127.0.0.1, the given server's address: its port is used
    assert check_propagation(fqdn, VALUE, nameservers=servers, authoritative=True) is None
    assert check_propagation(
        fqdn, VALUE, nameservers=servers, authoritative=True, authoritative_port=bind.port
    ) is None
    closed = free_port(udp_too=True)
    reason = check_propagation(
        fqdn, VALUE, nameservers=servers, authoritative=True, authoritative_port=closed, timeout=0.3
    )
    assert reason is not None and f"127.0.0.1:{closed}" in reason
    rfc2136.cleanup(fqdn, "example.test.", VALUE)


def test_check_propagation_through_cname(bind: BindServer, rfc2136: RFC2136Provider) -> None:
    target = "_acme-challenge.target.example.test."
    rfc2136.present(target, "example.test.", VALUE)
    try:
        for authoritative in (True, False):
            assert check_propagation(
                "_acme-challenge.follow.example.test.", VALUE, nameservers=[bind.address], authoritative=authoritative
            ) is None
    finally:
        rfc2136.cleanup(target, "example.test.", VALUE)


def test_check_propagation_unreachable_server() -> None:
    closed = free_port(udp_too=True)
    reason = check_propagation(
        unique_fqdn("down"), VALUE, nameservers=[f"127.0.0.1:{closed}"], authoritative=False, timeout=0.3
    )
    assert reason is not None and "failed" in reason and f"127.0.0.1:{closed}" in reason


def test_large_answers_fall_back_to_tcp(bind: BindServer, rfc2136: RFC2136Provider) -> None:
    fqdn = unique_fqdn("big")
    values = [f"{i:02d}-" + "x" * 200 for i in range(20)]  # ~4 KiB: over any UDP payload we offer
    for value in values:
        rfc2136.present(fqdn, "example.test.", value)
    try:
        udp = dns.query.udp(dns.message.make_query(fqdn, dns.rdatatype.TXT), bind.host, port=bind.port, timeout=5)
        assert udp.flags & dns.flags.TC  # BIND truncates over UDP
        response = query(fqdn, dns.rdatatype.TXT, [bind.address])
        assert sum(len(rrset) for rrset in response.answer) == 20
        assert check_propagation(fqdn, values[-1], nameservers=[bind.address], authoritative=True) is None
    finally:
        for value in values:
            rfc2136.cleanup(fqdn, "example.test.", value)


# --------------------------------------------------------------------------- DNS over HTTPS


class _DoHHandler(BaseHTTPRequestHandler):
    """A real RFC 8484 endpoint in front of BIND (POST /dns-query)."""

    server: _DoHServer

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/dns-query" or self.headers.get("Content-Type") != "application/dns-message":
            self.send_response(415)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = dns.query.tcp(dns.message.from_wire(body), self.server.bind.host, port=self.server.bind.port, timeout=5)
        wire = answer.to_wire()
        self.send_response(200)
        self.send_header("Content-Type", "application/dns-message")
        self.send_header("Content-Length", str(len(wire)))
        self.end_headers()
        self.wfile.write(wire)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class _DoHServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bind: BindServer) -> None:
        super().__init__(("127.0.0.1", 0), _DoHHandler)
        self.bind = bind


@pytest.fixture
def doh_url(bind: BindServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    ca, cert, key = make_tls_ca_and_server_cert(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    server = _DoHServer(bind)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/dns-query"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_propagation_and_zone_over_doh(doh_url: str, rfc2136: RFC2136Provider) -> None:
    fqdn = unique_fqdn("doh")
    assert check_propagation(fqdn, VALUE, nameservers=[doh_url], authoritative=False) == (
        f'DNS record for "{fqdn}" not yet propagated'
    )
    rfc2136.present(fqdn, "example.test.", VALUE)
    try:
        assert check_propagation(fqdn, VALUE, nameservers=[doh_url], authoritative=False) is None
        assert find_zone(unique_fqdn("doh-zone"), [doh_url]) == "example.test."
        wrong_path = doh_url.replace("/dns-query", "/other")
        reason = check_propagation(fqdn, VALUE, nameservers=[wrong_path], authoritative=False)
        assert reason is not None and "HTTP 415" in reason
    finally:
        rfc2136.cleanup(fqdn, "example.test.", VALUE)


def test_provider_sdks_are_loaded_only_when_used() -> None:
    """A daemon that never solves with Route 53 or lexicon does not pay for their import."""
    code = (
        "import sys, certkeeper.daemon, certkeeper.controllers.acme.solvers\n"
        "from certkeeper.acme.dns01 import get_provider_factory\n"
        "get_provider_factory('rfc2136')\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'lexicon', 'tldextract') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "get_provider_factory('route53')\n"
        "assert 'certkeeper.acme.dns01.route53' in sys.modules and 'boto3' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_providers_are_reused_while_their_secrets_are_unchanged(tmp_path: Path, bind: BindServer) -> None:
    """A propagation check polls often: the provider (and its credentials) is built once,
    and again only when a Secret it read changed."""
    from certkeeper.api.acme import Challenge
    from certkeeper.api.core import Secret
    from certkeeper.controllers.acme.solvers import DNS01Solver, SolverFailure
    from tests.test_acme_daemon_support import LiveDaemon

    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[bind.address])
    try:
        secret = Secret.new("tsig", "default")
        secret.set("secret", bind.tsig.secret.encode())
        daemon.store.create(secret)
        challenge = Challenge.from_dict({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"type": "DNS-01", "dnsName": "www.example.test", "issuerRef": {"name": "i", "kind": "Issuer"},
                     "solver": {"dns01": {"rfc2136": {"nameserver": bind.address, "tsigKeyName": bind.tsig.name,
                                                      "tsigAlgorithm": "HMACSHA256",
                                                      "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}}},
        })
        solver = DNS01Solver(daemon.manager.ctx)
        first = solver._provider(challenge)
        assert DNS01Solver(daemon.manager.ctx)._provider(challenge) is first
        stored = daemon.store.get(Secret, "default", "tsig")
        stored.set("secret", bind.keys["hmac-sha512"].secret.encode())
        daemon.store.update(stored)
        second = solver._provider(challenge)
        assert second is not first
        assert isinstance(first, RFC2136Provider) and first.keyring is not None
        assert isinstance(second, RFC2136Provider) and second.keyring is not None
        assert [k.secret for k in second.keyring.values()] != [k.secret for k in first.keyring.values()]
        daemon.store.delete(Secret, "default", "tsig")
        with pytest.raises(SolverFailure, match='secret "default/tsig" not found'):
            solver._provider(challenge)
    finally:
        daemon.close()
