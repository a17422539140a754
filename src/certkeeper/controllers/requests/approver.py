"""certificaterequests-approver: approves every request not already decided.

It does not judge the issuer: on Kubernetes, RBAC on ``signers`` decides what it may
approve; on a host the person running the daemon owns every issuer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ...api import constants as c
from ...api.certificate import CertificateRequest, CertificateRequestStatus
from ...api.meta import get_condition, set_condition
from ...runtime.controller import Controller, Mapper, Result
from ...runtime.queue import Key
from ...store.base import EventType, WatchEvent

APPROVER = "cert-manager.io"


def approval_state(cr: CertificateRequest) -> str | None:
    conds = cr.status.conditions if cr.status else None
    for ctype in (c.COND_APPROVED, c.COND_DENIED):
        cond = get_condition(conds, ctype)
        if cond is not None and cond.status == "True":
            return ctype
    return None


class ApproverController(Controller):
    name = "certificaterequests-approver"
    primary = CertificateRequest
    backoff_base = dt.timedelta(seconds=5)
    backoff_cap = dt.timedelta(minutes=5)

    def watches(self) -> list[tuple[str, Mapper]]:
        return [("CertificateRequest", self._undecided)]

    @staticmethod
    def _undecided(event: WatchEvent) -> Iterable[Key]:
        obj = event.obj
        if event.type == EventType.DELETED or not isinstance(obj, CertificateRequest) or approval_state(obj):
            return []
        return [(event.namespace, event.name)]

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        cr = self.store.try_get(CertificateRequest, ns, name)
        if cr is None or approval_state(cr) is not None:
            return None
        ready = get_condition(cr.status.conditions if cr.status else None, c.COND_READY)
        if ready is not None and ready.reason in (c.CR_FAILED, c.CR_ISSUED):
            return None
        if cr.status is None:
            cr.status = CertificateRequestStatus()
        message = f"Certificate request has been approved by {APPROVER}"
        cr.status.conditions = set_condition(
            cr.status.conditions, c.COND_APPROVED, "True", APPROVER, message, self.clock.now()
        )
        self.store.update_status(cr)
        self.recorder.event(cr, "Normal", APPROVER, message)
        return None
