"""A small, fast ACME client on certbot's ``acme`` library (JOSE and messages stay its own).

What it adds over ``ClientV2``: typed errors (:mod:`certkeeper.acme.errors`), a badNonce
loop that survives servers rejecting many nonces, millisecond polling instead of fixed
one-second sleeps, identifier-based orders (no CSR needed to order, as cert-manager's Order
controller does), plain dataclass resources, and preferredChain selection (spec §4.8).
One instance serves one account and may be shared by threads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeAlias, cast

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.errors import DeserializationError
from josepy.json_util import field as jose_field
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from certkeeper.acme.ari import RenewalInfo
from certkeeper.acme.chains import choose_chain
from certkeeper.acme.errors import AcmeNetworkError, AcmeProtocolError, AcmeRetryableError
from certkeeper.acme.keyauth import dns01_txt_value, key_authorization
from certkeeper.acme.network import EmptyPayload, RobustClientNetwork, parse_retry_after
from certkeeper.acme.polling import poll_until
from certkeeper.acme.resources import (
    FINAL_AUTHZ_STATES,
    FINAL_ORDER_STATES,
    PENDING,
    PROCESSING,
    Authorization,
    Challenge,
    Order,
)

DEFAULT_USER_AGENT = "certkeeper"
DEFAULT_TIMEOUT = 90
"""Per-request timeout in seconds (cert-manager's value, spec §4.1)."""

AccountKey: TypeAlias = JWK | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
IdentifierSpec = tuple[str, str]
"""``("dns", "example.com")`` or ``("ip", "192.0.2.1")``."""

_EC_ALGORITHMS = {"secp256r1": ES256, "secp384r1": ES384, "secp521r1": ES512}


def to_jwk(key: AccountKey) -> JWK:
    """JWK for a cryptography private key (or pass a JWK through)."""
    if isinstance(key, JWK):
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return JWKEC(key=key)
    raise TypeError(f"unsupported account key type {type(key).__name__}")


def signing_algorithm(jwk: JWK) -> JWASignature:
    """RS256 for RSA; ES256/384/512 by curve for EC."""
    if isinstance(jwk, JWKEC):
        curve = cast(ec.EllipticCurvePrivateKey, jwk.key).curve.name
        if curve not in _EC_ALGORITHMS:
            raise TypeError(f"unsupported EC curve {curve}")
        return _EC_ALGORITHMS[curve]
    if isinstance(jwk, JWKRSA):
        return RS256
    raise TypeError(f"unsupported account key type {type(jwk).__name__}")


def _write_private_bundle(pem: bytes) -> str:
    """requests takes trust only from a path; the file is 0600 (mkstemp) and removed when
    the client is closed or collected."""
    fd, path = tempfile.mkstemp(prefix="certkeeper-acme-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


@contextlib.contextmanager
def _library_errors() -> Iterator[None]:
    """Anything else the library raises (missing nonce, undecodable JSON, unexpected
    update) means the server broke the protocol: one typed error for callers."""
    try:
        yield
    except acme_errors.ConflictError:
        raise
    except (acme_errors.Error, DeserializationError) as exc:
        raise AcmeProtocolError(f"unexpected ACME answer: {exc!r}") from exc


class _NewOrder(messages.NewOrder):
    """newOrder with the fields certbot's message leaves out: ``notAfter`` (RFC 8555) and
    ``replaces`` (RFC 9773)."""

    not_after: str | None = jose_field("notAfter", omitempty=True)
    replaces: str | None = jose_field("replaces", omitempty=True)


#: connections kept per ACME server, at least the daemon's io workers
POOL_SIZE = 64


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise AcmeProtocolError(f"{response.url}: answer is not JSON") from exc
    if not isinstance(data, dict):
        raise AcmeProtocolError(f"{response.url}: answer is not a JSON object")
    return data


def _read_environment_once(session: requests.Session, url: str) -> None:
    """requests re-reads proxy variables from the whole environment on every request,
    which costs as much as the RS256 signature; read them once for the directory's host."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class AcmeClient:
    """ACME operations for one account key against one directory."""

    def __init__(
        self,
        directory_url: str,
        account_key: AccountKey,
        *,
        ca_bundle: bytes | None = None,
        skip_tls_verify: bool = False,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: int = DEFAULT_TIMEOUT,
        bad_nonce_retries: int | None = None,
    ) -> None:
        if ca_bundle and skip_tls_verify:
            raise ValueError("caBundle and skipTLSVerify are mutually exclusive")
        self.directory_url = directory_url
        self.key = to_jwk(account_key)
        self._bundle_path: str | None = None
        verify: bool | str = not skip_tls_verify
        if verify is True:  # what requests would read per request, read once (see below)
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if ca_bundle:
            self._bundle_path = _write_private_bundle(ca_bundle)
            self._finalizer = weakref.finalize(self, _remove, self._bundle_path)
            verify = self._bundle_path
        kwargs: dict[str, Any] = {}
        if bad_nonce_retries is not None:
            kwargs["bad_nonce_retries"] = bad_nonce_retries
        self.net = RobustClientNetwork(
            key=self.key,
            alg=signing_algorithm(self.key),
            verify_ssl=cast(bool, verify),
            user_agent=user_agent,
            timeout=timeout,
            **kwargs,
        )
        _read_environment_once(self.net.session, directory_url)
        # many workers share one account's client: keep as many connections as they use,
        # not requests' default ten (beyond which every request made a new TLS handshake)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.net.session.mount("https://", adapter)
        self.net.session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._client: acme_client.ClientV2 | None = None

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self.net.session.close()
        if self._bundle_path:
            self._finalizer()

    def __enter__(self) -> AcmeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> acme_client.ClientV2:
        """The library client; the directory is fetched on first use so constructing an
        AcmeClient never touches the network."""
        with self._lock:
            if self._client is None:
                with _library_errors():
                    directory = acme_client.ClientV2.get_directory(self.directory_url, self.net)
                self._client = acme_client.ClientV2(directory, self.net)
            return self._client

    @property
    def directory(self) -> messages.Directory:
        return self.client.directory

    @property
    def account_uri(self) -> str | None:
        account = self.net.account
        return None if account is None else str(account.uri)

    def use_account(self, uri: str) -> None:
        """Sign as an already registered account without asking the server (the Issuer's
        fast path when ``status.acme.uri`` is still good, spec §4.1 step 4)."""
        self.net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())

    def _post(self, url: str, payload: Any) -> requests.Response:
        with _library_errors():
            return self.client._post(url, payload)

    def _post_as_get(self, url: str, **kwargs: Any) -> requests.Response:
        with _library_errors():
            return self.client._post_as_get(url, **kwargs)

    def _require_account(self) -> None:
        if self.net.account is None:
            raise AcmeProtocolError("no ACME account: call register() or use_account() first")

    # ------------------------------------------------------------------ account

    def external_account_required(self) -> bool:
        return bool(self.client.external_account_required())

    def register(self, email: str | None = None, eab: tuple[str, str] | None = None) -> str:
        """Register (terms of service agreed) or find the existing account for this key;
        bring its contact in line with ``email``. Returns the account URI.

        ``eab`` is ``(key id, HMAC key as unpadded base64url)``; the HMAC is always HS256
        (a key that is not base64url raises ValueError). Not safe to run while other threads
        use this client: it re-binds the account the requests are signed with."""
        contact: tuple[str, ...] = (f"mailto:{email.lower()}",) if email else ()
        fields: dict[str, Any] = {"contact": contact, "terms_of_service_agreed": True}
        if eab is not None:
            kid, hmac_key = eab
            fields["external_account_binding"] = messages.ExternalAccountBinding.from_data(
                account_public_key=self.key.public_key(), kid=kid, hmac_key=hmac_key,
                directory=self.directory,
            )
        self.net.account = None
        with _library_errors():
            try:
                regr = self.client.new_account(messages.NewRegistration(**fields))
            except acme_errors.ConflictError as existing:
                found = messages.RegistrationResource(uri=existing.location, body=messages.Registration())
                self.net.account = found
                regr = self.client.query_registration(found)
            current = tuple(regr.body.contact or ())
            first = current[0].removeprefix("mailto:") if current else ""
            if first.lower() != (email or "").lower():
                regr = self.client.update_registration(regr, messages.Registration(contact=contact))
        uri = regr.uri
        if not uri:
            raise AcmeProtocolError("newAccount answer carried no Location")
        return str(uri)

    def get_account(self) -> dict[str, Any]:
        """The account object as the server holds it (status, contact, orders URL)."""
        self._require_account()
        uri = self.account_uri
        assert uri is not None
        return _json(self._post_as_get(uri))

    # ------------------------------------------------------------------ orders

    def new_order(
        self,
        identifiers: Sequence[IdentifierSpec],
        profile: str | None = None,
        *,
        not_after: str | None = None,
        replaces: str | None = None,
    ) -> Order:
        """Create an order for identifiers (type ``dns`` or ``ip``); ``not_after`` is an
        RFC 3339 time (RFC 8555 §7.4), ``replaces`` an ARI CertID (RFC 9773 §5)."""
        self._require_account()
        ids = [
            messages.Identifier(typ=messages.IdentifierType(kind), value=value)
            for kind, value in identifiers
        ]
        fields: dict[str, Any] = {"identifiers": ids}
        if profile:
            fields["profile"] = profile
        if not_after:
            fields["not_after"] = not_after
        if replaces:
            fields["replaces"] = replaces
        response = self._post(self.directory["newOrder"], _NewOrder(**fields))
        url = response.headers.get("Location")
        if not url:
            raise AcmeProtocolError("newOrder answer carried no Location")
        return Order.from_json(url, _json(response))

    def profiles(self) -> dict[str, str] | None:
        """The directory's ``meta.profiles`` (name -> description); None when it has none."""
        meta = self.directory.meta
        found = getattr(meta, "profiles", None) if meta is not None else None
        return {str(k): str(v) for k, v in found.items()} if found else None

    def renewal_info_url(self) -> str | None:
        """The directory's ``renewalInfo`` endpoint, None when the server has no ARI."""
        try:
            url = self.directory["renewalInfo"]
        except (KeyError, AttributeError):
            return None
        return str(url) if url else None

    def renewal_info(self, cert_id: str) -> RenewalInfo | None:
        """The suggested renewal window for a certificate (an unauthenticated GET, RFC 9773
        §4.1); None when the server offers no ARI."""
        base = self.renewal_info_url()
        if base is None:
            return None
        try:
            response = self.net.session.get(
                f"{base.rstrip('/')}/{cert_id}", verify=self.net.verify_ssl, timeout=self.net._default_timeout
            )
        except requests.RequestException as exc:
            raise AcmeNetworkError(f"renewalInfo: {exc}") from exc
        if response.status_code >= 500:
            raise AcmeRetryableError(f"renewalInfo: HTTP {response.status_code}")
        if response.status_code != 200:
            raise AcmeProtocolError(f"renewalInfo for {cert_id}: HTTP {response.status_code}: {response.text[:200]}")
        return RenewalInfo.from_json(_json(response), parse_retry_after(response.headers.get("Retry-After")))

    def get_order(self, url: str) -> Order:
        return self._fetch_order(url)[0]

    def _fetch_order(self, url: str) -> tuple[Order, float | None]:
        self._require_account()
        response = self._post_as_get(url)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Order.from_json(url, _json(response), retry_after), retry_after

    def get_authorization(self, url: str) -> Authorization:
        return self._fetch_authorization(url)[0]

    def _fetch_authorization(self, url: str) -> tuple[Authorization, float | None]:
        self._require_account()
        response = self._post_as_get(url)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Authorization.from_json(url, _json(response), retry_after), retry_after

    def answer_challenge(self, challenge_url: str) -> Challenge:
        """Tell the server the challenge is ready to be validated."""
        self._require_account()
        response = self._post(challenge_url, EmptyPayload())
        return Challenge.from_json(_json(response))

    def finalize(self, order: Order | str, csr_pem: bytes, *, finalize_url: str | None = None) -> Order:
        """Send the CSR (PEM or DER) to the order's finalize URL. Given the order's URL
        alone, the order is fetched to learn it, unless ``finalize_url`` (kept from the
        order's creation) says it."""
        self._require_account()
        if isinstance(order, str):
            order_url = order
            if not finalize_url:
                finalize_url = self.get_order(order).finalize
        else:
            order_url, finalize_url = order.url, order.finalize
        csr = (
            x509.load_pem_x509_csr(csr_pem)
            if csr_pem.lstrip().startswith(b"-----")
            else x509.load_der_x509_csr(csr_pem)
        )
        response = self._post(finalize_url, messages.CertificateRequest(csr=csr))
        return Order.from_json(order_url, _json(response), parse_retry_after(response.headers.get("Retry-After")))

    def fetch_certificate(self, url: str, preferred_chain: str | None = None) -> str:
        """The PEM chain (leaf first) exactly as served; with ``preferred_chain``, the first
        chain (default, then ``Link rel="alternate"`` ones) whose top issuer CN matches."""
        self._require_account()
        response = self._post_as_get(url)
        alternates = self.client._get_links(response, "alternate") if preferred_chain else []
        return choose_chain(
            response.text, alternates, lambda alt: self._post_as_get(alt).text, preferred_chain
        )

    # ------------------------------------------------------------------ waiting

    def wait_authorization(self, url: str, *, timeout: float = 120.0) -> Authorization:
        """Poll until the authorization leaves ``pending`` (2 min like cert-manager)."""
        return poll_until(
            lambda: self._fetch_authorization(url),
            lambda authz: authz.status in FINAL_AUTHZ_STATES,
            timeout=timeout,
            what=f"authorization {url}",
        )

    def wait_order(
        self, url: str, *, timeout: float = 120.0, states: Iterable[str] | None = None
    ) -> Order:
        """Poll until the order is in one of ``states`` (default: not pending/processing)."""
        wanted = frozenset(states) if states is not None else None

        def done(order: Order) -> bool:
            if wanted is not None:
                return order.status in wanted or order.status in FINAL_ORDER_STATES
            return order.status not in (PENDING, PROCESSING)

        return poll_until(lambda: self._fetch_order(url), done, timeout=timeout, what=f"order {url}")

    # ------------------------------------------------------------------ keys

    def key_authorization(self, token: str) -> str:
        """HTTP-01 Challenge ``key`` for this account."""
        return key_authorization(token, self.key)

    def dns01_value(self, token: str) -> str:
        """DNS-01 Challenge ``key`` (TXT record value) for this account."""
        return dns01_txt_value(key_authorization(token, self.key))
