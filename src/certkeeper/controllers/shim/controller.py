"""ingress-shim and gateway-shim: keep the Certificates an annotated Ingress or Gateway
asks for, and only those it owns.

A Certificate of the same name that the object does not control is never touched (a
person's own Certificate wins); Certificates it controls whose Secret is no longer named
are deleted. An annotation that cannot be followed is a Warning event ``BadConfig`` on the
object, and nothing is written until the object changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from ...api.certificate import Certificate
from ...api.cluster import Gateway, Ingress
from ...api.meta import Resource
from ...runtime.controller import Context, Controller, Result, controller_owner, same_key
from ...runtime.queue import Key
from ...store.base import AlreadyExists, NotFound, WatchEvent
from .annotations import BadAnnotation
from .desired import MANAGED_ANNOTATIONS, BadConfig, ShimSettings, desired_certificates, wants_certificates

FOREGROUND_DELETION = "foregroundDeletion"


class ShimController(Controller):
    """One per kind of source object; ``primary`` is Ingress or Gateway."""

    primary: type[Ingress] | type[Gateway]

    def __init__(self, ctx: Context, settings: ShimSettings) -> None:
        super().__init__(ctx)
        self.settings = settings

    def watches(self) -> list[tuple[str, Any]]:
        kind = self.primary.KIND

        def owner(event: WatchEvent) -> Iterable[Key]:
            return controller_owner(kind)(event)

        return [(kind, same_key), (Certificate.KIND, owner)]

    def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        obj = self.store.try_get(self.primary, namespace, name)
        if obj is None:
            return None  # its Certificates go with it (ownerReferences)
        meta = obj.metadata
        if meta.deletion_timestamp or FOREGROUND_DELETION in (meta.finalizers or []):
            return None
        if not wants_certificates(obj, self.settings):
            return None
        try:
            wanted, skipped = desired_certificates(obj, self.settings)
        except (BadConfig, BadAnnotation) as e:
            self.recorder.event(obj, "Warning", "BadConfig", str(e))
            return None
        for reason in skipped:
            self.recorder.event(obj, "Warning", "BadConfig", f"skipped: {reason}")
        for cert in wanted:
            self._sync_one(obj, cert)
        names = {c.name for c in wanted}
        for owned in self.store.list(Certificate, obj.namespace, owner_uid=obj.uid):
            if owned.name not in names and owned.is_controlled_by(obj):
                with contextlib.suppress(NotFound):
                    self.store.delete(Certificate, owned.namespace, owned.name)
                self.recorder.event(obj, "Normal", "DeleteCertificate",
                                    f'Successfully deleted unrequired Certificate "{owned.name}"')
        return None

    def _sync_one(self, obj: Resource, cert: Certificate) -> None:
        existing = self.store.try_get(Certificate, cert.namespace, cert.name)
        if existing is None:
            with contextlib.suppress(AlreadyExists):  # created meanwhile: the next event compares
                self.store.create(cert)
                self.recorder.event(obj, "Normal", "CreateCertificate", f'Successfully created Certificate "{cert.name}"')
            return
        if not existing.is_controlled_by(obj):
            self.log.info(
                "%s %s/%s: Certificate %s exists and is not controlled by it; leaving it alone",
                obj.KIND, obj.namespace, obj.name, cert.name,
            )
            return
        updated = existing.copy_deep()
        updated.spec = cert.spec
        updated.metadata.labels = cert.metadata.labels
        kept = {k: v for k, v in existing.annotations().items() if k not in MANAGED_ANNOTATIONS}
        updated.metadata.annotations = {**kept, **(cert.metadata.annotations or {})} or None
        if (updated.spec.to_dict(), updated.metadata.labels or {}, updated.metadata.annotations or {}) == (
            existing.spec.to_dict(), existing.metadata.labels or {}, existing.metadata.annotations or {}
        ):
            return
        self.store.update(updated)  # a Conflict is retried by the manager with a fresh read
        self.recorder.event(obj, "Normal", "UpdateCertificate", f'Successfully updated Certificate "{cert.name}"')


class IngressShimController(ShimController):
    name = "ingress-shim"
    primary = Ingress


class GatewayShimController(ShimController):
    name = "gateway-shim"
    primary = Gateway
