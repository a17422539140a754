"""What every certificates controller looks at: the Certificate, its Secret, and the
CertificateRequests for the current and the next revision (cert-manager's gatherer)."""

from __future__ import annotations

import dataclasses

from ...api.certificate import Certificate, CertificateRequest
from ...api.constants import ANN_REVISION
from ...api.core import Secret
from ...store.base import Store


class AmbiguousRequests(Exception):
    """More than one CertificateRequest for one revision: retried until one is deleted."""


@dataclasses.dataclass
class Input:
    certificate: Certificate
    secret: Secret | None
    current_request: CertificateRequest | None
    next_request: CertificateRequest | None


def revision_of(cr: CertificateRequest) -> int | None:
    value = cr.annotations().get(ANN_REVISION)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def owned_requests(store: Store, cert: Certificate) -> list[CertificateRequest]:
    return [
        cr
        for cr in store.list(CertificateRequest, cert.namespace, owner_uid=cert.uid)
        if cr.is_controlled_by(cert)
    ]


def request_for_revision(requests: list[CertificateRequest], revision: int) -> CertificateRequest | None:
    found = [cr for cr in requests if revision_of(cr) == revision]
    if len(found) > 1:
        raise AmbiguousRequests(f"multiple CertificateRequests found for revision {revision}")
    return found[0] if found else None


def next_revision(cert: Certificate) -> int:
    rev = cert.status.revision if cert.status else None
    return (rev or 0) + 1


def gather(store: Store, cert: Certificate) -> Input:
    secret = store.try_get(Secret, cert.namespace, cert.spec.secret_name or "")
    requests = owned_requests(store, cert)
    current = None
    rev = cert.status.revision if cert.status else None
    if rev is not None:
        current = request_for_revision(requests, rev)
    nxt = request_for_revision(requests, next_revision(cert))
    return Input(cert, secret, current, nxt)
