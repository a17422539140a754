"""Common wiring of the certificates-* controllers: queue keyed by Certificate, fed by
Certificate, Secret and owned CertificateRequest events."""

from __future__ import annotations

import datetime as dt

from ...api.certificate import Certificate
from ...runtime.controller import Controller, Mapper, controller_owner
from ...runtime.queue import Key
from .util import cert_index


class CertificateController(Controller):
    primary = Certificate
    backoff_base = dt.timedelta(seconds=1)
    backoff_cap = dt.timedelta(seconds=30)
    #: which related kinds wake this controller (cert-manager wakes all of them on all)
    watch_secrets = True
    watch_requests = True

    def watches(self) -> list[tuple[str, Mapper]]:
        index = cert_index(self.ctx)
        routes: list[tuple[str, Mapper]] = [("Certificate", index.on_certificate)]
        if self.watch_secrets:
            routes.append(("Secret", index.on_secret))
        if self.watch_requests:
            routes.append(("CertificateRequest", controller_owner("Certificate")))
        return routes

    def get_certificate(self, key: Key) -> Certificate | None:
        ns, name = key
        cert = self.store.try_get(Certificate, ns, name)
        if cert is None or cert.metadata.deletion_timestamp:
            return None
        return cert
