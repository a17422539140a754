"""Plain, typed snapshots of ACME resources (RFC 8555 §7.1), decoupled from josepy.

Controllers store these fields in Order/Challenge status (spec §1.10, §1.11); keeping them
as frozen dataclasses means callers never touch the library's message classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certkeeper.acme.errors import ACME_ERROR_PREFIX

PENDING, READY, PROCESSING, VALID, INVALID = "pending", "ready", "processing", "valid", "invalid"
EXPIRED, DEACTIVATED, REVOKED = "expired", "deactivated", "revoked"
FINAL_ORDER_STATES = frozenset({VALID, INVALID, EXPIRED})
FINAL_AUTHZ_STATES = frozenset({VALID, INVALID, EXPIRED, DEACTIVATED, REVOKED})
FINAL_CHALLENGE_STATES = frozenset({VALID, INVALID})


@dataclass(frozen=True)
class Problem:
    """An RFC 7807 problem as the server reported it inside a resource."""

    type: str
    detail: str
    status: int | None = None

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status else ""
        return f"{prefix}{self.type}: {self.detail}" if self.type else f"{prefix}{self.detail}"

    @property
    def code(self) -> str:
        return self.type[len(ACME_ERROR_PREFIX) :] if self.type.startswith(ACME_ERROR_PREFIX) else ""

    @classmethod
    def from_json(cls, data: Any) -> Problem | None:
        if not isinstance(data, dict):
            return None
        status = data.get("status")
        return cls(
            type=str(data.get("type", "")),
            detail=str(data.get("detail", "")),
            status=status if isinstance(status, int) else None,
        )


@dataclass(frozen=True)
class Identifier:
    type: str
    """``dns`` or ``ip``."""
    value: str

    @classmethod
    def from_json(cls, data: Any) -> Identifier:
        return cls(type=str(data.get("type", "")), value=str(data.get("value", "")))


@dataclass(frozen=True)
class Challenge:
    url: str
    type: str
    """``http-01``, ``dns-01``, ``tls-alpn-01`` ... as the server names it."""
    token: str
    status: str
    error: Problem | None = None

    @classmethod
    def from_json(cls, data: Any) -> Challenge:
        return cls(
            url=str(data.get("url", "")),
            type=str(data.get("type", "")),
            token=str(data.get("token", "")),
            status=str(data.get("status", "")),
            error=Problem.from_json(data.get("error")),
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_CHALLENGE_STATES


@dataclass(frozen=True)
class Authorization:
    url: str
    identifier: Identifier
    status: str
    wildcard: bool
    challenges: tuple[Challenge, ...]
    expires: str | None = None
    retry_after: float | None = field(default=None, compare=False)
    """The answer's ``Retry-After`` in seconds (RFC 8555 §7.5.1), None when absent."""

    @classmethod
    def from_json(cls, url: str, data: Any, retry_after: float | None = None) -> Authorization:
        return cls(
            url=url,
            identifier=Identifier.from_json(data.get("identifier", {})),
            status=str(data.get("status", "")),
            wildcard=bool(data.get("wildcard", False)),
            challenges=tuple(Challenge.from_json(c) for c in data.get("challenges", [])),
            expires=data.get("expires"),
            retry_after=retry_after,
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_AUTHZ_STATES

    def challenge(self, type_: str) -> Challenge | None:
        """The first offered challenge of a type (the solver picker's rule, spec §4.3)."""
        return next((c for c in self.challenges if c.type == type_), None)

    @property
    def error(self) -> Problem | None:
        """The first challenge error: why an ``invalid`` authorization failed."""
        return next((c.error for c in self.challenges if c.error is not None), None)


@dataclass(frozen=True)
class Order:
    url: str
    status: str
    identifiers: tuple[Identifier, ...]
    authorizations: tuple[str, ...]
    finalize: str
    certificate: str | None = None
    error: Problem | None = None
    expires: str | None = None
    profile: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    retry_after: float | None = field(default=None, compare=False)
    """Seconds the server asked to wait before asking about this order again (the
    answer's ``Retry-After``), None when it said nothing."""

    @classmethod
    def from_json(cls, url: str, data: Any, retry_after: float | None = None) -> Order:
        return cls(
            url=url,
            status=str(data.get("status", "")),
            identifiers=tuple(Identifier.from_json(i) for i in data.get("identifiers", [])),
            authorizations=tuple(str(a) for a in data.get("authorizations", [])),
            finalize=str(data.get("finalize", "")),
            certificate=data.get("certificate"),
            error=Problem.from_json(data.get("error")),
            expires=data.get("expires"),
            profile=data.get("profile"),
            extra=dict(data),
            retry_after=retry_after,
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_ORDER_STATES
