"""certificates-readiness: the Ready condition and notBefore / notAfter / renewalTime.

Ready is independent of Issuing: a Certificate that is being renewed stays Ready.
"""

from __future__ import annotations

from collections.abc import Hashable

from ...api import constants as c
from ...api.certificate import Certificate
from ...api.core import TLS_CERT
from ...api.meta import format_time, get_condition, set_condition
from ...pki.chain import parse_certificates
from ...pki.errors import PKIError
from ...runtime.controller import Result
from ...runtime.queue import Key
from ...store.base import EventType
from .base import CertificateController
from .gather import AmbiguousRequests, gather
from .policies import evaluate, readiness_chain
from .util import scheduled_renewal, status_of

#: written by the host's files controller (controllers/files_common.py); absent elsewhere
FILES_WRITTEN = "FilesWritten"
FILES_NOT_WRITTEN = "FilesNotWritten"


class ReadinessController(CertificateController):
    name = "certificates-readiness"
    ignore_next_key_secrets = True
    request_events = frozenset({EventType.DELETED})

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        # its own writes (Ready, the times) change nothing it decides on
        status = cert.status
        ari = status.acme.ari if status and status.acme else None
        window = ari.suggested_window if ari else None
        files = get_condition(status.conditions if status else None, FILES_WRITTEN)
        return (
            cert.metadata.generation, status.revision if status else None,
            window.start if window else None, window.end if window else None, ari.cert_id if ari else None,
            (files.status, files.message) if files is not None and files.status == "False" else None,
        )

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None:
            return None
        before = cert.model_dump()
        try:
            input = gather(self.store, cert)
        except AmbiguousRequests:
            raise
        status = status_of(cert)
        now = self.clock.now()
        violation = evaluate(readiness_chain(self.clock.now), input)
        files = get_condition(status.conditions, FILES_WRITTEN)
        if violation is None and files is not None and files.status == "False":
            # on a host the files are what servers read: up to date in the store is not Ready
            violation = (FILES_NOT_WRITTEN, files.message or "the Secret's files are not written")
        if violation is None:
            status.conditions = set_condition(
                status.conditions, c.COND_READY, "True", "Ready",
                "Certificate is up to date and has not expired", now, cert.metadata.generation,
            )
        else:
            reason, message = violation
            status.conditions = set_condition(
                status.conditions, c.COND_READY, "False", reason, message, now, cert.metadata.generation,
            )
        requeue = None
        leaf = None
        if input.secret is not None and input.secret.get(TLS_CERT):
            try:
                leaf = parse_certificates(input.secret.get(TLS_CERT) or b"")[0]
            except PKIError:
                leaf = None
        if leaf is not None:
            status.not_before = format_time(leaf.not_valid_before_utc)
            status.not_after = format_time(leaf.not_valid_after_utc)
            when, _ = scheduled_renewal(cert, leaf)
            status.renewal_time = format_time(when) if when else None
            if violation is None and leaf.not_valid_after_utc > now:
                # wake up to turn Ready into Expired if nothing renews it in time
                requeue = leaf.not_valid_after_utc - now
        else:
            status.not_before = status.not_after = status.renewal_time = None
        if cert.model_dump() != before:
            self.store.update_status(cert)
        return Result(requeue_after=requeue) if requeue else None
