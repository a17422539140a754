"""ACME issuance through the daemon's controllers against real Pebble and BIND: an Issuer
registers its account, a Certificate becomes an Order, Challenges are solved by HTTP-01
(built-in responder, webroot) or DNS-01 (RFC 2136 with TSIG), and the Secret holds the
chain exactly as Pebble returned it."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certkeeper.api.acme import Challenge, Order
from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.core import Secret
from certkeeper.api.issuer import ClusterIssuer, Issuer
from tests.harness import BACKENDS
from tests.peers import BindServer, PebbleServer
from tests.test_acme_daemon_support import (
    HTTP01_SOLVER,
    LiveDaemon,
    acme_issuer,
    assert_chains_to,
    certificate,
    rfc2136_solver,
    sans,
    tsig_secret,
    unique,
)

pytest_plugins = ["tests.peers", "tests.kubecluster"]
pytestmark = pytest.mark.peers


@pytest.fixture(params=BACKENDS)
def daemon(
    tmp_path: Path, pebble: PebbleServer, bind: BindServer, request: pytest.FixtureRequest
) -> Iterator[LiveDaemon]:
    cluster = request.getfixturevalue("kube_cluster") if request.param == "kube" else None
    running = LiveDaemon(
        tmp_path,
        cluster,
        http01_address=f"127.0.0.1:{pebble.http_port}",
        acme_http01_solver_nameservers=[bind.address],
        dns01_recursive_nameservers=[bind.address],
    )
    try:
        yield running
    finally:
        running.close()


def test_http01_issuer_registers_and_issues(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    names = [f"{unique('http')}.example.test", f"{unique('www')}.example.test"]
    daemon.apply(acme_issuer("le", pebble, [HTTP01_SOLVER]))
    cond = daemon.wait_ready(Issuer, "le")
    assert cond == ("True", "ACMEAccountRegistered", "The ACME account was registered with the ACME server")
    issuer = daemon.get(Issuer, "le")
    assert issuer is not None and issuer.status is not None and issuer.status.acme is not None
    account = issuer.status.acme
    assert account.uri and account.uri.startswith(f"https://127.0.0.1:{pebble.listen_port}/")
    assert account.last_registered_email == "ops@example.test"
    key_secret = daemon.get(Secret, "le-account")
    assert key_secret is not None
    assert key_secret.labels() == {"app.kubernetes.io/managed-by": "cert-manager"}
    key = serialization.load_pem_private_key(key_secret.get("tls.key") or b"", None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    assert account.last_private_key_hash == base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert key.key_size == 2048  # type: ignore[union-attr]

    daemon.apply(certificate("web", names, "le"))
    daemon.wait_ready(Certificate, "web")
    chain = daemon.chain("web")
    assert sans(chain[0]) == sorted(names)
    assert_chains_to(chain, pebble.root_pem(0))
    secret = daemon.get(Secret, "web")
    assert secret is not None and "ca.crt" not in (secret.data or {})
    # the Order is valid, owned by the request, and holds the chain verbatim
    crs = daemon.store.list(CertificateRequest, "default")
    assert len(crs) == 1
    orders = daemon.orders()
    assert len(orders) == 1
    order = orders[0]
    assert order.is_controlled_by(crs[0])
    assert order.name.startswith(f"{crs[0].name}-")
    assert order.status is not None and order.status.state == "valid"
    assert order.status.certificate == secret.get("tls.crt")
    assert {a.identifier for a in order.status.authorizations or []} == set(names)
    # the Challenges were cleaned up and deleted once the Order was valid
    daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 10, "challenges deleted")
    responder = daemon.manager.ctx.services["http01-responder"]
    assert responder._keys == {}


class _Webroot(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


@pytest.fixture
def webroot(tmp_path: Path, pebble: PebbleServer) -> Iterator[Path]:
    """An ordinary web server (stdlib) serving a folder on the port Pebble's VA dials."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", pebble.http_port), partial(_Webroot, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http01_webroot(tmp_path: Path, pebble: PebbleServer, bind: BindServer, webroot: Path) -> None:
    daemon = LiveDaemon(
        tmp_path, http01_address=None, http01_webroot=webroot, http01_self_check_port=pebble.http_port,
        acme_http01_solver_nameservers=[bind.address],
    )
    try:
        name = f"{unique('webroot')}.example.test"
        daemon.apply(acme_issuer("le", pebble, [HTTP01_SOLVER]))
        daemon.apply(certificate("site", [name], "le"))
        daemon.wait_ready(Certificate, "site")
        chain = daemon.chain("site")
        assert sans(chain[0]) == [name]
        assert_chains_to(chain, pebble.root_pem(0))
        # the challenge file was removed again
        daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 10, "challenges deleted")
        assert list((webroot / ".well-known" / "acme-challenge").iterdir()) == []
        assert "http01-responder" not in daemon.manager.ctx.services
    finally:
        daemon.close()


def test_dns01_rfc2136_with_tsig_for_wildcard(daemon: LiveDaemon, pebble: PebbleServer, bind: BindServer) -> None:
    base = f"{unique('dns')}.example.test"
    names = [base, f"*.{base}"]
    daemon.apply(tsig_secret(bind))
    daemon.apply(acme_issuer("dns", pebble, [rfc2136_solver(bind)]))
    daemon.apply(certificate("wild", names, "dns"))
    daemon.wait_ready(Certificate, "wild")
    chain = daemon.chain("wild")
    assert sans(chain[0]) == sorted(names)
    assert_chains_to(chain, pebble.root_pem(0))
    # two challenges for one record name were never processed at the same time, and
    # both TXT records were removed again
    daemon.wait_for(lambda: not daemon.store.list(Challenge, "default"), 10, "challenges deleted")
    overlaps = _concurrent_processing(daemon)
    assert overlaps == 0
    from certkeeper.acme.dns01.resolve import challenge_record_name, check_propagation

    problem = check_propagation(challenge_record_name(base), "anything", nameservers=[bind.address],
                                authoritative=False)
    assert problem is not None and "not yet propagated" in problem


def _concurrent_processing(daemon: LiveDaemon) -> int:
    """How often two Challenges with the same (dnsName, type) were processing at once,
    replayed from the watch events."""
    processing: dict[str, tuple[str | None, str | None]] = {}
    overlaps = 0
    for event in daemon.events:
        if event.kind != "Challenge":
            continue
        ch = event.obj
        assert isinstance(ch, Challenge)
        on = event.type != "DELETED" and bool(ch.status and ch.status.processing)
        if on and ch.name not in processing:
            ident = (ch.spec.dns_name, ch.spec.type)
            if ident in processing.values():
                overlaps += 1
            processing[ch.name] = ident
        elif not on:
            processing.pop(ch.name, None)
    return overlaps


def test_cluster_issuer_reads_secrets_from_cluster_resource_namespace(
    tmp_path: Path, pebble: PebbleServer, bind: BindServer
) -> None:
    daemon = LiveDaemon(
        tmp_path, cluster_resource_namespace="certkeeper", dns01_recursive_nameservers=[bind.address],
        http01_address=None,
    )
    try:
        daemon.apply(tsig_secret(bind, namespace="certkeeper"))
        daemon.apply(acme_issuer("global", pebble, [rfc2136_solver(bind)], kind="ClusterIssuer"))
        daemon.wait_ready(ClusterIssuer, "global", None)
        # the account key lives in the cluster resource namespace
        assert daemon.get(Secret, "global-account", "certkeeper") is not None
        name = f"{unique('cluster')}.example.test"
        daemon.apply(certificate("app", [name], "global", kind="ClusterIssuer"), namespace="apps")
        daemon.wait_ready(Certificate, "app", "apps")
        chain = daemon.chain("app", "apps")
        assert sans(chain[0]) == [name]
        assert_chains_to(chain, pebble.root_pem(0))
        assert daemon.store.list(Order, "apps")[0].status.state == "valid"  # type: ignore[union-attr]
    finally:
        daemon.close()


def test_http01_ip_address_identifier(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    daemon.apply(acme_issuer("le", pebble, [HTTP01_SOLVER]))
    daemon.apply(certificate("loopback", [], "le", ipAddresses=["127.0.0.1"]))
    daemon.wait_ready(Certificate, "loopback")
    chain = daemon.chain("loopback")
    ips = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress
    )
    assert [str(ip) for ip in ips] == ["127.0.0.1"]
    assert_chains_to(chain, pebble.root_pem(0))
    [order] = daemon.orders()
    assert order.spec.ip_addresses == ["127.0.0.1"] and not order.spec.dns_names


@pytest.mark.parametrize("checks", ["authoritative", "recursive-only", "solver-nameservers"])
def test_dns01_cname_follow(tmp_path: Path, pebble: PebbleServer, bind: BindServer, checks: str) -> None:
    """``follow.example.test``'s challenge record is a CNAME to ``_acme-challenge.target``:
    with cnameStrategy Follow the TXT record is written at the end of the chain."""
    daemon = LiveDaemon(tmp_path, http01_address=None, dns01_recursive_nameservers=[bind.address],
                        dns01_recursive_nameservers_only=checks == "recursive-only")
    try:
        solver = rfc2136_solver(bind)
        solver["dns01"]["cnameStrategy"] = "Follow"
        if checks == "solver-nameservers":
            solver["dns01"]["nameservers"] = [bind.address]
        daemon.apply(tsig_secret(bind))
        daemon.apply(acme_issuer("dns", pebble, [solver]))
        daemon.apply(certificate("follow", ["follow.example.test"], "dns"))
        daemon.wait_ready(Certificate, "follow")
        chain = daemon.chain("follow")
        assert sans(chain[0]) == ["follow.example.test"]
        assert_chains_to(chain, pebble.root_pem(0))
    finally:
        daemon.close()


def test_no_matching_solver_leaves_the_order_pending(
    daemon: LiveDaemon, pebble: PebbleServer, caplog: pytest.LogCaptureFixture
) -> None:
    only = {"selector": {"dnsNames": ["other.example.test"]}, **HTTP01_SOLVER}
    daemon.apply(acme_issuer("picky", pebble, [only]))
    name = f"{unique('nosolver')}.example.test"
    with caplog.at_level("WARNING", logger="certkeeper.events"):
        daemon.apply(certificate("unsolved", [name], "picky"))

        def solver_event() -> str | None:
            return next((r.getMessage() for r in caplog.records if " Solver: " in r.getMessage()), None)

        message = daemon.wait_for(solver_event, 20, "Solver event")
    assert message.endswith(
        "Failed to determine a valid solver configuration for the set of domains on the Order: "
        "no configured challenge solvers can be used for this challenge"
    )
    [order] = daemon.orders()
    assert order.status is not None and order.status.state == "pending"
    assert daemon.store.list(Challenge, "default") == []
    expected = ("False", "Pending", f'Waiting on certificate issuance from order default/{order.name}: "pending"')

    def cr_condition() -> bool:
        crs = daemon.store.list(CertificateRequest, "default")
        return len(crs) == 1 and daemon.condition(crs[0]) == expected

    daemon.wait_for(cr_condition, 10, "request pending on the order")
