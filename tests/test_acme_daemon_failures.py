"""ACME through the daemon when things go wrong or differ from the plain path: a challenge
nobody answers, a server rejecting half the nonces, a server restarted mid-issuance, the
DNS server away, alternate chains, and renewal — against real Pebble and BIND."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from certkeeper.api.acme import Challenge, Order
from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.issuer import Issuer
from tests.peers import BindServer, PebbleFactory, PebbleServer
from tests.test_acme_daemon_support import (
    HTTP01_SOLVER,
    LiveDaemon,
    acme_issuer,
    assert_chains_to,
    certificate,
    rfc2136_solver,
    root_common_name,
    sans,
    tsig_secret,
    unique,
)

pytest_plugins = ["tests.peers"]
pytestmark = pytest.mark.peers


def http_daemon(tmp_path: Path, server: PebbleServer, bind: BindServer, **opts: object) -> LiveDaemon:
    return LiveDaemon(
        tmp_path, http01_address=f"127.0.0.1:{server.http_port}",
        acme_http01_solver_nameservers=[bind.address], dns01_recursive_nameservers=[bind.address],
        **opts,
    )


@pytest.fixture
def daemon(tmp_path: Path, pebble: PebbleServer, bind: BindServer) -> Iterator[LiveDaemon]:
    running = http_daemon(tmp_path, pebble, bind)
    try:
        yield running
    finally:
        running.close()


def test_unanswered_challenge_fails_the_order_and_backs_off(
    tmp_path: Path, pebble: PebbleServer, bind: BindServer
) -> None:
    # a webroot that no web server serves, and no self-check: the server's validation
    # finds nobody on its HTTP-01 port
    webroot = tmp_path / "unserved"
    daemon = LiveDaemon(tmp_path, http01_address=None, http01_webroot=webroot,
                        acme_http01_solver_nameservers=[bind.address])
    try:
        solver = {**HTTP01_SOLVER, "waitInsteadOfSelfCheck": "0s"}
        daemon.apply(acme_issuer("le", pebble, [solver]))
        name = f"{unique('nobody')}.example.test"
        daemon.apply(certificate("lonely", [name], "le"))

        def failed() -> tuple[str, str, str] | None:
            cond = daemon.condition(daemon.get(Certificate, "lonely"), "Issuing")
            return cond if cond is not None and cond[0] == "False" else None

        issuing = daemon.wait_for(failed, 30, "Issuing=False")
        assert issuing[1] == "Failed"
        assert "urn:ietf:params:acme:error:connection" in issuing[2]
        ready = daemon.condition(daemon.get(Certificate, "lonely"))
        assert ready is not None and ready[0] == "False"
        [order] = daemon.orders()
        assert order.status is not None and order.status.state == "invalid"
        assert order.status.failure_time
        # the server's own error, as its order resource reports it
        assert "urn:ietf:params:acme:error:connection" in (order.status.reason or "")
        assert name in (order.status.reason or "")
        [cr] = daemon.store.list(CertificateRequest, "default")
        cr_ready = daemon.condition(cr)
        assert cr_ready is not None and cr_ready[:2] == ("False", "Failed")
        assert cr_ready[2].startswith(f'Failed to wait for order resource "{order.name}" to become ready: '
                                      'order is in "invalid" state: ')
        cert = daemon.get(Certificate, "lonely")
        assert cert is not None and cert.status is not None
        assert cert.status.failed_issuance_attempts == 1
        # the challenge is final and was cleaned up; the Order is not retried: nothing new
        # appears while we watch the store for a while
        def challenge_done() -> bool:
            chs = daemon.store.list(Challenge, "default")
            return bool(chs) and all(
                c.status is not None and c.status.state == "invalid" and not c.status.processing
                and not c.metadata.finalizers for c in chs
            )

        daemon.wait_for(challenge_done, 10, "challenge invalid and cleaned up")

        def more_orders() -> bool:
            return len(daemon.orders()) > 1 or len(daemon.store.list(CertificateRequest, "default")) > 1

        with pytest.raises(AssertionError, match="timed out"):
            daemon.wait_for(more_orders, 2.0, "a retry")
        assert len(daemon.orders()) == 1
    finally:
        daemon.close()


def test_nonce_rejections_are_absorbed(tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer) -> None:
    server = pebble_factory(env={"PEBBLE_WFE_NONCEREJECT": "50"})
    daemon = http_daemon(tmp_path, server, bind)
    try:
        daemon.apply(acme_issuer("le", server, [HTTP01_SOLVER]))
        names = [f"{unique('nonce')}.example.test" for _ in range(3)]
        for i, name in enumerate(names):
            daemon.apply(certificate(f"n{i}", [name], "le"))
        for i, name in enumerate(names):
            daemon.wait_ready(Certificate, f"n{i}")
            chain = daemon.chain(f"n{i}")
            assert sans(chain[0]) == [name]
            assert_chains_to(chain, server.root_pem(0))
        assert len(daemon.orders()) == 3  # every certificate took one Order: no failure, no retry
        from certkeeper.controllers.acme.accounts import registry

        issuer = daemon.get(Issuer, "le")
        assert issuer is not None
        client = registry(daemon.manager.ctx).get(issuer.uid)
        assert client is not None and client.net.bad_nonce_count > 0
    finally:
        daemon.close()


def test_preferred_chain(tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer) -> None:
    server = pebble_factory(env={"PEBBLE_ALTERNATE_ROOTS": "1"})
    roots = [server.root_pem(0), server.root_pem(1)]
    daemon = http_daemon(tmp_path, server, bind)
    try:
        daemon.apply(acme_issuer("default-chain", server, [HTTP01_SOLVER]))
        daemon.apply(acme_issuer("alt-chain", server, [HTTP01_SOLVER],
                                 preferredChain=root_common_name(roots[1])))
        daemon.apply(acme_issuer("no-match", server, [HTTP01_SOLVER], preferredChain="No Such Root"))
        for issuer in ("default-chain", "alt-chain", "no-match"):
            daemon.apply(certificate(issuer, [f"{unique(issuer)}.example.test"], issuer))
        for issuer in ("default-chain", "alt-chain", "no-match"):
            daemon.wait_ready(Certificate, issuer)
        assert_chains_to(daemon.chain("default-chain"), roots[0])
        assert_chains_to(daemon.chain("alt-chain"), roots[1])
        assert_chains_to(daemon.chain("no-match"), roots[0])
    finally:
        daemon.close()


def test_renewal_issues_a_new_certificate_through_a_new_order(
    tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer
) -> None:
    # 5 min 6 s certificates with renewBefore 5m: due for renewal 6 s after issuance
    server = pebble_factory(certificate_validity=306)
    daemon = http_daemon(tmp_path, server, bind)
    try:
        daemon.apply(acme_issuer("le", server, [HTTP01_SOLVER]))
        name = f"{unique('renew')}.example.test"
        daemon.apply(certificate("short", [name], "le", renewBefore="5m"))
        daemon.wait_ready(Certificate, "short")
        first = daemon.chain("short")[0]
        cert = daemon.get(Certificate, "short")
        assert cert is not None and cert.status is not None and cert.status.renewal_time
        renewal = dt.datetime.fromisoformat(cert.status.renewal_time.replace("Z", "+00:00"))
        assert renewal == first.not_valid_after_utc - dt.timedelta(minutes=5)

        def renewed() -> x509.Certificate | None:
            c = daemon.get(Certificate, "short")
            if c is None or c.status is None or (c.status.revision or 0) < 2:
                return None
            leaf = daemon.chain("short")[0]
            return leaf if leaf.serial_number != first.serial_number else None

        second = daemon.wait_for(renewed, 40, "renewal")
        assert sans(second) == [name]
        assert second.not_valid_before_utc >= first.not_valid_before_utc
        assert_chains_to(daemon.chain("short"), server.root_pem(0))
        # the renewal went through a new request and its own Order (the old request and,
        # owned by it, the old Order were cleaned up by the revision history limit)
        current = daemon.get(Certificate, "short")
        assert current is not None and current.status is not None
        revision = current.status.revision
        assert revision is not None and revision >= 2
        assert any(o.name.startswith(f"short-{revision}-") for o in daemon.orders())
    finally:
        daemon.close()


def test_pebble_restart_mid_issuance(tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer) -> None:
    server = pebble_factory()
    daemon = http_daemon(tmp_path, server, bind)
    try:
        daemon.apply(acme_issuer("le", server, [HTTP01_SOLVER]))
        daemon.wait_ready(Issuer, "le")
        before = daemon.get(Issuer, "le")
        assert before is not None and before.status is not None and before.status.acme is not None
        old_uri = before.status.acme.uri
        server.stop()
        name = f"{unique('restart')}.example.test"
        daemon.apply(certificate("survivor", [name], "le"))
        # the Order exists but cannot reach the server: retried, not failed
        daemon.wait_for(lambda: daemon.orders(), 20, "Order created")
        server.start()  # same ports, all state (accounts, orders) lost, new roots
        daemon.wait_ready(Certificate, "survivor", timeout=60)
        chain = daemon.chain("survivor")
        assert sans(chain[0]) == [name]
        assert_chains_to(chain, server.root_pem(0))
        orders = daemon.orders()
        assert all(o.status is not None and o.status.state == "valid" for o in orders)
        after = daemon.get(Issuer, "le")
        assert after is not None and after.status is not None and after.status.acme is not None
        assert after.status.acme.uri != old_uri  # registered again with the new server
    finally:
        daemon.close()


def test_dns_server_away_is_reported_and_recovers(
    daemon: LiveDaemon, pebble: PebbleServer, bind: BindServer
) -> None:
    daemon.apply(tsig_secret(bind))
    daemon.apply(acme_issuer("dns", pebble, [rfc2136_solver(bind, protocol="TCP")]))
    daemon.wait_ready(Issuer, "dns")
    bind.stop()
    try:
        name = f"{unique('away')}.example.test"
        daemon.apply(certificate("patient", [name], "dns"))

        def reason() -> str | None:
            for ch in daemon.store.list(Challenge, "default"):
                if ch.status is not None and ch.status.reason and bind.address in ch.status.reason:
                    return ch.status.reason
            return None

        message = daemon.wait_for(reason, 30, "Challenge reason naming the DNS server")
        assert "refused" in message.lower() or "timed out" in message.lower() or "no answer" in message.lower()
        [ch] = daemon.store.list(Challenge, "default")
        assert ch.status is not None and not ch.status.presented
    finally:
        bind.start()
    daemon.wait_ready(Certificate, "patient", timeout=60)
    chain = daemon.chain("patient")
    assert sans(chain[0]) == [name]
    assert_chains_to(chain, pebble.root_pem(0))
    assert [o.status.state for o in daemon.orders() if o.status] == ["valid"]
    assert not [o for o in daemon.store.list(Order, "default") if o.status and o.status.state != "valid"]


def test_pebble_restart_with_an_order_in_flight(
    tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer
) -> None:
    """The server forgets an Order it was validating: the Order fails with the server's
    answer, the Certificate backs off (1 s here), and the next request issues."""
    server = pebble_factory()
    daemon = http_daemon(tmp_path, server, bind, min_backoff=dt.timedelta(seconds=1))
    try:
        # a solver that waits 2 s before accepting: the window for the restart
        daemon.apply(acme_issuer("le", server, [{**HTTP01_SOLVER, "waitInsteadOfSelfCheck": "2s"}]))
        name = f"{unique('inflight')}.example.test"
        daemon.apply(certificate("inflight", [name], "le"))

        def waiting() -> bool:
            return any(
                c.status is not None and c.status.presented and "before accepting" in (c.status.reason or "")
                for c in daemon.store.list(Challenge, "default")
            )

        daemon.wait_for(waiting, 20, "challenge presented and waiting")
        [order] = daemon.orders()
        assert order.status is not None and order.status.url and order.status.state == "pending"
        server.restart()
        daemon.wait_ready(Certificate, "inflight", timeout=60)
        chain = daemon.chain("inflight")
        assert sans(chain[0]) == [name]
        assert_chains_to(chain, server.root_pem(0))
        cert = daemon.get(Certificate, "inflight")
        assert cert is not None and cert.status is not None and cert.status.revision == 1
        # the forgotten Order ended with the server's answer; a second request issued
        orders = {o.name: o for o in daemon.orders()}
        assert order.name not in orders or orders[order.name].status.state != "pending"  # type: ignore[union-attr]
        assert [o.status.state for o in orders.values() if o.status and o.status.state == "valid"] == ["valid"]
    finally:
        daemon.close()


def test_order_refused_by_the_server_is_errored(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    daemon.apply(acme_issuer("le", pebble, [HTTP01_SOLVER]))
    daemon.apply(certificate("refused", ["under_score.example.test"], "le"))

    def errored() -> Order | None:
        return next((o for o in daemon.orders() if o.status and o.status.state == "errored"), None)

    order = daemon.wait_for(errored, 30, "Order errored")
    assert order.status is not None and order.status.failure_time
    assert order.status.reason == (
        "Failed to create Order: 400 urn:ietf:params:acme:error:malformed: Order included DNS identifier "
        "with a value containing an illegal character: '_'"
    )
    assert not order.status.url  # nothing was created at the server

    def cr_failed() -> tuple[str, str, str] | None:
        crs = daemon.store.list(CertificateRequest, "default")
        cond = daemon.condition(crs[0]) if crs else None
        return cond if cond is not None and cond[1] == "Failed" else None

    cond = daemon.wait_for(cr_failed, 10, "request failed")
    assert cond[2].endswith(f'order is in "errored" state: {order.status.reason}')
    assert daemon.store.list(Challenge, "default") == []


def test_challenges_are_processed_within_the_concurrency_limit(
    tmp_path: Path, pebble: PebbleServer, bind: BindServer
) -> None:
    daemon = http_daemon(tmp_path, pebble, bind, max_concurrent_challenges=1)
    try:
        daemon.apply(acme_issuer("le", pebble, [HTTP01_SOLVER]))
        names = [f"{unique('limit')}.example.test" for _ in range(4)]
        for i, name in enumerate(names):
            daemon.apply(certificate(f"c{i}", [name], "le"))
        for i in range(len(names)):
            daemon.wait_ready(Certificate, f"c{i}")
        # replay the watch: never two Challenges processing at the same time
        processing: set[str] = set()
        most = 0
        for event in daemon.events:
            if event.kind != "Challenge":
                continue
            ch = event.obj
            assert isinstance(ch, Challenge)
            if event.type != "DELETED" and ch.status is not None and ch.status.processing:
                processing.add(ch.name)
            else:
                processing.discard(ch.name)
            most = max(most, len(processing))
        assert most == 1
    finally:
        daemon.close()


def test_daemon_restart_mid_challenge(tmp_path: Path, pebble: PebbleServer, bind: BindServer) -> None:
    """A challenge presented by the built-in responder of a daemon that stopped is answered
    by the next daemon (the responder lives in memory; Present is repeated)."""
    first = http_daemon(tmp_path, pebble, bind)
    try:
        first.apply(acme_issuer("le", pebble, [{**HTTP01_SOLVER, "waitInsteadOfSelfCheck": "1s"}]))
        name = f"{unique('handover')}.example.test"
        first.apply(certificate("handover", [name], "le"))

        def presented() -> bool:
            return any(c.status is not None and c.status.presented for c in first.store.list(Challenge, "default"))

        first.wait_for(presented, 20, "challenge presented")
    finally:
        first.close()  # stops the responder with the daemon
    second = http_daemon(tmp_path, pebble, bind)
    try:
        second.wait_ready(Certificate, "handover", timeout=30)
        assert sans(second.chain("handover")[0]) == [name]
        assert [o.status.state for o in second.orders() if o.status] == ["valid"]
    finally:
        second.close()
