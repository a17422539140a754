"""AcmeClient against a real Pebble (and BIND for DNS-01): accounts, EAB, issuance over
HTTP-01 and DNS-01, preferredChain, badNonce storms, failed challenges and restarts."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certkeeper.acme.client import AcmeClient
from certkeeper.acme.dns01.resolve import challenge_record_name, check_propagation, find_zone
from certkeeper.acme.dns01.rfc2136 import RFC2136Provider
from certkeeper.acme.errors import AcmeNetworkError, AcmeProblemError, AcmeProtocolError, AcmeTerminalError
from certkeeper.acme.http01 import Http01Responder
from certkeeper.acme.resources import Order
from tests.peers import EAB_HMAC_KEY, EAB_KID, BindServer, PebbleFactory, PebbleServer

pytest_plugins = ["tests.peers"]
pytestmark = pytest.mark.peers

Solver = Callable[[AcmeClient, str, str], Callable[[], None]]
"""(client, dnsName, token) -> present the challenge; returns its cleanup."""


# --------------------------------------------------------------------------- helpers


def unique_name(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}.example.test"


def make_client(server: PebbleServer) -> AcmeClient:
    """RSA-2048 account key, as cert-manager generates; a short request timeout so a
    stuck peer fails the test quickly instead of after the production 90 s."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return AcmeClient(server.directory_url, key, ca_bundle=server.ca_bundle, timeout=15)


def make_csr(names: list[str]) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


def issue(
    client: AcmeClient, names: list[str], challenge_type: str, solve: Solver, preferred_chain: str | None = None
) -> tuple[str, Order, float]:
    """The whole library-level flow; returns (PEM chain, final order, seconds taken)."""
    started = time.perf_counter()
    order = client.new_order([("dns", n) for n in names])
    cleanups: list[Callable[[], None]] = []
    try:
        for url in order.authorizations:
            authz = client.get_authorization(url)
            if authz.status == "valid":
                continue
            challenge = authz.challenge(challenge_type)
            assert challenge is not None, authz
            cleanups.append(solve(client, authz.identifier.value, challenge.token))
            client.answer_challenge(challenge.url)
        for url in order.authorizations:
            authz = client.wait_authorization(url)
            assert authz.status == "valid", authz
        order = client.wait_order(order.url)
        assert order.status == "ready", order
        csr_pem, _ = make_csr(names)
        order = client.finalize(order, csr_pem)
        order = client.wait_order(order.url)
        assert order.status == "valid" and order.certificate, order
        pem = client.fetch_certificate(order.certificate, preferred_chain)
    finally:
        for cleanup in cleanups:
            cleanup()
    return pem, order, time.perf_counter() - started


def http01_solver(responder: Http01Responder) -> Solver:
    def solve(client: AcmeClient, dns_name: str, token: str) -> Callable[[], None]:
        responder.present(dns_name, token, client.key_authorization(token))
        return lambda: responder.cleanup(dns_name, token)

    return solve


def dns01_solver(bind: BindServer) -> Solver:
    provider = RFC2136Provider(
        bind.address, tsig_key_name=bind.tsig.name, tsig_secret=bind.tsig.secret,
        tsig_algorithm_name="HMACSHA256",
    )

    def solve(client: AcmeClient, dns_name: str, token: str) -> Callable[[], None]:
        fqdn = challenge_record_name(dns_name)
        zone = find_zone(fqdn, [bind.address])
        value = client.dns01_value(token)
        provider.present(fqdn, zone, value)
        assert check_propagation(fqdn, value, nameservers=[bind.address], authoritative=True) is None
        return lambda: provider.cleanup(fqdn, zone, value)

    return solve


def load_chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def assert_chains_to(chain: list[x509.Certificate], root_pem: bytes) -> None:
    """Every certificate is signed by the next, and the last by the given root."""
    root = x509.load_pem_x509_certificate(root_pem)
    for child, parent in zip(chain, [*chain[1:], root], strict=True):
        assert child.issuer == parent.subject
        child.verify_directly_issued_by(parent)


def sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def responder(pebble: PebbleServer) -> Iterator[Http01Responder]:
    """The built-in HTTP-01 responder on the port Pebble's VA dials."""
    with Http01Responder(f"127.0.0.1:{pebble.http_port}") as running:
        yield running


@pytest.fixture
def client(pebble: PebbleServer) -> Iterator[AcmeClient]:
    with make_client(pebble) as acme:
        acme.register("ops@example.test")
        yield acme


# --------------------------------------------------------------------------- accounts


def test_register_creates_then_finds_account_and_updates_contact(pebble: PebbleServer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with AcmeClient(pebble.directory_url, key, ca_bundle=pebble.ca_bundle) as first:
        uri = first.register("First@Example.test")
        assert uri.startswith(f"https://127.0.0.1:{pebble.listen_port}/")
        assert first.get_account()["contact"] == ["mailto:first@example.test"]
    with AcmeClient(pebble.directory_url, key, ca_bundle=pebble.ca_bundle) as again:
        assert again.register("second@example.test") == uri  # same key: existing account
        assert again.get_account()["contact"] == ["mailto:second@example.test"]
        assert again.register(None) == uri
        assert again.get_account().get("contact", []) == []


def test_use_account_skips_registration(pebble: PebbleServer, client: AcmeClient) -> None:
    with AcmeClient(pebble.directory_url, client.key, ca_bundle=pebble.ca_bundle) as reused:
        assert client.account_uri is not None
        reused.use_account(client.account_uri)
        order = reused.new_order([("dns", unique_name("reuse"))])
        assert order.status == "pending"


def test_external_account_binding(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(eab_required=True, eab_keys={EAB_KID: EAB_HMAC_KEY})
    with make_client(server) as without:
        assert without.external_account_required()
        with pytest.raises(AcmeTerminalError) as refused:
            without.register("ops@example.test")
        assert refused.value.code == "externalAccountRequired"
        assert not refused.value.retryable
    with make_client(server) as wrong, pytest.raises(AcmeTerminalError):
        wrong.register("ops@example.test", eab=(EAB_KID, "c2VjcmV0LXRoYXQtaXMtd3Jvbmc"))
    with make_client(server) as bound:
        uri = bound.register("ops@example.test", eab=(EAB_KID, EAB_HMAC_KEY))
        assert bound.get_account()["status"] == "valid"
        assert uri == bound.account_uri


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_trust_from_ca_bundle_or_skip(pebble: PebbleServer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with AcmeClient(pebble.directory_url, key) as untrusted, pytest.raises(AcmeNetworkError) as failed:
        untrusted.register(None)
    assert failed.value.retryable and "certificate verify failed" in str(failed.value).lower()
    with AcmeClient(pebble.directory_url, key, skip_tls_verify=True) as skipping:
        assert skipping.register(None)
    trusted = AcmeClient(pebble.directory_url, key, ca_bundle=pebble.ca_bundle)
    bundle = Path(str(trusted.net.verify_ssl))
    assert bundle.read_bytes() == pebble.ca_bundle and bundle.stat().st_mode & 0o077 == 0
    assert trusted.register(None)
    trusted.close()
    assert not bundle.exists()
    with pytest.raises(ValueError):
        AcmeClient(pebble.directory_url, key, ca_bundle=pebble.ca_bundle, skip_tls_verify=True)


def test_requests_ca_bundle_variable_is_honoured(pebble: PebbleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pebble.ca_bundle_path))
    with AcmeClient(pebble.directory_url, ec.generate_private_key(ec.SECP256R1())) as client:
        assert client.register(None)


def test_ecdsa_account_key_is_accepted(pebble: PebbleServer) -> None:
    with AcmeClient(pebble.directory_url, ec.generate_private_key(ec.SECP384R1()), ca_bundle=pebble.ca_bundle) as c:
        assert c.register(None)
        assert c.new_order([("dns", unique_name("ec"))]).status == "pending"


# --------------------------------------------------------------------------- issuance


def test_issue_http01_end_to_end(pebble: PebbleServer, client: AcmeClient, responder: Http01Responder) -> None:
    names = [unique_name("http"), unique_name("www-http")]
    pem, order, seconds = issue(client, names, "http-01", http01_solver(responder))
    print(f"\nHTTP-01 certificate for {len(names)} names in {seconds * 1000:.1f} ms")
    chain = load_chain(pem)
    assert sorted(sans(chain[0])) == sorted(names)
    assert_chains_to(chain, pebble.root_pem(0))
    assert {(i.type, i.value) for i in order.identifiers} == {("dns", n) for n in names}
    # the responder forgot the tokens after cleanup
    assert responder._keys == {}


def test_issue_http01_timing(pebble: PebbleServer, client: AcmeClient, responder: Http01Responder) -> None:
    times = []
    for _ in range(5):
        name = unique_name("timing")
        pem, _, seconds = issue(client, [name], "http-01", http01_solver(responder))
        assert sans(load_chain(pem)[0]) == [name]
        times.append(seconds * 1000)
    print(f"\nHTTP-01 per certificate (ms): {', '.join(f'{t:.1f}' for t in times)}")


def _requests_logged(server: PebbleServer, since: int) -> list[str]:
    """The requests Pebble logged after byte ``since`` of its log (one line each)."""
    text = server.log.read_bytes()[since:].decode(errors="replace")
    return [line.split(" ", 3)[3].split(" -> ")[0].rsplit("/", 1)[0] + "/"
            for line in text.splitlines() if line.endswith("-> calling handler()")]


def test_finalize_with_the_kept_finalize_url_asks_nothing_else(pebble_factory: PebbleFactory) -> None:
    """The Order controller keeps the finalize URL from the order's creation: finalizing
    by the order's URL with it is one request, without it the order is fetched first."""
    server = pebble_factory(env={"PEBBLE_VA_ALWAYS_VALID": "1"})
    with make_client(server) as client:
        client.register("ops@example.test")
        orders = []
        for _ in range(2):
            name = unique_name("finalize")
            order = client.new_order([("dns", name)])
            for url in order.authorizations:
                authz = client.get_authorization(url)
                challenge = authz.challenge("http-01")
                assert challenge is not None
                client.answer_challenge(challenge.url)
                assert client.wait_authorization(url).status == "valid"
            assert client.wait_order(order.url).status == "ready"
            orders.append((order, make_csr([name])[0]))
        (kept, csr), (fetched, csr2) = orders
        since = server.log.stat().st_size
        done = client.finalize(kept.url, csr, finalize_url=kept.finalize)
        assert _requests_logged(server, since) == ["POST /finalize-order/"]
        assert done.url == kept.url and done.status in ("processing", "valid")
        since = server.log.stat().st_size
        client.finalize(fetched.url, csr2)
        assert _requests_logged(server, since) == ["POST /my-order/", "POST /finalize-order/"]


def test_issue_dns01_end_to_end_via_rfc2136(pebble: PebbleServer, client: AcmeClient, bind: BindServer) -> None:
    names = [unique_name("dns"), "*." + unique_name("wild")]
    times = []
    for _ in range(3):
        pem, _, seconds = issue(client, names, "dns-01", dns01_solver(bind))
        times.append(seconds * 1000)
        chain = load_chain(pem)
        assert sorted(sans(chain[0])) == sorted(names)
        assert_chains_to(chain, pebble.root_pem(0))
    print(f"\nDNS-01 per certificate (ms): {', '.join(f'{t:.1f}' for t in times)}")
    # cleanup removed the records again
    fqdn = challenge_record_name(names[0])
    assert check_propagation(fqdn, "x", nameservers=[bind.address], authoritative=False) is not None


def test_preferred_chain_picks_alternate_root(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(env={"PEBBLE_ALTERNATE_ROOTS": "1"})
    roots = [x509.load_pem_x509_certificate(server.root_pem(i)) for i in (0, 1)]
    root_cns = [str(r.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) for r in roots]
    with make_client(server) as client, Http01Responder(f"127.0.0.1:{server.http_port}") as responder:
        client.register(None)
        solve = http01_solver(responder)
        default, _, _ = issue(client, [unique_name("chain")], "http-01", solve)
        assert_chains_to(load_chain(default), server.root_pem(0))
        alternate, order, _ = issue(client, [unique_name("chain")], "http-01", solve, preferred_chain=root_cns[1])
        assert_chains_to(load_chain(alternate), server.root_pem(1))
        assert order.certificate is not None
        # the default chain is kept when it already matches, or when nothing matches
        assert client.fetch_certificate(order.certificate, root_cns[0]) == client.fetch_certificate(order.certificate)
        unmatched = client.fetch_certificate(order.certificate, "No Such Root")
        assert_chains_to(load_chain(unmatched), server.root_pem(0))


def test_bad_nonce_storm_still_issues(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(env={"PEBBLE_WFE_NONCEREJECT": "50"})
    with make_client(server) as client, Http01Responder(f"127.0.0.1:{server.http_port}") as responder:
        client.register("storm@example.test")
        for _ in range(2):
            name = unique_name("storm")
            pem, _, seconds = issue(client, [name], "http-01", http01_solver(responder))
            assert sans(load_chain(pem)[0]) == [name]
        print(f"\nbadNonce storm: {client.net.bad_nonce_count} rejections absorbed; last cert {seconds * 1000:.1f} ms")
        assert client.net.bad_nonce_count > 0


def test_unanswered_challenge_ends_invalid_with_server_detail(pebble: PebbleServer, client: AcmeClient) -> None:
    # nothing listens on Pebble's httpPort in this test
    order = client.new_order([("dns", unique_name("nobody"))])
    authz = client.get_authorization(order.authorizations[0])
    challenge = authz.challenge("http-01")
    assert challenge is not None
    client.answer_challenge(challenge.url)
    authz = client.wait_authorization(authz.url)
    assert authz.status == "invalid"
    assert authz.error is not None
    assert authz.error.type == "urn:ietf:params:acme:error:connection"
    assert authz.error.detail
    failed = client.wait_order(order.url)
    assert failed.status == "invalid"


def test_problem_documents_become_typed_terminal_errors(client: AcmeClient) -> None:
    name = unique_name("early")
    order = client.new_order([("dns", name)])
    csr_pem, _ = make_csr([name])
    with pytest.raises(AcmeProblemError) as rejected:
        client.finalize(order, csr_pem)  # still pending: the server refuses
    error = rejected.value
    assert isinstance(error, AcmeTerminalError) and not error.retryable
    assert error.status == 403 and error.code == "orderNotReady"
    assert str(error) == f"403 urn:ietf:params:acme:error:orderNotReady: {error.detail}"
    with pytest.raises(AcmeTerminalError) as unsupported:
        client.new_order([("email", "ops@example.test")])
    assert unsupported.value.status == 400 and unsupported.value.problem_type


def test_pebble_restart_surfaces_retryable_then_recovers(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory()
    with make_client(server) as client, Http01Responder(f"127.0.0.1:{server.http_port}") as responder:
        client.register(None)
        order = client.new_order([("dns", unique_name("restart"))])
        server.stop()
        with pytest.raises(AcmeNetworkError) as down:
            client.get_order(order.url)
        assert down.value.retryable
        server.start()
        # Pebble keeps nothing across restarts: the old account is unknown now (terminal)
        with pytest.raises(AcmeTerminalError) as forgotten:
            client.get_order(order.url)
        assert not forgotten.value.retryable
        client.register(None)
        name = unique_name("restart")
        pem, _, _ = issue(client, [name], "http-01", http01_solver(responder))
        assert sans(load_chain(pem)[0]) == [name]
        assert_chains_to(load_chain(pem), server.root_pem(0))


def test_ip_identifier_and_longer_chain(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(env={"PEBBLE_CHAIN_LENGTH": "3"})
    with make_client(server) as client, Http01Responder(f"127.0.0.1:{server.http_port}") as responder:
        client.register(None)
        order = client.new_order([("ip", "127.0.0.1")])
        authz = client.get_authorization(order.authorizations[0])
        assert (authz.identifier.type, authz.identifier.value) == ("ip", "127.0.0.1")
        challenge = authz.challenge("http-01")
        assert challenge is not None
        responder.present("127.0.0.1", challenge.token, client.key_authorization(challenge.token))
        client.answer_challenge(challenge.url)
        assert client.wait_authorization(authz.url).status == "valid"
        assert client.wait_order(order.url).status == "ready"
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        client.finalize(order, csr.public_bytes(serialization.Encoding.PEM))
        done = client.wait_order(order.url)
        assert done.status == "valid" and done.certificate
        chain = load_chain(client.fetch_certificate(done.certificate))
        assert len(chain) == 4  # leaf + 3 intermediates
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
        assert_chains_to(chain, server.root_pem(0))


def test_directory_that_is_not_acme(pebble: PebbleServer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    # a 200 answer that is not JSON (Pebble's root certificate)
    pem_url = AcmeClient(f"{pebble.management_url}/roots/0", key, ca_bundle=pebble.ca_bundle)
    with pem_url, pytest.raises(AcmeProtocolError):
        pem_url.register(None)
    with AcmeClient(f"https://127.0.0.1:{pebble.listen_port}/no-such-dir", key, ca_bundle=pebble.ca_bundle) as missing:
        with pytest.raises(AcmeTerminalError) as not_found:
            missing.register(None)
        assert not_found.value.status == 404
    unregistered = AcmeClient(pebble.directory_url, key, ca_bundle=pebble.ca_bundle)
    with unregistered, pytest.raises(AcmeProtocolError, match="no ACME account"):
        unregistered.new_order([("dns", unique_name("noaccount"))])


def test_reused_authorization_needs_no_challenge(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(env={"PEBBLE_AUTHZREUSE": "100"})
    with make_client(server) as client, Http01Responder(f"127.0.0.1:{server.http_port}") as responder:
        client.register(None)
        name = unique_name("reuse")
        issue(client, [name], "http-01", http01_solver(responder))
        again = client.new_order([("dns", name)])
        authz = client.get_authorization(again.authorizations[0])
        assert authz.status == "valid"  # cert-manager's initialState=valid: no Challenge
        assert client.wait_order(again.url).status == "ready"
