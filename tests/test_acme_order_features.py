"""The Order's optional fields against Pebble: ``enableDurationFeature`` sends the
Certificate's duration as ``notAfter``; a ``profile`` the server does not offer fails the
request with the profiles it does offer; an offered one shapes the certificate. Run against
the current Pebble (built from tools/pebble/) and Debian's Pebble 2.4 (no profiles)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certkeeper.api.acme import Order
from certkeeper.api.certificate import Certificate, CertificateRequest
from tests.peers import BindServer, PebbleFactory, PebbleServer
from tests.test_acme_daemon_support import HTTP01_SOLVER, LiveDaemon, acme_issuer, certificate, unique

pytest_plugins = ["tests.peers", "tests.modernpebble"]
pytestmark = pytest.mark.peers


@pytest.fixture(params=["current", "debian"])
def server(request: pytest.FixtureRequest, pebble_factory: PebbleFactory) -> PebbleServer:
    options: dict[str, Any] = {}
    if request.param == "current":
        options = request.getfixturevalue("modern_pebble")
    return pebble_factory(**options)


@pytest.fixture
def daemon(tmp_path: Path, server: PebbleServer, bind: BindServer) -> Iterator[LiveDaemon]:
    running = LiveDaemon(tmp_path, http01_address=f"127.0.0.1:{server.http_port}",
                         acme_http01_solver_nameservers=[bind.address], dns01_recursive_nameservers=[bind.address])
    try:
        yield running
    finally:
        running.close()


def _lifetime(daemon: LiveDaemon, name: str) -> dt.timedelta:
    leaf = daemon.chain(name)[0]
    return leaf.not_valid_after_utc - leaf.not_valid_before_utc


def test_duration_is_sent_as_not_after(daemon: LiveDaemon, server: PebbleServer) -> None:
    daemon.apply(acme_issuer("timed", server, [HTTP01_SOLVER], enableDurationFeature=True))
    daemon.apply(acme_issuer("untimed", server, [HTTP01_SOLVER]))
    daemon.apply(certificate("short", [f"{unique('d')}.example.test"], "timed", duration="3h"))
    daemon.apply(certificate("plain", [f"{unique('p')}.example.test"], "untimed", duration="3h"))
    before = dt.datetime.now(dt.UTC)
    daemon.wait_ready(Certificate, "short", timeout=60)
    leaf = daemon.chain("short")[0]
    # notAfter is now + 3h when the Order was created (Pebble backdates notBefore)
    assert abs(leaf.not_valid_after_utc - (before + dt.timedelta(hours=3))) < dt.timedelta(minutes=2)
    daemon.wait_ready(Certificate, "plain", timeout=60)
    assert _lifetime(daemon, "plain") > dt.timedelta(days=5)  # the server's default without the feature


def _order_reason(daemon: LiveDaemon) -> str:
    def errored() -> str | None:
        for order in daemon.store.list(Order, "default"):
            if order.status and order.status.state == "errored":
                return order.status.reason or ""
        return None

    return daemon.wait_for(errored, 60, "an errored Order")


def test_profile_the_server_does_not_offer_fails_the_request(
    daemon: LiveDaemon, server: PebbleServer, request: pytest.FixtureRequest
) -> None:
    daemon.apply(acme_issuer("prof", server, [HTTP01_SOLVER], profile="tlsserver"))
    daemon.apply(certificate("prof", [f"{unique('prof')}.example.test"], "prof"))
    reason = _order_reason(daemon)
    if server.profiles:
        assert reason == (
            'Failed to create Order: the ACME server does not offer the profile "tlsserver"; it offers '
            '"default", "shortlived": set spec.acme.profile to one of them'
        )
    else:
        assert 'asks for the ACME profile "tlsserver" but the ACME server offers no profiles' in reason
    order = daemon.store.list(Order, "default")[0]
    assert order.status is not None and not order.status.url  # nothing was ordered at the server

    def failed() -> str | None:
        for cr in daemon.store.list(CertificateRequest, "default"):
            cond = daemon.condition(cr)
            if cond and cond[1] == "Failed":
                return cond[2]
        return None

    assert "tlsserver" in daemon.wait_for(failed, 60, "the request Failed")


@pytest.mark.parametrize("server", ["current"], indirect=True)  # Debian's Pebble has no profiles
def test_offered_profile_shapes_the_certificate(daemon: LiveDaemon, server: PebbleServer) -> None:
    daemon.apply(acme_issuer("short", server, [HTTP01_SOLVER], profile="shortlived"))
    daemon.apply(certificate("short", [f"{unique('sl')}.example.test"], "short"))
    daemon.wait_ready(Certificate, "short", timeout=60)
    validity = server.profiles["shortlived"]["validityPeriod"]
    assert isinstance(validity, int)
    assert abs(_lifetime(daemon, "short") - dt.timedelta(seconds=validity)) < dt.timedelta(seconds=2)
