"""certificates-ari: ACME Renewal Information (RFC 9773) for Certificates of ACME issuers.

For the certificate in the Secret it asks the server's ``renewalInfo`` endpoint and keeps
the suggested window in ``status.acme.ari``; readiness and the trigger then renew at a time
inside that window instead of at renewBefore. It asks again when the server's Retry-After
(clamped to 1 h .. 7 d, with 10 % jitter) has passed or the certificate changed. A server
without ARI, or an issuer with ``renewalInformationSource: None``, leaves renewal as it is.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Hashable, Iterable

from ...acme.ari import cert_id
from ...acme.errors import AcmeError
from ...api.certificate import (
    ARISuggestedWindow,
    Certificate,
    CertificateACMEStatus,
    CertificateARIStatus,
)
from ...api.common import IssuerReference
from ...api.core import TLS_CERT, Secret
from ...api.meta import format_time, parse_time
from ...pki.chain import parse_certificates
from ...pki.errors import PKIError
from ...runtime.controller import Context, Mapper, Result
from ...runtime.queue import Key
from ...store.base import EventType, WatchEvent
from ..certificates.base import CertificateController
from ..certificates.util import status_of
from . import accounts
from .accounts import AccountNotAvailable
from .common import PollSchedule, issuer_for, refers_to

ERROR_RETRY = dt.timedelta(hours=1)
JITTER = 0.1


class RenewalInfoController(CertificateController):
    name = "certificates-ari"
    pool = "io"
    watch_requests = False
    ignore_next_key_secrets = True

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        # its own writes (status.acme) change nothing it decides on
        status = cert.status
        return (cert.metadata.generation, status.revision if status else None, status.not_after if status else None)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.waits = PollSchedule(5.0, 300.0)
        # (kind, namespace, name) of an issuer -> whether it is an ACME issuer; looked up
        # on first use, kept up to date by issuer events
        self._acme: dict[tuple[str, str | None, str], bool] = {}
        #: the Certificates it wants, as their last event told
        self._wanted: set[Key] = set()

    def wants(self, cert: Certificate) -> bool:
        """Certificates of ACME issuers, and those that still carry ARI status to clear: the
        others (a CA's, a self-signed one's) cost no reconcile on another thread per event."""
        wanted = (cert.status is not None and cert.status.acme is not None) or self._is_acme(
            cert.namespace, cert.spec.issuer_ref
        )
        if wanted:
            self._wanted.add((cert.namespace, cert.name))
        else:
            self._wanted.discard((cert.namespace, cert.name))
        return wanted

    def _is_acme(self, namespace: str | None, ref: IssuerReference | None) -> bool:
        if ref is None or not ref.name:
            return False
        kind = ref.kind or "Issuer"
        key = (kind, namespace if kind == "Issuer" else None, ref.name)
        known = self._acme.get(key)
        if known is None:
            issuer = issuer_for(self.ctx, namespace, ref)
            known = self._acme[key] = issuer is not None and issuer.spec.acme is not None
        return known

    def watches(self) -> list[tuple[str, Mapper]]:
        routes = []
        for kind, mapper in super().watches():
            if kind == "Secret":
                mapper = self._wanted_only(mapper)
            elif kind == "Certificate":
                mapper = self._forgetting_deleted(mapper)
            routes.append((kind, mapper))
        return [*routes, ("Issuer", self._for_issuer), ("ClusterIssuer", self._for_issuer)]

    def _wanted_only(self, mapper: Mapper) -> Mapper:
        """A Secret event matters only for the Certificates this controller wants (their
        last event said so); the others would be reconciled for nothing."""

        def wanted(event: WatchEvent) -> Iterable[Key]:
            return [key for key in mapper(event) if key in self._wanted]

        return wanted

    def _forgetting_deleted(self, mapper: Mapper) -> Mapper:
        def on_certificate(event: WatchEvent) -> Iterable[Key]:
            if event.type == EventType.DELETED:
                self._wanted.discard((event.namespace, event.name))
            return mapper(event)

        return on_certificate

    def _for_issuer(self, event: WatchEvent) -> Iterable[Key]:
        """An issuer turning ARI on or off changes how its Certificates renew."""
        ns = event.namespace if event.kind == "Issuer" else None
        spec = getattr(event.obj, "spec", None)
        acme = self._acme[(event.kind, ns, event.name)] = (
            event.type != EventType.DELETED and getattr(spec, "acme", None) is not None
        )
        # of another issuer's Certificates only those with ARI status to clear need a look
        keys = [
            (cert.namespace, cert.name) for cert in self.store.list(Certificate, ns)
            if refers_to(cert.spec.issuer_ref, cert.namespace, event)
            and (acme or (cert.status is not None and cert.status.acme is not None))
        ]
        if acme:
            self._wanted.update(keys)
        return keys

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        cert = self.store.try_get(Certificate, ns, name)
        if cert is None:
            return None
        issuer = issuer_for(self.ctx, ns, cert.spec.issuer_ref)
        acme = issuer.spec.acme if issuer is not None else None
        if issuer is None or acme is None or (acme.renewal_information_source or "ARI") == "None":
            self._clear(cert)
            return None
        secret = self.store.try_get(Secret, ns, cert.spec.secret_name or "")
        try:
            leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0] if secret is not None else None
            current = cert_id(leaf) if leaf is not None else None
        except (PKIError, ValueError, IndexError):
            current = None
        if current is None:
            return None
        status = status_of(cert)
        ari = status.acme.ari if status.acme else None
        now = self.clock.now()
        if ari is not None and ari.cert_id == current and ari.next_check and parse_time(ari.next_check) > now:
            return Result(parse_time(ari.next_check) - now)
        try:
            client = accounts.client_for(self.ctx, issuer)
            info = client.renewal_info(current)
            self.waits.reset(key)
        except AccountNotAvailable:
            # the issuer is still registering (or cannot): ask again, less and less often
            return Result(self.waits.next(key))
        except AcmeError as e:
            message = f"Failed to fetch ACME renewal information for {current}: {e}"
            self.recorder.event(cert, "Warning", "ARIError", message)
            ari = ari.model_copy() if ari is not None and ari.cert_id == current else CertificateARIStatus()
            ari.cert_id, ari.last_error = current, str(e)
            ari.last_checked, ari.next_check = format_time(now), format_time(now + ERROR_RETRY)
            status.acme = CertificateACMEStatus(ari=ari)
            self.store.update_status(cert)
            return Result(ERROR_RETRY)
        if info is None:
            self._clear(cert)
            return None
        wait = info.retry_after * random.uniform(1 - JITTER, 1 + JITTER)
        status.acme = CertificateACMEStatus(ari=CertificateARIStatus(
            suggested_window=ARISuggestedWindow(start=format_time(info.start), end=format_time(info.end)),
            explanation_url=info.explanation_url,
            last_checked=format_time(now),
            next_check=format_time(now + wait),
            cert_id=current,
        ))
        self.store.update_status(cert)
        return Result(wait)

    def _clear(self, cert: Certificate) -> None:
        """No ARI for this Certificate: renewal follows the spec again."""
        if cert.status is not None and cert.status.acme is not None:
            cert.status.acme = None
            self.store.update_status(cert)
