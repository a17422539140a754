"""Order and Challenge rules (spec §1.10, §1.11; internal/apis/acme/validation).

cert-manager's webhook accepts any Order or Challenge on create (only the CRD schema
applies: required fields, ``format: byte``, the challenge type enum) and guards updates:
what the ACME server told us (URLs, tokens, the issued chain) must never be rewritten,
because the controllers use them as the identity of server-side objects.
"""

from __future__ import annotations

from typing import Any

from ..acme import ACMEAuthorization, ACMEChallenge, Challenge, Order, OrderStatus
from .common import validate_enum
from .errors import FieldError, child, forbidden, index, required

CHALLENGE_TYPES = ("HTTP-01", "DNS-01")
IMMUTABLE = "field is immutable once set"


def validate_order(order: Order) -> list[FieldError]:
    el: list[FieldError] = []
    spec = order.spec
    if spec.issuer_ref is None:
        el.append(required("spec.issuerRef"))
    if not spec.request:
        el.append(required("spec.request"))
    return el


def validate_challenge(ch: Challenge) -> list[FieldError]:
    el: list[FieldError] = []
    spec = ch.spec
    for name, value in (
        ("authorizationURL", spec.authorization_url),
        ("dnsName", spec.dns_name),
        ("issuerRef", spec.issuer_ref),
        ("key", spec.key),
        ("solver", spec.solver),
        ("token", spec.token),
        ("type", spec.type),
        ("url", spec.url),
    ):
        if value is None:
            el.append(required(child("spec", name)))
    el += validate_enum(spec.type, "spec.type", CHALLENGE_TYPES)
    return el


def validate_order_update(old: Order, new: Order) -> list[FieldError]:
    el: list[FieldError] = []
    if old.spec.request and old.spec.request != new.spec.request:
        el.append(forbidden("spec.request", IMMUTABLE))
    el += _order_status_update(old.status or OrderStatus(), new.status or OrderStatus(), "status")
    return el


def _changed(a: Any, b: Any) -> bool:
    """Set-once semantics: an unset (None/empty) old value may be filled in freely."""
    return a not in (None, "") and a != b


def _order_status_update(a: OrderStatus, b: OrderStatus, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    for name, x, y in (
        ("url", a.url, b.url),
        ("finalizeURL", a.finalize_url, b.finalize_url),
        ("certificate", a.certificate, b.certificate),
    ):
        if _changed(x, y):
            el.append(forbidden(child(path, name), IMMUTABLE))
    if a.authorizations:
        ap = child(path, "authorizations")
        if len(a.authorizations) != len(b.authorizations or []):
            el.append(forbidden(ap, IMMUTABLE))
        else:
            for i, (x_authz, y_authz) in enumerate(
                zip(a.authorizations, b.authorizations or [], strict=True)
            ):
                el += _authorization_update(x_authz, y_authz, index(ap, i))
    return el


def _authorization_update(a: ACMEAuthorization, b: ACMEAuthorization, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    for name, x, y in (
        ("url", a.url, b.url),
        ("identifier", a.identifier, b.identifier),
        ("wildcard", a.wildcard, b.wildcard),
        ("initialState", a.initial_state, b.initial_state),
    ):
        if _changed(x, y):
            el.append(forbidden(child(path, name), IMMUTABLE))
    if a.challenges:
        cp = child(path, "challenges")
        if len(a.challenges) != len(b.challenges or []):
            el.append(forbidden(cp, IMMUTABLE))
        else:
            for i, (x_ch, y_ch) in enumerate(zip(a.challenges, b.challenges or [], strict=True)):
                el += _acme_challenge_update(x_ch, y_ch, index(cp, i))
    return el


def _acme_challenge_update(a: ACMEChallenge, b: ACMEChallenge, path: str) -> list[FieldError]:
    return [
        forbidden(child(path, name), IMMUTABLE)
        for name, x, y in (("url", a.url, b.url), ("type", a.type, b.type), ("token", a.token, b.token))
        if _changed(x, y)
    ]


def validate_challenge_update(old: Challenge, new: Challenge) -> list[FieldError]:
    if old.spec.to_dict() != new.spec.to_dict():
        return [forbidden("spec", "challenge spec is immutable after creation")]
    return []
