"""ACME issuer set-up through the daemon (spec §4.1): account key generation, External
Account Binding, and Ready=False reasons a person can act on (bad URL, server down, EAB
refused, key Secret invalid), against real Pebbles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certkeeper.api.certificate import Certificate
from certkeeper.api.core import Secret
from certkeeper.api.issuer import Issuer
from tests.peers import EAB_HMAC_KEY, EAB_KID, BindServer, PebbleFactory, PebbleServer, free_port
from tests.test_acme_daemon_support import (
    HTTP01_SOLVER,
    LiveDaemon,
    acme_issuer,
    assert_chains_to,
    certificate,
    sans,
    unique,
)

pytest_plugins = ["tests.peers"]
pytestmark = pytest.mark.peers


@pytest.fixture
def daemon(tmp_path: Path, bind: BindServer) -> Iterator[LiveDaemon]:
    running = LiveDaemon(tmp_path, http01_address=None, acme_http01_solver_nameservers=[bind.address])
    try:
        yield running
    finally:
        running.close()


def wait_condition(daemon: LiveDaemon, name: str, status: str, reason: str) -> str:
    """Wait for the Issuer's Ready condition to have this status and reason; its message."""

    def check() -> str | None:
        cond = daemon.condition(daemon.get(Issuer, name))
        return cond[2] if cond is not None and cond[:2] == (status, reason) else None

    return daemon.wait_for(check, 30, f"Issuer {name} Ready={status} {reason}")


def secret(name: str, **string_data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                           "stringData": string_data})


def test_external_account_binding(tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer) -> None:
    server = pebble_factory(eab_required=True, eab_keys={EAB_KID: EAB_HMAC_KEY})
    daemon = LiveDaemon(tmp_path, http01_address=f"127.0.0.1:{server.http_port}",
                        acme_http01_solver_nameservers=[bind.address])
    try:
        eab = {"keyID": EAB_KID, "keySecretRef": {"name": "eab", "key": "secret"}}
        # without EAB the server refuses the account, and says why
        daemon.apply(acme_issuer("no-eab", server, [HTTP01_SOLVER]))
        message = wait_condition(daemon, "no-eab", "False", "ErrRegisterACMEAccount")
        assert message.startswith("Failed to register ACME account: ")
        assert "externalAccountRequired" in message
        # the EAB Secret missing: an actionable message, and the Secret's arrival fixes it
        daemon.apply(acme_issuer("eab", server, [HTTP01_SOLVER], externalAccountBinding=eab))
        message = wait_condition(daemon, "eab", "False", "ErrRegisterACMEAccount")
        assert 'secret "default/eab" not found' in message
        daemon.apply(secret("eab", secret=EAB_HMAC_KEY))
        daemon.wait_ready(Issuer, "eab")
        # a wrong MAC key is refused by the server
        daemon.apply(secret("eab-wrong", secret="A" * 64))
        daemon.apply(acme_issuer("eab-wrong", server, [HTTP01_SOLVER],
                                 externalAccountBinding={**eab, "keySecretRef": {"name": "eab-wrong", "key": "secret"}}))
        message = wait_condition(daemon, "eab-wrong", "False", "ErrRegisterACMEAccount")
        assert "urn:ietf:params:acme:error:unauthorized" in message
        # the bound account issues
        name = f"{unique('eab')}.example.test"
        daemon.apply(certificate("eab-cert", [name], "eab"))
        daemon.wait_ready(Certificate, "eab-cert")
        chain = daemon.chain("eab-cert")
        assert sans(chain[0]) == [name]
        assert_chains_to(chain, server.root_pem(0))
    finally:
        daemon.close()


def test_invalid_server_urls(daemon: LiveDaemon) -> None:
    daemon.apply(yaml.safe_dump({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "v1"},
        "spec": {"acme": {"server": "https://acme-v01.api.letsencrypt.org/directory",
                          "privateKeySecretRef": {"name": "v1-key"}, "solvers": [HTTP01_SOLVER]}},
    }))
    message = wait_condition(daemon, "v1", "False", "InvalidConfig")
    assert "https://acme-v02.api.letsencrypt.org/directory" in message
    daemon.apply(yaml.safe_dump({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "relative"},
        "spec": {"acme": {"server": "acme.example.test/directory",
                          "privateKeySecretRef": {"name": "rel-key"}, "solvers": [HTTP01_SOLVER]}},
    }))
    message = wait_condition(daemon, "relative", "False", "InvalidURL")
    assert '"acme.example.test/directory"' in message and "https://" in message


def test_server_down_then_up_registers(
    daemon: LiveDaemon, tmp_path: Path, pebble_factory: PebbleFactory
) -> None:
    server = pebble_factory()
    server.stop()
    daemon.apply(acme_issuer("later", server, [HTTP01_SOLVER]))
    message = wait_condition(daemon, "later", "False", "ErrRegisterACMEAccount")
    assert f"cannot reach the ACME server at {server.directory_url}" in message
    # the account key was generated once, and is kept while the server is away
    key_secret = daemon.get(Secret, "later-account")
    assert key_secret is not None
    key = key_secret.get("tls.key")
    server.start()
    daemon.wait_ready(Issuer, "later", timeout=60)
    after = daemon.get(Secret, "later-account")
    assert after is not None and after.get("tls.key") == key


def test_nothing_listening_is_a_clear_message(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    port = free_port()
    text = acme_issuer("nobody", pebble, [HTTP01_SOLVER]).replace(pebble.directory_url,
                                                                  f"https://127.0.0.1:{port}/dir")
    daemon.apply(text)
    message = wait_condition(daemon, "nobody", "False", "ErrRegisterACMEAccount")
    assert f"cannot reach the ACME server at https://127.0.0.1:{port}/dir" in message


def test_invalid_account_key_secret(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    daemon.apply(secret("garbage", **{"tls.key": "not a key"}))
    daemon.apply(acme_issuer("garbage", pebble, [HTTP01_SOLVER], key_secret="garbage"))
    message = wait_condition(daemon, "garbage", "False", "ErrVerifyACMEAccount")
    assert message.startswith("Account private key is invalid: ")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    daemon.apply(secret("ec-key", **{"tls.key": ec_pem.decode()}))
    daemon.apply(acme_issuer("ec", pebble, [HTTP01_SOLVER], key_secret="ec-key"))
    message = wait_condition(daemon, "ec", "False", "ErrVerifyACMEAccount")
    assert message == 'ACME private key in "ec-key" is not of type RSA'
    # no key and key generation disabled
    daemon.apply(acme_issuer("nogen", pebble, [HTTP01_SOLVER], disableAccountKeyGeneration=True))
    message = wait_condition(daemon, "nogen", "False", "ErrVerifyACMEAccount")
    assert "disableAccountKeyGeneration" in message and 'secret "default/nogen-account" not found' in message
    assert daemon.get(Secret, "nogen-account") is None


def test_missing_dns01_secret_is_invalid_solver(daemon: LiveDaemon, pebble: PebbleServer, bind: BindServer) -> None:
    from tests.test_acme_daemon_support import rfc2136_solver, tsig_secret

    daemon.apply(acme_issuer("dns", pebble, [rfc2136_solver(bind, secret="tsig-missing")]))
    message = wait_condition(daemon, "dns", "False", "InvalidSolver")
    assert message == 'secret "default/tsig-missing" not found'
    daemon.apply(tsig_secret(bind, name="tsig-missing"))
    daemon.wait_ready(Issuer, "dns")


def test_email_change_updates_the_same_account(daemon: LiveDaemon, pebble: PebbleServer) -> None:
    daemon.apply(acme_issuer("fast", pebble, [HTTP01_SOLVER]))
    daemon.wait_ready(Issuer, "fast")
    first = daemon.get(Issuer, "fast")
    assert first is not None and first.status is not None and first.status.acme is not None
    uri = first.status.acme.uri
    # a new email is registered with the server (same account, updated contact)

    def new_email(issuer: Issuer) -> None:
        assert issuer.spec.acme is not None
        issuer.spec.acme.email = "new@example.test"

    daemon.edit(Issuer, "fast", new_email)

    def updated() -> bool:
        issuer = daemon.get(Issuer, "fast")
        acme = issuer.status.acme if issuer and issuer.status else None
        return acme is not None and acme.last_registered_email == "new@example.test"

    daemon.wait_for(updated, 30, "email registered")
    issuer = daemon.get(Issuer, "fast")
    assert issuer is not None and issuer.status is not None and issuer.status.acme is not None
    assert issuer.status.acme.uri == uri
    assert daemon.condition(issuer)[:2] == ("True", "ACMEAccountRegistered")  # type: ignore[index]


def test_restart_reuses_the_stored_account_without_the_server(
    tmp_path: Path, pebble_factory: PebbleFactory, bind: BindServer
) -> None:
    server = pebble_factory()
    opts = {"http01_address": f"127.0.0.1:{server.http_port}", "acme_http01_solver_nameservers": [bind.address]}
    first = LiveDaemon(tmp_path, **opts)
    try:
        first.apply(acme_issuer("le", server, [HTTP01_SOLVER]))
        first.wait_ready(Issuer, "le")
        before = first.get(Issuer, "le")
    finally:
        first.close()
    assert before is not None and before.status is not None
    server.stop()
    # a new daemon on the same store, the server away: the issuer stays Ready (fast path)
    second = LiveDaemon(tmp_path, **opts)
    try:
        second.wait_for(second.manager.idle, 10, "initial sync")
        after = second.get(Issuer, "le")
        assert after is not None and after.status is not None
        assert after.status.acme == before.status.acme
        assert second.condition(after) == second.condition(before)
        # the server comes back without our account: it is registered again on first use
        server.start()
        name = f"{unique('again')}.example.test"
        second.apply(certificate("again", [name], "le"))
        second.wait_ready(Certificate, "again", timeout=60)
        assert sans(second.chain("again")[0]) == [name]
        issuer = second.get(Issuer, "le")
        assert issuer is not None and issuer.status is not None and issuer.status.acme is not None
        assert issuer.status.acme.uri != before.status.acme.uri  # type: ignore[union-attr]
    finally:
        second.close()
