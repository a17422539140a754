"""certificates-revision-manager: keeps at most revisionHistoryLimit CertificateRequests."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable

from ...api import constants as c
from ...api.certificate import Certificate, CertificateRequest
from ...runtime.controller import Result
from ...runtime.queue import Key
from ...store.base import EventType, NotFound
from .base import CertificateController
from .gather import owned_requests, revision_of
from .util import condition


class RevisionManagerController(CertificateController):
    name = "certificates-revision-manager"
    watch_secrets = False  # only the Ready condition and the requests matter here
    request_events = frozenset({EventType.ADDED})  # only a new request can exceed the limit

    def wants(self, cert: Certificate) -> bool:
        ready = condition(cert, c.COND_READY)
        return ready is not None and ready.status == "True"

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        ready = condition(cert, c.COND_READY)
        return (cert.metadata.generation, ready.status if ready else None, cert.status.revision if cert.status else None)

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None:
            return None
        ready = condition(cert, c.COND_READY)
        if ready is None or ready.status != "True":
            return None
        limit = cert.spec.revision_history_limit or 1
        requests = owned_requests(self.store, cert)
        if len(requests) <= limit:
            return None
        numbered = sorted(
            ((rev, cr) for cr in requests if (rev := revision_of(cr)) is not None),
            key=lambda pair: pair[0],
        )
        for _, cr in numbered[: max(0, len(requests) - limit)]:
            with contextlib.suppress(NotFound):
                self.store.delete(CertificateRequest, cr.namespace, cr.name)
        return None
