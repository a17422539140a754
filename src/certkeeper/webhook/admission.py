"""What ``/validate`` and ``/mutate`` decide for one AdmissionRequest.

Validation is ``api/validation``, the checklist ``certkeeper apply`` runs on a host, so a
cluster and a host refuse the same manifests with the same lines
(``spec.dnsNames[0]: Invalid value: ...``). On top of it come the rules only an API
server can apply: a CertificateRequest's identity is the requester's, and an approval
decision needs the right to approve for the issuer (``approval.py``).

Mutation: cert-manager persists no defaults for its v1 kinds (they are applied in code,
where empty and default compare equal), so the one change ``/mutate`` makes is the
CertificateRequest identity on create.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from ..api.certificate import CertificateRequest
from ..api.meta import Resource
from ..api.registry import by_api_version_kind
from ..api.validation import FieldError, validate, validate_update, warnings
from ..api.validation.certificaterequest import APPROVED, DENIED
from ..api.validation.errors import forbidden, go_quote
from ..api.validation.schema import field_errors_from_pydantic
from ..store.base import StoreError
from . import identity
from .approval import CERT_MANAGER_GROUP, Authorizer, SignerUnknown, signer_names
from .review import AdmissionRequest, aggregate, allowed, denied

log = logging.getLogger("certkeeper.webhook")

GROUPS = ("cert-manager.io", "acme.cert-manager.io")


class Undecodable(Exception):
    """The object in the request does not fit its kind's schema; carries the field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(aggregate([str(e) for e in errors]))
        self.errors = errors


def decode(cls: type[Resource], body: dict[str, Any], namespace: str) -> Resource:
    """The object as the loader decodes a manifest: strict, unknown fields refused."""
    try:
        obj = cls.model_validate(body, strict=True, by_alias=True, by_name=False)
    except ValidationError as e:
        raise Undecodable(field_errors_from_pydantic(e)) from None
    if cls.NAMESPACED and not obj.metadata.namespace and namespace:
        obj.metadata.namespace = namespace
    return obj


class Admitter:
    """Stateless apart from the Authorizer (a SubjectAccessReview client and its discovery cache)."""

    def __init__(self, authorizer: Authorizer | None) -> None:
        self.authorizer = authorizer

    # ------------------------------------------------------------------ /validate
    def validate(self, req: AdmissionRequest) -> dict[str, Any]:
        if req.operation not in ("CREATE", "UPDATE"):
            return allowed(req.uid)
        cls = self._kind(req)
        if cls is None:
            return denied(req.uid, f"unknown kind {req.kind} in {req.api_version}: this webhook serves "
                          f"the kinds of {' and '.join(GROUPS)}", 400, "BadRequest")
        if req.object is None:
            return denied(req.uid, f"{req.operation} of {req.kind} without an object", 400, "BadRequest")
        try:
            obj = decode(cls, req.object, req.namespace)
        except Undecodable as e:
            return denied(req.uid, str(e), 400, "BadRequest")
        old: Resource | None = None
        if req.operation == "UPDATE" and req.old_object:
            try:
                old = decode(cls, req.old_object, req.namespace)
            except Undecodable as e:
                if cls is CertificateRequest:  # its update rules compare with the stored object
                    return denied(req.uid, f"the stored object does not decode: {e}", 400, "BadRequest")
                log.warning("stored %s %s/%s does not decode (%s): checking the new one as if created",
                            req.kind, req.namespace, req.name, e)
        errors = validate_update(old, obj) if old is not None else validate(obj)
        if isinstance(obj, CertificateRequest):
            old_cr = old if isinstance(old, CertificateRequest) else None
            errors += identity.check(req.user, obj, old_cr)
            if old_cr is not None:
                errors += self._approval(req, old_cr, obj)
        if errors:
            return denied(req.uid, aggregate([str(e) for e in errors]))
        return allowed(req.uid, warnings=warnings(obj) or None)

    def _kind(self, req: AdmissionRequest) -> type[Resource] | None:
        if req.group not in GROUPS:
            return None
        return by_api_version_kind(req.api_version, req.kind)

    def _approval(self, req: AdmissionRequest, old: CertificateRequest, new: CertificateRequest) -> list[FieldError]:
        """A newly set Approved or Denied needs ``approve`` on the issuer's signer."""
        before = {c.type for c in (old.status.conditions if old.status else None) or []}
        after = {c.type for c in (new.status.conditions if new.status else None) or []}
        if not ({APPROVED, DENIED} & (after - before)):
            return []
        ref = new.spec.issuer_ref
        if ref is None:
            return []  # refused by the spec checks already
        group = ref.group or CERT_MANAGER_GROUP
        kind = ref.kind or "Issuer"
        path = "status.conditions"
        if self.authorizer is None:
            return [forbidden(path, "this webhook cannot check approvals: it has no connection to the API server")]
        try:
            plural, namespaced = self.authorizer.signer(group, kind)
            names = signer_names(plural, group, namespaced, new.namespace or "", ref.name or "")
            ok = self.authorizer.allowed(req.user, names)
        except SignerUnknown:
            return [forbidden(path, f"referenced signer resource does not exist: {{{ref.name} {kind} {group}}}")]
        except StoreError as e:
            log.warning("SubjectAccessReview for %s/%s failed: %s", new.namespace, new.name, e)
            return [forbidden(path, f"cannot check the permission to approve: {e}")]
        if ok:
            return []
        return [
            forbidden(
                path,
                f"user {go_quote(req.user.username)} does not have permissions to set approved/denied conditions "
                f"for issuer {{{ref.name} {kind} {group}}}",
            )
        ]

    # ------------------------------------------------------------------ /mutate
    def mutate(self, req: AdmissionRequest) -> dict[str, Any]:
        if req.operation != "CREATE" or req.sub_resource or req.object is None:
            return allowed(req.uid)
        cls = self._kind(req)
        if cls is None:
            return denied(req.uid, f"unknown kind {req.kind} in {req.api_version}: this webhook serves "
                          f"the kinds of {' and '.join(GROUPS)}", 400, "BadRequest")
        if cls is not CertificateRequest:
            return allowed(req.uid)
        spec = req.object.get("spec")
        if spec is not None and not isinstance(spec, dict):
            return denied(req.uid, "spec: Invalid value: must be an object", 400, "BadRequest")
        return allowed(req.uid, patch=identity.patch(req.user, spec))
