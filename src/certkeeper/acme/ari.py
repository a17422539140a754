"""ACME Renewal Information (RFC 9773): the CertID of a certificate, the server's
suggested window, and the renewal time picked inside it.

The time is "a random time within the window" (RFC 9773 §4.2), drawn from a hash of the
Certificate's identity and the window, so every controller that asks gets the same answer
without storing it, and a new window gives a new draw.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from certkeeper.acme.errors import AcmeProtocolError

RETRY_MIN = dt.timedelta(hours=1)
RETRY_MAX = dt.timedelta(days=7)
RETRY_DEFAULT = dt.timedelta(hours=6)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_id(cert: x509.Certificate) -> str:
    """``base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER contents)``."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if not aki:
        raise ValueError("the certificate has no authority key identifier, so it has no ARI CertID")
    serial = cert.serial_number
    length = serial.bit_length() // 8 + 1  # DER: minimal two's complement, a leading 0 if the top bit is set
    return f"{_b64url(aki)}.{_b64url(serial.to_bytes(length, 'big'))}"


@dataclass(frozen=True)
class RenewalInfo:
    start: dt.datetime
    end: dt.datetime
    explanation_url: str | None
    retry_after: dt.timedelta

    @classmethod
    def from_json(cls, data: Any, retry_after: float | None) -> RenewalInfo:
        try:
            window = data["suggestedWindow"]
            start = _parse(window["start"])
            end = _parse(window["end"])
        except (KeyError, TypeError, ValueError) as e:
            raise AcmeProtocolError(f"renewalInfo answer has no valid suggestedWindow: {e}") from e
        if end < start:
            raise AcmeProtocolError("renewalInfo suggestedWindow ends before it starts")
        wait = dt.timedelta(seconds=retry_after) if retry_after is not None else RETRY_DEFAULT
        url = data.get("explanationURL")
        return cls(start, end, str(url) if url else None, min(max(wait, RETRY_MIN), RETRY_MAX))


def _parse(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def pick_time(start: dt.datetime, end: dt.datetime, seed: str) -> dt.datetime:
    """A uniformly spread, stable point in ``[start, end]`` for ``seed``."""
    digest = hashlib.sha256(f"{seed}|{start.isoformat()}|{end.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    chosen = start + (end - start) * fraction
    return chosen.replace(microsecond=0) if chosen.replace(microsecond=0) >= start else start
