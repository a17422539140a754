"""certificaterequests-issuer-*: the generic signing flow, one controller for all
issuer types, dispatching to the Signer of the referenced issuer (cert-manager §3.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable

from ...api import constants as c
from ...api.certificate import CertificateRequest, CertificateRequestStatus
from ...api.issuer import ClusterIssuer, Issuer
from ...api.meta import Resource, format_time, get_condition, set_condition
from ...issuers.base import Failed, Issued, Pending, Signer, issuer_type
from ...pki.chain import parse_certificates
from ...pki.errors import PKIError
from ...runtime.controller import Context, Controller, Mapper, Result
from ...runtime.index import ReverseIndex
from ...runtime.mappers import owner_on_change
from ...runtime.queue import Key
from ...store.base import EventType, WatchEvent
from .approver import approval_state


def _order_progress(obj: Resource) -> Hashable:
    """What of an Order the ACME signer reports: its state, reason and certificate."""
    st = getattr(obj, "status", None)
    if st is None:
        return None
    return (st.state, st.reason, st.certificate is not None)


def _order_done(fingerprint: Hashable) -> bool:
    return isinstance(fingerprint, tuple) and fingerprint[0] in ("valid", "invalid", "expired", "errored")


def find_issuer(ctx: Context, cr: CertificateRequest) -> tuple[Issuer | None, str]:
    ref = cr.spec.issuer_ref
    kind = (ref.kind if ref else None) or "Issuer"
    name = (ref.name if ref else None) or ""
    if kind == "ClusterIssuer":
        return ctx.store.try_get(ClusterIssuer, None, name), kind
    return ctx.store.try_get(Issuer, cr.namespace, name), kind


def is_ready(issuer: Issuer) -> bool:
    cond = get_condition(issuer.status.conditions if issuer.status else None, c.COND_READY)
    return cond is not None and cond.status == "True"


class SigningController(Controller):
    name = "certificaterequests-issuer"
    primary = CertificateRequest
    backoff_base = dt.timedelta(seconds=5)
    backoff_cap = dt.timedelta(minutes=5)

    def __init__(self, ctx: Context, signers: dict[str, Signer]) -> None:
        super().__init__(ctx)
        self.signers = signers
        # requests still to be signed, by the Secret (self-signed key) and the issuer they
        # wait on, kept up to date from request events: an Issuer or Secret event finds its
        # requests without listing every request in the store
        self._waiting_on = ReverseIndex()

    def watches(self) -> list[tuple[str, Mapper]]:
        return [
            ("CertificateRequest", self._index_request),
            ("Issuer", self._requests_for_issuer),
            ("ClusterIssuer", self._requests_for_issuer),
            ("Secret", self._requests_for_secret),
            # ACME: a request waits on the Order it owns, and tells its state
            ("Order", owner_on_change("CertificateRequest", _order_progress, _order_done)),
        ]

    def _requests_for_issuer(self, event: WatchEvent) -> Iterable[Key]:
        ns = event.namespace if event.kind == "Issuer" else None
        return self._waiting_on.get((event.kind, ns, event.name))

    def _requests_for_secret(self, event: WatchEvent) -> Iterable[Key]:
        return self._waiting_on.get(("Secret", event.namespace, event.name))

    def _index_request(self, event: WatchEvent) -> Iterable[Key]:
        key = (event.namespace, event.name)
        obj = event.obj
        done = event.type == EventType.DELETED or not isinstance(obj, CertificateRequest)
        targets: set[Hashable] = set()
        if isinstance(obj, CertificateRequest) and not done:
            ready = get_condition(obj.status.conditions if obj.status else None, c.COND_READY)
            done = ready is not None and ready.reason in (c.CR_ISSUED, c.CR_FAILED, c.CR_DENIED)
            if not done:
                secret = obj.annotations().get(c.ANN_PRIVATE_KEY_SECRET)
                if secret:
                    targets.add(("Secret", event.namespace, secret))
                ref = obj.spec.issuer_ref
                if ref is not None and ref.name:
                    kind = ref.kind or "Issuer"
                    targets.add((kind, event.namespace if kind == "Issuer" else None, ref.name))
        self._waiting_on.set(key, targets)
        # a request that reached its end (issued, failed, denied) has nothing left to sign
        return [] if done else [key]

    def _set_ready(self, cr: CertificateRequest, status: str, reason: str, message: str) -> None:
        assert cr.status is not None
        cr.status.conditions = set_condition(cr.status.conditions, c.COND_READY, status, reason, message, self.clock.now())

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        cr = self.store.try_get(CertificateRequest, ns, name)
        if cr is None:
            return None
        ref = cr.spec.issuer_ref
        if ref is not None and ref.group not in (None, "", "cert-manager.io"):
            return None  # an external issuer's request
        if cr.status is None:
            cr.status = CertificateRequestStatus()
        conds = cr.status.conditions
        state = approval_state(cr)
        ready = get_condition(conds, c.COND_READY)
        if state == c.COND_DENIED:
            if ready is not None and ready.reason == c.CR_DENIED:
                return None
            self._set_ready(cr, "False", c.CR_DENIED, "The CertificateRequest was denied by an approval controller")
            cr.status.failure_time = cr.status.failure_time or format_time(self.clock.now())
            self.store.update_status(cr)
            return None
        invalid = get_condition(conds, c.COND_INVALID_REQUEST)
        if invalid is not None and invalid.status == "True":
            return None
        if state != c.COND_APPROVED:
            return None
        if ready is not None and ready.reason in (c.CR_FAILED, c.CR_ISSUED):
            return None
        issuer, kind = find_issuer(self.ctx, cr)
        if issuer is None:
            return self._pending(cr, "IssuerNotFound",
                                 f'Referenced "{kind}" not found: {kind.lower()}.cert-manager.io "{ref.name if ref else ""}" not found')
        itype = issuer_type(issuer)
        if itype is None:
            return self._pending(cr, "IssuerTypeMissing", "Missing issuer type")
        signer = self.signers.get(itype)
        if signer is None:
            return self._pending(cr, "IssuerNotSupported",
                                 f'Issuer type "{itype}" is not supported by certkeeper yet')
        if not is_ready(issuer):
            return self._pending(cr, "IssuerNotReady", "Referenced issuer does not have a Ready status condition")
        if cr.status.certificate:
            return None
        outcome = signer.sign(self.ctx, cr, issuer)
        if isinstance(outcome, Pending):
            return self._pending(cr, outcome.event_reason, outcome.message)
        if isinstance(outcome, Failed):
            return self._failed(cr, outcome.event_reason, outcome.message)
        assert isinstance(outcome, Issued)
        try:
            parse_certificates(outcome.certificate)
        except PKIError as e:
            return self._failed(cr, "DecodeError", f"Failed to decode returned certificate: {e}")
        cr.status.certificate = outcome.certificate
        cr.status.ca = outcome.ca or None
        self._set_ready(cr, "True", c.CR_ISSUED, "Certificate fetched from issuer successfully")
        self.store.update_status(cr)
        self.recorder.event(cr, "Normal", "CertificateIssued", "Certificate fetched from issuer successfully")
        return None

    def _pending(self, cr: CertificateRequest, event_reason: str, message: str) -> Result | None:
        assert cr.status is not None
        ready = get_condition(cr.status.conditions, c.COND_READY)
        if ready is None or ready.reason != c.CR_PENDING or ready.message != message:
            if ready is None or ready.reason != c.CR_PENDING:
                self.recorder.event(cr, "Normal", event_reason, message)
            self._set_ready(cr, "False", c.CR_PENDING, message)
            self.store.update_status(cr)
        return None

    def _failed(self, cr: CertificateRequest, event_reason: str, message: str) -> Result | None:
        assert cr.status is not None
        self._set_ready(cr, "False", c.CR_FAILED, message)
        cr.status.failure_time = cr.status.failure_time or format_time(self.clock.now())
        self.store.update_status(cr)
        self.recorder.event(cr, "Warning", event_reason, message)
        return None
