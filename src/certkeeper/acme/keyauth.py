"""Challenge key values (spec §1.11 ``key``), computed by josepy (RFC 7638 thumbprints)."""

from __future__ import annotations

import hashlib

from josepy.b64 import b64encode
from josepy.jwk import JWK

TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def is_valid_token(token: str) -> bool:
    """ACME tokens are unpadded base64url; anything else could escape a webroot path."""
    return bool(token) and set(token) <= TOKEN_ALPHABET


def key_authorization(token: str, account_key: JWK) -> str:
    """HTTP-01 key: ``<token>.<base64url(JWK SHA-256 thumbprint)>``."""
    thumbprint = b64encode(account_key.public_key().thumbprint())
    return f"{token}.{thumbprint.decode('ascii')}"


def dns01_txt_value(key_authz: str) -> str:
    """DNS-01 key: unpadded base64url of SHA-256(key authorization)."""
    digest = hashlib.sha256(key_authz.encode("ascii")).digest()
    return b64encode(digest).decode("ascii")
