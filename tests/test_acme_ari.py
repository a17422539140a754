"""ACME Renewal Information (RFC 9773) against the current Pebble (built from
tools/pebble/), and Debian's Pebble 2.4 as the server without it: the renewal time comes
from the server's suggested window, ``status certificate`` says so, the renewal Order
carries ``replaces`` and Pebble records the replacement."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.acme.ari import cert_id, pick_time
from certkeeper.acme.client import AcmeClient
from certkeeper.acme.errors import AcmeTerminalError
from certkeeper.api.acme import Order
from certkeeper.api.certificate import Certificate
from certkeeper.api.core import Secret
from certkeeper.api.issuer import Issuer
from certkeeper.api.meta import parse_time
from certkeeper.cli.cmctl import trigger_renewal, update_status_with
from certkeeper.cli.status import certificate_status
from certkeeper.controllers.certificates.util import RENEWAL_FROM_ARI, RENEWAL_FROM_SPEC, scheduled_renewal
from tests.peers import BindServer, PebbleFactory, PebbleServer
from tests.test_acme_daemon_support import HTTP01_SOLVER, LiveDaemon, acme_issuer, certificate, unique

pytest_plugins = ["tests.peers", "tests.modernpebble"]


def test_cert_id_is_the_rfc_example() -> None:
    """RFC 9773 §4.1: AKI 69:88:5B:...:D4 and serial 00:87:65:43:21."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari")])
    now = dt.datetime.now(dt.UTC)
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(0x87654321).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert cert_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_picked_time_is_inside_the_window_and_stable() -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=2)
    times = {pick_time(start, end, f"uid-{i}") for i in range(200)}
    assert all(start <= t <= end for t in times)
    assert len(times) > 150  # spread over the window, not one point
    assert pick_time(start, end, "uid-1") == pick_time(start, end, "uid-1")


# --------------------------------------------------------------------------- against Pebble


@pytest.fixture(params=["current", "debian"])
def server(request: pytest.FixtureRequest, pebble_factory: PebbleFactory) -> PebbleServer:
    options: dict[str, Any] = request.getfixturevalue("modern_pebble") if request.param == "current" else {}
    return pebble_factory(**options)


@pytest.fixture
def daemon(tmp_path: Path, server: PebbleServer, bind: BindServer) -> Iterator[LiveDaemon]:
    running = LiveDaemon(tmp_path, http01_address=f"127.0.0.1:{server.http_port}",
                         acme_http01_solver_nameservers=[bind.address], dns01_recursive_nameservers=[bind.address])
    try:
        yield running
    finally:
        running.close()


def _renewal_info(server: PebbleServer, leaf: x509.Certificate) -> dict[str, Any]:
    directory = requests.get(server.directory_url, verify=str(server.ca_bundle_path), timeout=5).json()
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier or b""
    serial = leaf.serial_number.to_bytes(leaf.serial_number.bit_length() // 8 + 1, "big")
    ident = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (aki, serial))
    answer = requests.get(f"{directory['renewalInfo']}/{ident}", verify=str(server.ca_bundle_path), timeout=5)
    answer.raise_for_status()
    return dict(answer.json())


def test_renewal_time_comes_from_the_suggested_window(daemon: LiveDaemon, server: PebbleServer) -> None:
    daemon.apply(acme_issuer("ari", server, [HTTP01_SOLVER]))
    daemon.apply(certificate("web", [f"{unique('ari')}.example.test"], "ari", renewBefore="1h"))
    daemon.wait_ready(Certificate, "web", timeout=60)
    leaf = daemon.chain("web")[0]
    by_spec = leaf.not_valid_after_utc - dt.timedelta(hours=1)
    if server.binary is None:  # Debian's Pebble 2.4: no renewalInfo in its directory
        cert = daemon.wait_for(lambda: _with_renewal_time(daemon), 60, "renewalTime")
        assert cert.status is not None and cert.status.acme is None
        assert parse_time(cert.status.renewal_time or "") == by_spec
        assert "Renewal Time Source: renewBefore 1h" in certificate_status(daemon.store, cert)
        return
    window = _renewal_info(server, leaf)["suggestedWindow"]
    start, end = parse_time(window["start"]), parse_time(window["end"])
    assert not start <= by_spec <= end  # so the two sources can be told apart

    def from_ari() -> Certificate | None:
        cert = daemon.get(Certificate, "web")
        rt = cert.status.renewal_time if cert is not None and cert.status else None
        return cert if rt and start <= parse_time(rt) <= end else None

    cert = daemon.wait_for(from_ari, 60, "renewalTime inside the ARI window")
    assert cert.status is not None and cert.status.acme is not None and cert.status.acme.ari is not None
    ari = cert.status.acme.ari
    assert ari.cert_id == cert_id(leaf) and ari.last_error is None
    assert ari.suggested_window is not None
    assert (parse_time(ari.suggested_window.start or ""), parse_time(ari.suggested_window.end or "")) == (start, end)
    # Pebble says Retry-After 6 h: the next check is 6 h +- 10 % away
    wait = parse_time(ari.next_check or "") - parse_time(ari.last_checked or "")
    assert dt.timedelta(hours=5.4) - dt.timedelta(seconds=1) <= wait <= dt.timedelta(hours=6.6)
    assert scheduled_renewal(cert, leaf)[1] == RENEWAL_FROM_ARI
    text = certificate_status(daemon.store, cert)
    assert "Renewal Time Source: the ACME server's renewal information (ARI, RFC 9773)" in text
    # an issuer that turns ARI off goes back to renewBefore
    def ari_off(issuer: Issuer) -> None:
        assert issuer.spec.acme is not None
        issuer.spec.acme.renewal_information_source = "None"

    daemon.edit(Issuer, "ari", ari_off)

    def by_renew_before() -> Certificate | None:
        cert = daemon.get(Certificate, "web")
        st = cert.status if cert is not None else None
        return cert if st and st.acme is None and parse_time(st.renewal_time or "") == by_spec else None

    cert = daemon.wait_for(by_renew_before, 60, "renewalTime from renewBefore again")
    assert "Renewal Time Source: renewBefore 1h" in certificate_status(daemon.store, cert)


def _with_renewal_time(daemon: LiveDaemon) -> Certificate | None:
    cert = daemon.get(Certificate, "web")
    return cert if cert is not None and cert.status and cert.status.renewal_time else None


@pytest.mark.parametrize("server", ["current"], indirect=True)  # Debian's Pebble has no ARI
def test_renewal_order_replaces_the_current_certificate(daemon: LiveDaemon, server: PebbleServer) -> None:
    names = [f"{unique('rep')}.example.test"]
    daemon.apply(acme_issuer("ari", server, [HTTP01_SOLVER]))
    daemon.apply(certificate("web", names, "ari"))
    daemon.wait_ready(Certificate, "web", timeout=60)
    first = daemon.chain("web")[0]

    def ari_known() -> bool:
        cert = daemon.get(Certificate, "web")
        acme = cert.status.acme if cert is not None and cert.status else None
        return bool(acme and acme.ari and acme.ari.cert_id == cert_id(first))

    daemon.wait_for(ari_known, 60, "renewal information for the first certificate")
    update_status_with(daemon.store, Certificate, "default", "web",
                       lambda cert: trigger_renewal(cert, dt.datetime.now(dt.UTC)))

    def renewed() -> x509.Certificate | None:
        secret = daemon.get(Secret, "web")
        chain = x509.load_pem_x509_certificates(secret.get("tls.crt") or b"") if secret else []
        return chain[0] if chain and chain[0].serial_number != first.serial_number else None

    daemon.wait_for(renewed, 60, "the renewed certificate")
    replacing = [o for o in daemon.store.list(Order, "default") if o.spec.replaces]
    assert [o.spec.replaces for o in replacing] == [cert_id(first)]
    # Pebble recorded the replacement: the same replaces again is refused
    issuer = daemon.get(Issuer, "ari")
    key_secret = daemon.get(Secret, "ari-account")
    assert issuer is not None and issuer.status is not None and issuer.status.acme is not None and key_secret
    key = serialization.load_pem_private_key(key_secret.get("tls.key") or b"", None)
    with AcmeClient(server.directory_url, key, ca_bundle=server.ca_bundle) as client:  # type: ignore[arg-type]
        client.use_account(issuer.status.acme.uri or "")
        with pytest.raises(AcmeTerminalError, match="alreadyReplaced|already been replaced"):
            client.new_order([("dns", names[0])], replaces=cert_id(first))


def test_spec_renewal_without_a_window() -> None:
    cert = Certificate.from_dict({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x", "namespace": "d"},
        "spec": {"secretName": "x", "renewBefore": "1h"},
        "status": {"acme": {"ari": {"certID": "other.id", "suggestedWindow": {
            "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}}}},
    })
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = dt.datetime(2029, 12, 1, tzinfo=dt.UTC)
    leaf = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(now).not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    # the window belongs to another certificate: renewBefore decides
    assert scheduled_renewal(cert, leaf) == (leaf.not_valid_after_utc - dt.timedelta(hours=1), RENEWAL_FROM_SPEC)
    assert cert.status is not None and cert.status.acme is not None and cert.status.acme.ari is not None
    cert.status.acme.ari.cert_id = cert_id(leaf)
    when, source = scheduled_renewal(cert, leaf)
    assert source == RENEWAL_FROM_ARI
    assert dt.datetime(2030, 1, 1, tzinfo=dt.UTC) <= (when or now) <= dt.datetime(2030, 1, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize("server", ["current"], indirect=True)  # Debian's Pebble has no ARI
def test_a_refused_replaces_does_not_cost_the_renewal(
    daemon: LiveDaemon, server: PebbleServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The Certificate moves to an issuer with another account: the server refuses to let
    that account replace the old certificate, and the Order is placed again without it."""
    names = [f"{unique('moved')}.example.test"]
    daemon.apply(acme_issuer("first", server, [HTTP01_SOLVER]))
    daemon.apply(acme_issuer("second", server, [HTTP01_SOLVER]))
    daemon.apply(certificate("web", names, "first"))
    daemon.wait_ready(Certificate, "web", timeout=60)
    first = daemon.chain("web")[0]

    def ari_known() -> bool:
        cert = daemon.get(Certificate, "web")
        acme = cert.status.acme if cert is not None and cert.status else None
        return bool(acme and acme.ari and acme.ari.cert_id == cert_id(first))

    daemon.wait_for(ari_known, 60, "renewal information for the first certificate")
    def to_second(cert: Certificate) -> None:
        assert cert.spec.issuer_ref is not None
        cert.spec.issuer_ref.name = "second"

    daemon.edit(Certificate, "web", to_second)

    def renewed() -> x509.Certificate | None:
        secret = daemon.get(Secret, "web")
        chain = x509.load_pem_x509_certificates(secret.get("tls.crt") or b"") if secret else []
        return chain[0] if chain and chain[0].serial_number != first.serial_number else None

    daemon.wait_for(renewed, 60, "the certificate from the second issuer")
    assert [o.spec.replaces for o in daemon.store.list(Order, "default") if o.spec.replaces] == [cert_id(first)]
    assert any("refused replaces=" in r.getMessage() and "unauthorized" in r.getMessage() for r in caplog.records)
