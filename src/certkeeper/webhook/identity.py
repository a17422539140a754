"""A CertificateRequest records who asked for it: ``spec.username``, ``uid``, ``groups``
and ``extra``, taken from the API server's ``userInfo`` on create. A signer or an
approver may trust them, so a client must not be able to choose them: ``/mutate``
overwrites whatever was sent, and ``/validate`` refuses a create whose identity is not
the requester's (a client that bypasses mutation) and any later change.
"""

from __future__ import annotations

from typing import Any

from ..api.certificate import CertificateRequest
from ..api.validation.errors import FieldError, forbidden
from .review import UserInfo

FIELDS = ("username", "uid", "groups", "extra")


def _values(user: UserInfo) -> dict[str, Any]:
    """The identity as the spec holds it; empty members are omitted (Go's omitempty)."""
    values: dict[str, Any] = {
        "username": user.username,
        "uid": user.uid,
        "groups": list(user.groups),
        "extra": user.extra,
    }
    return {k: v for k, v in values.items() if v}


def patch(user: UserInfo, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """JSON Patch operations that make ``spec``'s identity the requester's."""
    want = _values(user)
    if spec is None:
        return [{"op": "add", "path": "/spec", "value": want}]
    ops: list[dict[str, Any]] = []
    for f in FIELDS:
        if f in want:
            if spec.get(f) != want[f]:
                ops.append({"op": "add", "path": f"/spec/{f}", "value": want[f]})
        elif f in spec:
            ops.append({"op": "remove", "path": f"/spec/{f}"})
    return ops


def _spec_identity(cr: CertificateRequest) -> dict[str, Any]:
    s = cr.spec
    values = {"username": s.username, "uid": s.uid, "groups": s.groups, "extra": s.extra}
    return {k: v for k, v in values.items() if v}


def check(user: UserInfo, new: CertificateRequest, old: CertificateRequest | None) -> list[FieldError]:
    """On create the identity must be the requester's; afterwards it never changes."""
    got = _spec_identity(new)
    if old is None:
        want = _values(user)
        return [
            forbidden(f"spec.{f}", f"{f} identity must be that of the requester")
            for f in FIELDS
            if got.get(f) != want.get(f)
        ]
    before = _spec_identity(old)
    return [
        forbidden(f"spec.{f}", f"{f} identity cannot be changed once set")
        for f in FIELDS
        if got.get(f) != before.get(f)
    ]
