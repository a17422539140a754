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

    def watches(self) -> list[tuple[str, Mapper]]:
        index = cert_index(self.ctx)
        return [
            ("Certificate", index.on_certificate),
            ("Secret", index.on_secret),
            ("CertificateRequest", controller_owner("Certificate")),
        ]

    def get_certificate(self, key: Key) -> Certificate | None:
        ns, name = key
        cert = self.store.try_get(Certificate, ns, name)
        if cert is None or cert.metadata.deletion_timestamp:
            return None
        return cert
