"""The in-memory ACME account registry (cert-manager's ``accounts.Registry``).

Issuer set-up registers an account and puts its client here, keyed by the Issuer's UID;
the Order and Challenge controllers take it from here. After a restart the registry is
empty until the issuer controller has run; rather than fail until then, a Ready issuer
whose ``status.acme`` still matches its key is rebuilt on demand (the same fast path as
set-up, no request to the server).
"""

from __future__ import annotations

import base64
import hashlib
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ...acme.client import AcmeClient
from ...api import constants as c
from ...api.core import TLS_KEY, Secret
from ...api.issuer import Issuer
from ...api.meta import get_condition
from ...issuers.base import resource_namespace
from ...runtime.controller import Context

SERVICE_KEY = "acme-accounts"
#: cert-manager's message when a controller runs before its issuer was set up
NOT_AVAILABLE = "ACME client for issuer not initialised/available"


class AccountNotAvailable(Exception):
    """No usable client for the issuer yet; the caller retries."""


class AccountKeyError(Exception):
    """The account key Secret exists but holds no usable RSA key."""


class Registry:
    """Issuer UID → (client, what it was built from). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[AcmeClient, tuple[str, ...]]] = {}

    def get(self, uid: str, fingerprint: tuple[str, ...] | None = None) -> AcmeClient | None:
        with self._lock:
            entry = self._clients.get(uid)
        if entry is None or (fingerprint is not None and entry[1] != fingerprint):
            return None
        return entry[0]

    def put(self, uid: str, client: AcmeClient, fingerprint: tuple[str, ...]) -> None:
        with self._lock:
            old = self._clients.get(uid)
            self._clients[uid] = (client, fingerprint)
        if old is not None and old[0] is not client:
            old[0].close()

    def remove(self, uid: str) -> None:
        with self._lock:
            old = self._clients.pop(uid, None)
        if old is not None:
            old[0].close()


def registry(ctx: Context) -> Registry:
    reg = ctx.services.get(SERVICE_KEY)
    if reg is None:
        reg = ctx.services.setdefault(SERVICE_KEY, Registry())
    assert isinstance(reg, Registry)
    return reg


def key_secret_ref(issuer: Issuer) -> tuple[str, str]:
    acme = issuer.spec.acme
    ref = acme.private_key_secret_ref if acme else None
    return (ref.name if ref and ref.name else ""), (ref.key if ref and ref.key else TLS_KEY)


def load_account_key(ctx: Context, issuer: Issuer) -> rsa.RSAPrivateKey | None:
    """The account key, None if its Secret does not exist; AccountKeyError if unusable."""
    name, key = key_secret_ref(issuer)
    secret = ctx.store.try_get(Secret, resource_namespace(ctx, issuer), name)
    if secret is None:
        return None
    data = secret.get(key)
    if not data:
        raise AccountKeyError(f'Account private key is invalid: no data for "{key}" in secret "{name}"')
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise AccountKeyError(f"Account private key is invalid: {e}") from e
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise AccountKeyError(f'ACME private key in "{name}" is not of type RSA')
    return loaded


def private_key_hash(key: rsa.RSAPrivateKey) -> str:
    """base64 (std) SHA-256 of the PKCS#1 DER, as ``status.acme.lastPrivateKeyHash``."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def ca_bundle(issuer: Issuer) -> bytes | None:
    acme = issuer.spec.acme
    if acme is None or not acme.ca_bundle:
        return None
    text = acme.ca_bundle
    if "-----BEGIN" in text:
        return text.encode()
    return base64.b64decode(text)


def fingerprint(issuer: Issuer, key_hash: str) -> tuple[str, ...]:
    """What a cached client depends on: a change to any of these needs a new client."""
    acme = issuer.spec.acme
    assert acme is not None
    return (acme.server or "", key_hash, acme.ca_bundle or "", str(bool(acme.skip_tls_verify)))


def new_client(issuer: Issuer, key: rsa.RSAPrivateKey) -> AcmeClient:
    acme = issuer.spec.acme
    assert acme is not None
    return AcmeClient(
        acme.server or "", key, ca_bundle=ca_bundle(issuer), skip_tls_verify=bool(acme.skip_tls_verify),
    )


def client_for(ctx: Context, issuer: Issuer) -> AcmeClient:
    """The issuer's registered client, rebuilt without a server call if the issuer is Ready
    and its stored account still matches its key; else AccountNotAvailable."""
    reg = registry(ctx)
    client = reg.get(issuer.uid)
    if client is not None:
        return client
    status = issuer.status
    ready = get_condition(status.conditions if status else None, c.COND_READY)
    account = status.acme if status else None
    if ready is None or ready.status != "True" or account is None or not account.uri:
        raise AccountNotAvailable(NOT_AVAILABLE)
    try:
        key = load_account_key(ctx, issuer)
    except AccountKeyError as e:
        raise AccountNotAvailable(f"{NOT_AVAILABLE}: {e}") from e
    if key is None:
        raise AccountNotAvailable(NOT_AVAILABLE)
    key_hash = private_key_hash(key)
    if account.last_private_key_hash != key_hash:
        raise AccountNotAvailable(NOT_AVAILABLE)
    client = new_client(issuer, key)
    client.use_account(account.uri)
    reg.put(issuer.uid, client, fingerprint(issuer, key_hash))
    return client
