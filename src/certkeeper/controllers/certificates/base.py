"""Common wiring of the certificates-* controllers: queue keyed by Certificate, fed by
Certificate, Secret and owned CertificateRequest events."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Hashable, Iterable

from ...api import constants as c
from ...api.certificate import Certificate
from ...runtime.controller import Controller, Mapper, controller_owner
from ...runtime.queue import Key
from ...store.base import EventType, WatchEvent
from .util import cert_index, condition


class CertificateController(Controller):
    primary = Certificate
    backoff_base = dt.timedelta(seconds=1)
    backoff_cap = dt.timedelta(seconds=30)
    #: which related kinds wake this controller (cert-manager wakes all of them on all)
    watch_secrets = True
    watch_requests = True
    #: only Secrets carrying the next-private-key label matter (key manager, request manager)
    only_next_key_secrets = False
    #: next-private-key Secrets do not matter (they are read only while issuing)
    ignore_next_key_secrets = False
    #: which CertificateRequest events matter (all, for the controllers that follow one)
    request_events: frozenset[EventType] = frozenset(EventType)

    def wants(self, cert: Certificate) -> bool:
        """Whether this controller has anything to decide for a Certificate in this state
        (the trigger has nothing to do while issuing; the request manager nothing unless
        issuing). Start-up replays go through this too; the Secret and request events of a
        Certificate still reach the controllers that follow them."""
        return True

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        """The parts of a Certificate this controller's decision depends on. A Certificate
        event that leaves them unchanged (typically another controller's status write) is
        not worth a reconcile; None means every event is."""
        return None

    def watches(self) -> list[tuple[str, Mapper]]:
        index = cert_index(self.ctx)
        seen: dict[Key, int] = {}
        lock = threading.Lock()

        def on_certificate(event: WatchEvent) -> Iterable[Key]:
            keys = index.on_certificate(event)
            if event.type == EventType.DELETED or not isinstance(event.obj, Certificate):
                with lock:
                    seen.pop((event.namespace, event.name), None)
                return keys
            key = (event.namespace, event.name)
            if not self.wants(event.obj):
                with lock:
                    seen.pop(key, None)  # the next wanted event always gets through
                return []
            fp = self.fingerprint(event.obj)
            if fp is None:
                return keys
            digest = hash(fp)  # an int per Certificate, not the tuple: memory at 10,000
            with lock:
                if seen.get(key) == digest:
                    return []
                seen[key] = digest
            return keys

        def on_secret(event: WatchEvent) -> Iterable[Key]:
            next_key = event.obj.labels().get(c.LABEL_NEXT_PRIVATE_KEY) == "true"
            if (self.only_next_key_secrets and not next_key) or (self.ignore_next_key_secrets and next_key):
                return []
            return index.on_secret(event)

        owner = controller_owner("Certificate")

        def on_request(event: WatchEvent) -> Iterable[Key]:
            return owner(event) if event.type in self.request_events else []

        routes: list[tuple[str, Mapper]] = [("Certificate", on_certificate)]
        if self.watch_secrets:
            routes.append(("Secret", on_secret))
        if self.watch_requests:
            routes.append(("CertificateRequest", on_request))
        return routes

    def get_certificate(self, key: Key) -> Certificate | None:
        ns, name = key
        cert = self.store.try_get(Certificate, ns, name)
        if cert is None or cert.metadata.deletion_timestamp:
            return None
        return cert


def issuing_state(cert: Certificate) -> tuple[str | None, str | None]:
    cond = condition(cert, c.COND_ISSUING)
    return (cond.status, cond.last_transition_time) if cond else (None, None)


def issuance_progress(cert: Certificate) -> Hashable:
    """What moves an issuance along: the spec, the Issuing condition, the next key, the
    revision (the request manager and issuing act on exactly these)."""
    status = cert.status
    return (
        cert.metadata.generation, issuing_state(cert),
        status.next_private_key_secret_name if status else None, status.revision if status else None,
    )
