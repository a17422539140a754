"""issuers / clusterissuers: the Ready condition of each issuer, from its Signer's setup.

A broken CA Secret shows up here as Ready=False with a message a person can act on; when
the Secret is fixed the Secret event brings the issuer back, and the requests waiting on
it follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ...api import constants as c
from ...api.issuer import ClusterIssuer, Issuer, IssuerStatus
from ...api.meta import get_condition, set_condition
from ...issuers.base import Signer, issuer_type, referenced_secrets
from ...runtime.controller import Context, Controller, Mapper, Result
from ...runtime.index import ReverseIndex
from ...runtime.queue import Key
from ...store.base import EventType, WatchEvent


class IssuerReadinessController(Controller):
    name = "issuers"
    primary = Issuer
    backoff_base = dt.timedelta(seconds=5)
    backoff_cap = dt.timedelta(minutes=5)
    pool = "io"  # an ACME issuer's set-up talks to its server

    def __init__(self, ctx: Context, signers: dict[str, Signer], cluster: bool = False) -> None:
        self.cluster = cluster
        if cluster:
            self.name = "clusterissuers"
            self.primary = ClusterIssuer
        super().__init__(ctx)
        self.signers = signers
        self._secrets = ReverseIndex()  # issuer -> the Secrets its spec names

    def watches(self) -> list[tuple[str, Mapper]]:
        return [(self.primary.KIND, self._index_issuer), ("Secret", self._issuers_for_secret)]

    def _index_issuer(self, event: WatchEvent) -> Iterable[Key]:
        key = (event.namespace, event.name)
        if event.type == EventType.DELETED or not isinstance(event.obj, Issuer):
            self._secrets.set(key, set())
        else:
            ns = self.ctx.options.cluster_resource_namespace if self.cluster else event.namespace
            self._secrets.set(key, {(ns, name) for name in referenced_secrets(event.obj)})
        return [key]

    def _issuers_for_secret(self, event: WatchEvent) -> Iterable[Key]:
        return self._secrets.get((event.namespace, event.name))

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        issuer = self.store.try_get(self.primary, ns, name)
        if issuer is None:
            return None
        itype = issuer_type(issuer)
        signer = self.signers.get(itype or "")
        acme_status = None
        result = None
        if signer is None:
            ready, reason, message = False, "IssuerNotSupported", (
                f'Issuer type "{itype}" is not supported by certkeeper yet; the issuer is stored but '
                "cannot sign requests"
            )
        else:
            r = signer.setup(self.ctx, issuer)
            ready, reason, message = r.ready, r.reason, r.message
            acme_status = r.acme_status
            if r.requeue_after is not None:
                result = Result(r.requeue_after)
        if issuer.status is None:
            issuer.status = IssuerStatus()
        current = get_condition(issuer.status.conditions, c.COND_READY)
        status = "True" if ready else "False"
        acme_changed = acme_status is not None and acme_status != issuer.status.acme
        if (
            current is not None and current.status == status and current.reason == reason
            and current.message == message and current.observed_generation == issuer.metadata.generation
            and not acme_changed
        ):
            return result
        if acme_status is not None:
            issuer.status.acme = acme_status
        issuer.status.conditions = set_condition(
            issuer.status.conditions, c.COND_READY, status, reason, message,
            self.clock.now(), issuer.metadata.generation,
        )
        self.store.update_status(issuer)
        if not ready:
            self.recorder.event(issuer, "Warning", "ErrInitIssuer", f"Error initializing issuer: {message}")
        return result
