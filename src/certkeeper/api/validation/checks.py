"""What the API server and cert-manager's webhook check when an object is written: the
per-kind checklists put together (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..acme import Challenge, Order
from ..certificate import Certificate, CertificateRequest
from ..core import Namespace, Secret
from ..issuer import Issuer
from ..meta import Resource
from .acme import validate_challenge, validate_challenge_update, validate_order, validate_order_update
from .acmeissuer import acme_issuer_warnings
from .certificate import validate_certificate
from .certificaterequest import validate_certificate_request, validate_certificate_request_update
from .errors import FieldError
from .issuer import validate_issuer
from .names import validate_object_meta
from .secret import validate_secret


def _spec_checks(obj: Resource) -> list[FieldError]:
    # ClusterIssuer is a subclass of Issuer, so isinstance covers both
    if isinstance(obj, Certificate):
        return validate_certificate(obj)
    if isinstance(obj, CertificateRequest):
        return validate_certificate_request(obj)
    if isinstance(obj, Issuer):
        return validate_issuer(obj)
    if isinstance(obj, Order):
        return validate_order(obj)
    if isinstance(obj, Challenge):
        return validate_challenge(obj)
    if isinstance(obj, Secret):
        return validate_secret(obj)
    return []  # Namespace: metadata only


def validate(obj: Resource) -> list[FieldError]:
    """Everything that would make the API server refuse to create ``obj``."""
    meta = validate_object_meta(obj.metadata, type(obj).NAMESPACED, name_is_label=isinstance(obj, Namespace))
    return meta + _spec_checks(obj)


_UPDATE_CHECKS: dict[type[Resource], Callable[[Any, Any], list[FieldError]]] = {
    CertificateRequest: validate_certificate_request_update,
    Order: validate_order_update,
    Challenge: validate_challenge_update,
}


def validate_update(old: Resource, new: Resource) -> list[FieldError]:
    """Everything that would make the API server refuse to replace ``old`` with ``new``.

    Certificates and Issuers get their create checklist again. A CertificateRequest gets
    only its update rules (cert-manager's webhook does not re-check the frozen spec);
    Orders and Challenges get their schema checks plus their update rules.
    """
    check = _UPDATE_CHECKS.get(type(new))
    if check is None or type(old) is not type(new):
        return validate(new)
    el = validate_object_meta(new.metadata, type(new).NAMESPACED)
    if not isinstance(new, CertificateRequest):
        el += _spec_checks(new)
    return el + check(old, new)


def warnings(obj: Resource) -> list[str]:
    """Admission warnings: accepted, but the user should hear about it."""
    if isinstance(obj, Issuer) and obj.spec.acme is not None:
        return acme_issuer_warnings(obj.spec.acme)
    return []
