"""Pure parts of the ACME layer: key values, error typing, Retry-After, the polling
schedule and preferredChain selection, checked with real keys and certificates."""

from __future__ import annotations

import datetime as dt
import email.utils
import json

import pytest
import requests
from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy.jwk import JWKEC, JWKRSA

from certkeeper.acme.chains import choose_chain, top_issuer_common_name
from certkeeper.acme.client import signing_algorithm, to_jwk
from certkeeper.acme.errors import (
    AcmeRateLimitedError,
    AcmeServerError,
    AcmeTerminalError,
    AcmeTimeoutError,
)
from certkeeper.acme.keyauth import dns01_txt_value, is_valid_token, key_authorization
from certkeeper.acme.network import parse_retry_after, problem_from_response
from certkeeper.acme.polling import poll_until
from certkeeper.acme.resources import Authorization, Order

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"


# --------------------------------------------------------------------------- key values


@pytest.mark.parametrize("make_key", [lambda: rsa.generate_private_key(65537, 2048),
                                      lambda: ec.generate_private_key(ec.SECP256R1())])
def test_key_values_match_the_acme_library(make_key: object) -> None:
    jwk = to_jwk(make_key())  # type: ignore[operator]
    token_bytes = challenges.HTTP01(token=b"\x01" * 32).encode("token")
    assert key_authorization(token_bytes, jwk) == challenges.HTTP01(token=b"\x01" * 32).key_authorization(jwk)
    assert dns01_txt_value(key_authorization(token_bytes, jwk)) == challenges.DNS01(token=b"\x01" * 32).validation(jwk)
    value = dns01_txt_value(key_authorization(TOKEN, jwk))
    assert len(value) == 43 and "=" not in value  # unpadded base64url SHA-256


def test_account_key_types_and_algorithms() -> None:
    assert signing_algorithm(to_jwk(rsa.generate_private_key(65537, 2048))).name == "RS256"
    assert isinstance(to_jwk(rsa.generate_private_key(65537, 2048)), JWKRSA)
    for curve, alg in ((ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384"), (ec.SECP521R1(), "ES512")):
        jwk = to_jwk(ec.generate_private_key(curve))
        assert isinstance(jwk, JWKEC) and signing_algorithm(jwk).name == alg


def test_token_validation() -> None:
    assert is_valid_token(TOKEN)
    for bad in ("", "a/b", "..", "a=b", "a b", "ä"):
        assert not is_valid_token(bad)


# --------------------------------------------------------------------------- errors


def response(status: int, body: object | None, headers: dict[str, str] | None = None) -> requests.Response:
    """A real requests.Response as the transport would build it."""
    built = requests.Response()
    built.status_code = status
    built.headers.update(headers or {})
    if body is not None:
        built._content = json.dumps(body).encode()
        built.headers.setdefault("Content-Type", "application/problem+json")
    else:
        built._content = b"<html>Bad Gateway</html>"
    return built


def test_problem_typing() -> None:
    def problem(status: int, typ: str, detail: str, headers: dict[str, str] | None = None) -> object:
        body = {"type": typ, "detail": detail, "status": status}
        resp = response(status, body, headers)
        return problem_from_response(resp, messages.Error.from_json(body))

    limited = problem(429, "urn:ietf:params:acme:error:rateLimited", "too many", {"Retry-After": "120"})
    assert isinstance(limited, AcmeRateLimitedError) and isinstance(limited, AcmeTerminalError)
    assert limited.retry_after == 120.0 and not limited.retryable
    assert str(limited) == "429 urn:ietf:params:acme:error:rateLimited: too many"
    server = problem(503, "urn:ietf:params:acme:error:serverInternal", "down")
    assert isinstance(server, AcmeServerError) and server.retryable and server.code == "serverInternal"
    terminal = problem(400, "urn:ietf:params:acme:error:malformed", "bad")
    assert isinstance(terminal, AcmeTerminalError) and terminal.code == "malformed"
    non_json = problem_from_response(response(502, None), None)
    assert isinstance(non_json, AcmeServerError) and non_json.retryable and "Bad Gateway" in non_json.detail


def test_retry_after_forms() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_retry_after("30") == 30.0
    later = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after(email.utils.format_datetime(now - dt.timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


# --------------------------------------------------------------------------- polling


class SteppedTime:
    """A clock that only moves when the poller sleeps, recording each wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def test_poll_intervals_grow_from_milliseconds_and_honour_retry_after() -> None:
    clock = SteppedTime()
    answers = iter([("pending", None)] * 10 + [("pending", 3.0), ("valid", None)])
    result = poll_until(lambda: next(answers), lambda s: s == "valid", timeout=60, what="x",
                        sleep=clock.sleep, monotonic=clock.monotonic)
    assert result == "valid"
    assert clock.waits[:9] == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0]
    assert clock.waits[9] == 1.0
    assert clock.waits[10] == 3.0  # Retry-After is a lower bound


def test_poll_gives_up_at_the_deadline() -> None:
    clock = SteppedTime()
    with pytest.raises(AcmeTimeoutError, match="timed out after 2s waiting for order u") as timed_out:
        poll_until(lambda: ("pending", None), lambda s: s == "valid", timeout=2, what="order u",
                   sleep=clock.sleep, monotonic=clock.monotonic)
    assert timed_out.value.retryable
    assert clock.now == pytest.approx(2.0)


# --------------------------------------------------------------------------- resources


def test_resources_from_rfc8555_json() -> None:
    authz = Authorization.from_json("https://ca/authz/1", {
        "identifier": {"type": "dns", "value": "example.test"}, "status": "invalid", "wildcard": True,
        "challenges": [
            {"type": "http-01", "url": "https://ca/chal/1", "token": TOKEN, "status": "pending"},
            {"type": "dns-01", "url": "https://ca/chal/2", "token": TOKEN, "status": "invalid",
             "error": {"type": "urn:ietf:params:acme:error:dns", "detail": "NXDOMAIN", "status": 400}},
        ],
    })
    assert authz.wildcard and authz.is_final
    assert authz.challenge("dns-01") is not None and authz.challenge("tls-alpn-01") is None
    assert authz.error is not None and authz.error.code == "dns"
    assert str(authz.error) == "400 urn:ietf:params:acme:error:dns: NXDOMAIN"
    order = Order.from_json("https://ca/order/1", {"status": "processing", "identifiers": [
        {"type": "ip", "value": "192.0.2.1"}], "authorizations": ["https://ca/authz/1"],
        "finalize": "https://ca/finalize/1"})
    assert not order.is_final and order.certificate is None and order.identifiers[0].type == "ip"


# --------------------------------------------------------------------------- chains


def _cert(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey) -> str:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_choose_chain_by_top_issuer_common_name() -> None:
    leaf_key, inter_key, root_a, root_b = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    leaf = _cert("leaf", "Intermediate", leaf_key, inter_key)
    default = leaf + _cert("Intermediate", "Root A", inter_key, root_a)
    alt = leaf + _cert("Intermediate", "Root B", inter_key, root_b)
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return {"https://ca/alt/1": alt, "https://ca/alt/2": default}[url]

    assert top_issuer_common_name(default) == "Root A"
    assert choose_chain(default, ["https://ca/alt/1"], fetch, None) == default
    assert choose_chain(default, ["https://ca/alt/1"], fetch, "Root A") == default
    assert fetched == []  # no alternate fetched when the default matches
    assert choose_chain(default, ["https://ca/alt/1"], fetch, "Root B") == alt
    assert choose_chain(default, ["https://ca/alt/2"], fetch, "Root C") == default
