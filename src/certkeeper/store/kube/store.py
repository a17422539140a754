"""The Store protocol on a Kubernetes API server.

Reads come from watch-fed caches (one informer per kind), never from a GET per
reconcile; writes go to the API with the object's resourceVersion as precondition, and
their results are put in the cache at once, so a controller reads its own write back.
Secrets are cached in full only when certkeeper manages them (labelled
``controller.cert-manager.io/fao: "true"``, as cert-manager's SecretsFilteredCaching
does) and as metadata only otherwise: a CA Secret is read from the API when it is used,
and 50,000 unrelated Secrets in a cluster cost their names, not their data.

``cached=False`` (the command line) reads from the API directly: a ``certkeeper get``
must not wait for every kind to be listed.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ...api import constants as c
from ...api import registry
from ...api.core import Namespace, Secret
from ...api.event import Event
from ...api.meta import Resource
from ...runtime.clock import Clock, RealClock
from ..base import AlreadyExists, Conflict, EventType, NotFound, R, StoreError, WatchEvent, WatchHandler
from .client import EVENTS, GVR, LEASES, KubeClient
from .informer import Entry, Informer, list_model, rv_int, wait_all

log = logging.getLogger("certkeeper.kube")

#: kinds no controller watches: written and read on demand only
UNWATCHED = {Event.KIND, Namespace.KIND}
FAO_SELECTOR = f"{c.LABEL_FAO}=true"
UNMANAGED_SELECTOR = f"{c.LABEL_FAO}!=true"

#: kinds certkeeper only reads as the HTTP-01 solver's own objects: cached by that label
#: only (cert-manager's filtered Pod and Service caches), never every Pod of a cluster
SOLVER_ONLY = {"Pod", "Service", "HTTPRoute"}
SOLVER_SELECTOR = "acme.cert-manager.io/http01-solver=true"

_SYSTEM_ON_CREATE = ("resourceVersion", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                     "deletionGracePeriodSeconds", "selfLink")


def label_selector(labels: Mapping[str, str] | None) -> str | None:
    return ",".join(f"{k}={v}" for k, v in labels.items()) if labels else None


class KubeStore:
    def __init__(
        self,
        client: KubeClient,
        *,
        clock: Clock | None = None,
        cached: bool = True,
        namespace: str | None = None,
        lease_namespace: str = "kube-system",
        sync_timeout: float = 120.0,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or RealClock()
        self.cached = cached
        self.namespace = namespace
        self.lease_namespace = lease_namespace
        self.sync_timeout = sync_timeout
        self._lock = threading.Lock()
        self._informers: dict[str, list[Informer]] = {}
        self._handlers: list[WatchHandler] = []
        self._hlock = threading.Lock()
        #: what this process last saw of each Lease (client-go's observedRecord/observedTime)
        self._leases_seen: dict[str, tuple[str, float]] = {}
        #: the Lease objects this process holds, as last written (renewed with one PUT)
        self._leases_held: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ informers

    def _scope(self, cls: type[Resource]) -> str | None:
        return self.namespace if cls.NAMESPACED else None

    def _out_of_scope(self, cls: type[Resource]) -> bool:
        """A store limited to one namespace (cert-manager's ``--namespace``) sees no
        cluster-scoped kind it would watch: ClusterIssuers are disabled there, as in
        cert-manager, and a namespaced Role is all the controller needs."""
        return self.namespace is not None and not cls.NAMESPACED and cls.KIND not in UNWATCHED

    def informers(self, cls: type[Resource]) -> list[Informer]:
        """The kind's informers, started and synced on first use. Secrets have two: the
        managed ones in full, the others as metadata."""
        if self._out_of_scope(cls):
            return []
        with self._lock:
            found = self._informers.get(cls.KIND)
            if found is None:
                scope = self._scope(cls)
                if cls is Secret:
                    found = [
                        Informer(self.client, cls, self._fanout, namespace=scope, label_selector=FAO_SELECTOR),
                        Informer(
                            self.client, cls, self._fanout, namespace=scope,
                            label_selector=UNMANAGED_SELECTOR, metadata_only=True,
                        ),
                    ]
                elif cls.KIND in SOLVER_ONLY:
                    found = [Informer(self.client, cls, self._fanout, namespace=scope, label_selector=SOLVER_SELECTOR)]
                else:
                    found = [Informer(self.client, cls, self._fanout, namespace=scope)]
                for inf in found:
                    inf.start()
                self._informers[cls.KIND] = found
        wait_all(found, self.sync_timeout)
        return found

    def start_informers(self, kinds: Sequence[type[Resource]] | None = None) -> None:
        """Start every watched kind's informer at once and wait for all to sync (a
        daemon's start-up: the lists run side by side)."""
        chosen = [k for k in kinds or registry.KINDS if k.KIND not in UNWATCHED and not self._out_of_scope(k)]
        for cls in chosen:
            with self._lock:
                if cls.KIND in self._informers:
                    continue
            threading.Thread(target=self.informers, args=(cls,), daemon=True).start()
        for cls in chosen:
            self.informers(cls)

    def _fanout(self, etype: EventType, obj: Resource) -> None:
        with self._hlock:
            handlers = list(self._handlers)
        if not handlers:
            return
        event = WatchEvent(etype, obj.KIND, obj.metadata.namespace or None, obj.metadata.name or "", obj)
        for h in handlers:
            try:
                h(event)
            except Exception:
                log.exception("watch handler failed on %s %s", etype.value, obj.KIND)

    def _wrote(self, obj: Resource) -> None:
        infs = self._informers.get(obj.KIND)
        if not infs:
            return
        if isinstance(obj, Secret):
            managed = obj.labels().get(c.LABEL_FAO) == "true"
            for inf in infs:
                if inf.metadata_only != managed:
                    inf.wrote(obj)
                else:  # moved between the two caches by a label change
                    inf.deleted(obj.metadata.namespace or "", obj.name, None)
        else:
            infs[0].wrote(obj)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _ns(cls: type[Resource], namespace: str | None) -> str | None:
        if not cls.NAMESPACED:
            return None
        return namespace or "default"

    def _decode(self, cls: type[R], raw: bytes | str) -> R:
        obj = cls.model_validate_json(raw)
        obj.api_version, obj.kind = cls.API_VERSION, cls.KIND
        return obj

    def _live_get(self, cls: type[R], namespace: str | None, name: str) -> R | None:
        try:
            resp = self.client.request("GET", GVR.of(cls).path(self._ns(cls, namespace), name))
        except NotFound:
            return None
        return self._decode(cls, resp.content)

    def _from_entry(self, cls: type[R], ns: str, name: str, entry: Entry) -> R | None:
        if entry.partial:
            return self._live_get(cls, ns, name)
        return self._decode(cls, entry.raw)

    # ------------------------------------------------------------------ reads

    def get(self, cls: type[R], namespace: str | None, name: str) -> R:
        obj = self.try_get(cls, namespace, name)
        if obj is None:
            raise NotFound(f'{GVR.of(cls).plural}{_group_suffix(cls)} "{name}" not found')
        return obj

    def try_get(self, cls: type[R], namespace: str | None, name: str) -> R | None:
        if self._out_of_scope(cls):
            return None
        if not self.cached or cls.KIND in UNWATCHED:
            return self._live_get(cls, namespace, name)
        ns = self._ns(cls, namespace) or ""
        for inf in self.informers(cls):
            entry = inf.get(ns, name)
            if entry is not None:
                return self._from_entry(cls, ns, name, entry)
        return None

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> builtins.list[R]:
        ns = namespace if cls.NAMESPACED else None
        if self._out_of_scope(cls):
            return []
        if not self.cached or cls.KIND in UNWATCHED:
            out = list(self._live_list(cls, ns, labels))
        else:
            out = []
            for inf in self.informers(cls):
                for (ens, name), entry in inf.entries(ns, dict(labels or {}), owner_uid):
                    obj = self._from_entry(cls, ens, name, entry)
                    if obj is not None:
                        out.append(obj)
            out.sort(key=lambda o: (o.metadata.namespace or "", o.name))
            return out
        if owner_uid is not None:
            out = [o for o in out if any(r.uid == owner_uid for r in o.metadata.owner_references or [])]
        return out

    def _live_list(
        self, cls: type[R], namespace: str | None, labels: Mapping[str, str] | None, page: int = 500
    ) -> Iterator[R]:
        model = list_model(cls)
        params: dict[str, str] = {"limit": str(page)}
        if (sel := label_selector(labels)) is not None:
            params["labelSelector"] = sel
        path = GVR.of(cls).path(namespace)
        while True:
            resp = self.client.request("GET", path, params=params)
            body = model.model_validate_json(resp.content)
            for obj in body.items or []:  # type: ignore[attr-defined]
                obj.api_version, obj.kind = cls.API_VERSION, cls.KIND
                yield obj
            cont = body.metadata.get("continue")  # type: ignore[attr-defined]
            if not cont:
                return
            params["continue"] = cont

    def scan(self, cls: type[R], page: int = 256) -> Iterator[R]:
        if not self.cached or cls.KIND in UNWATCHED:
            yield from self._live_list(cls, self._scope(cls), None, page=max(page, 500))
            return
        for inf in self.informers(cls):
            for entry in inf.entries(None, None, None):
                obj = self._from_entry(cls, entry[0][0], entry[0][1], entry[1])
                if obj is not None:
                    yield obj

    # ------------------------------------------------------------------ writes

    def _body(self, obj: Resource) -> bytes:
        return json.dumps(obj.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    def create(self, obj: R) -> R:
        cls = type(obj)
        d = obj.to_dict()
        meta = d.setdefault("metadata", {})
        for f in _SYSTEM_ON_CREATE:
            meta.pop(f, None)
        ns = self._ns(cls, meta.get("namespace"))
        if ns:
            meta["namespace"] = ns
        status = d.pop("status", None) if cls.HAS_STATUS else None
        body = json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode()
        resp = self.client.request("POST", GVR.of(cls).path(ns), body=body)
        created = self._decode(cls, resp.content)
        if status:
            # the API server drops status on create; the protocol keeps what was given
            with_status = created.model_copy()
            with_status.status = obj.status  # type: ignore[attr-defined]
            created = self.update_status(with_status)
        self._wrote(created)
        return created

    def _with_rv(self, obj: R) -> R:
        """CRDs refuse an update without a resourceVersion: a caller that gave none asks
        for an unconditional write, which we express against the version we know."""
        if obj.metadata.resource_version:
            return obj
        current = self.try_get(type(obj), obj.metadata.namespace, obj.name)
        if current is None:
            raise NotFound(f'{GVR.of(type(obj)).plural}{_group_suffix(type(obj))} "{obj.name}" not found')
        out = obj.model_copy()
        out.metadata = obj.metadata.model_copy()
        out.metadata.resource_version = current.metadata.resource_version
        return out

    def update(self, obj: R) -> R:
        cls = type(obj)
        obj = self._with_rv(obj)
        path = GVR.of(cls).path(self._ns(cls, obj.metadata.namespace), obj.name)
        resp = self.client.request("PUT", path, body=self._body(obj))
        stored = self._decode(cls, resp.content)
        if stored.metadata.deletion_timestamp and not stored.metadata.finalizers:
            # the last finalizer is gone: the API server has removed the object
            for inf in self._informers.get(cls.KIND) or []:
                inf.deleted(stored.metadata.namespace or "", stored.name, None)
        else:
            self._wrote(stored)
        return stored

    def update_status(self, obj: R) -> R:
        cls = type(obj)
        obj = self._with_rv(obj)
        path = GVR.of(cls).path(self._ns(cls, obj.metadata.namespace), obj.name, "status")
        resp = self.client.request("PUT", path, body=self._body(obj))
        stored = self._decode(cls, resp.content)
        self._wrote(stored)
        return stored

    def apply(self, obj: R, field_manager: str) -> R:
        """The API server's own server-side apply (``force=true``, as cert-manager applies
        its Secrets)."""
        cls = type(obj)
        d = obj.to_dict()
        meta = d.setdefault("metadata", {})
        for f in (*_SYSTEM_ON_CREATE, "managedFields"):
            meta.pop(f, None)
        ns = self._ns(cls, meta.get("namespace"))
        if ns:
            meta["namespace"] = ns
        resp = self.client.request(
            "PATCH",
            GVR.of(cls).path(ns, obj.name),
            params={"fieldManager": field_manager, "force": "true"},
            body=json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
        )
        stored = self._decode(cls, resp.content)
        self._wrote(stored)
        return stored

    def delete(self, cls: type[R], namespace: str | None, name: str) -> None:
        ns = self._ns(cls, namespace)
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        resp = self.client.request("DELETE", GVR.of(cls).path(ns, name), body=body.encode())
        try:
            d = resp.json()
        except ValueError:
            d = {}
        infs = self._informers.get(cls.KIND) or []
        meta = d.get("metadata") or {}
        if d.get("kind") == cls.KIND and meta.get("deletionTimestamp") and meta.get("finalizers"):
            self._wrote(self._decode(cls, resp.content))
            return
        for inf in infs:
            inf.deleted(ns or "", name, rv_int(meta.get("resourceVersion")))

    # ------------------------------------------------------------------ watch

    def flush(self, timeout: float = 30.0) -> None:
        """Return once every change this store wrote has come back through the watches
        and been handed to the handlers: what a step-by-step test waits for before it
        asks the controllers whether anything is left to do."""
        deadline = time.monotonic() + timeout
        with self._lock:
            infs = [i for group in self._informers.values() for i in group]
        for inf in infs:
            if not inf.flush(deadline):
                raise StoreError(f"the watch of {inf.gvr.plural} did not deliver our writes in {timeout:.0f} s")

    def watch(self, handler: WatchHandler) -> Callable[[], None]:
        self.start_informers()
        with self._hlock:
            self._handlers.append(handler)

        def stop() -> None:
            with self._hlock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return stop

    # ------------------------------------------------------------------ events

    def record_events(self, events: Sequence[Event]) -> None:
        """core/v1 Events through the API; a repeat (same name, higher count) is a patch of
        count, message and lastTimestamp, as client-go's recorder sends it."""
        for ev in events:
            d = ev.to_dict()
            meta = d.setdefault("metadata", {})
            ns = meta.get("namespace") or ev.involved_object.namespace or "default"
            meta["namespace"] = ns
            for f in _SYSTEM_ON_CREATE:
                meta.pop(f, None)
            try:
                try:
                    self.client.json("POST", EVENTS.path(ns), d)
                except AlreadyExists:
                    patch = {k: d[k] for k in ("count", "lastTimestamp", "message") if k in d}
                    self.client.request(
                        "PATCH",
                        EVENTS.path(ns, meta["name"]),
                        body=json.dumps(patch).encode(),
                        content_type="application/merge-patch+json",
                    )
            except StoreError as e:
                # best-effort, as client-go's recorder: an Event never fails a reconcile
                log.warning("could not record event %s on %s/%s: %s", ev.reason, ns, ev.involved_object.name, e)

    def expire_events(self, last_seen_before: str) -> int:
        return 0  # the API server expires Events itself (--event-ttl, one hour)

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, name: str, holder: str, duration_seconds: float) -> bool:
        """A coordination.k8s.io/v1 Lease, with client-go's rule for expiry: a lease held
        by another is free once it has not changed for its duration *as observed here*
        (clocks of other hosts are never compared with ours)."""
        path = LEASES.path(self.lease_namespace, name)
        now = self.clock.now()
        now_s = micro_time(now)
        mono = now.timestamp()
        held = self._leases_held.pop(name, None)
        if held is not None and held.get("spec", {}).get("holderIdentity") == holder:
            # a renewal: one PUT on the Lease as we last wrote it; a Conflict means someone
            # else wrote it since, and only then is it read again
            held["spec"]["renewTime"] = now_s
            held["spec"]["leaseDurationSeconds"] = int(duration_seconds)
            try:
                self._leases_held[name] = self.client.json("PUT", path, held)
                self._leases_seen[name] = (json.dumps(self._leases_held[name]["spec"], sort_keys=True), mono)
                return True
            except (Conflict, NotFound):
                pass
        try:
            lease = self.client.json("GET", path)
        except NotFound:
            lease = None
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": self.lease_namespace},
                "spec": {
                    "holderIdentity": holder,
                    "leaseDurationSeconds": int(duration_seconds),
                    "acquireTime": now_s,
                    "renewTime": now_s,
                    "leaseTransitions": 0,
                },
            }
            try:
                self._leases_held[name] = self.client.json("POST", LEASES.path(self.lease_namespace), body)
            except AlreadyExists:
                return False
            self._leases_seen[name] = (json.dumps(body["spec"], sort_keys=True), mono)
            return True
        spec = lease.setdefault("spec", {})
        record = json.dumps(spec, sort_keys=True)
        seen = self._leases_seen.get(name)
        if seen is None or seen[0] != record:
            self._leases_seen[name] = seen = (record, mono)
        current = spec.get("holderIdentity") or ""
        held_by_other = current and current != holder
        if held_by_other and seen[1] + float(spec.get("leaseDurationSeconds") or duration_seconds) > mono:
            return False
        if current != holder:
            spec["acquireTime"] = now_s
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
        spec["holderIdentity"] = holder
        spec["leaseDurationSeconds"] = int(duration_seconds)
        spec["renewTime"] = now_s
        try:
            self._leases_held[name] = self.client.json("PUT", path, lease)
        except (Conflict, NotFound):
            return False
        self._leases_seen[name] = (json.dumps(spec, sort_keys=True), mono)
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """client-go's ReleaseOnCancel: clear the holder so a standby takes over at once."""
        self._leases_held.pop(name, None)
        path = LEASES.path(self.lease_namespace, name)
        try:
            lease = self.client.json("GET", path)
            spec = lease.setdefault("spec", {})
            if spec.get("holderIdentity") != holder:
                return
            spec["holderIdentity"] = ""
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = micro_time(self.clock.now())
            self.client.json("PUT", path, lease)
        except StoreError as e:
            log.warning("could not release lease %s: %s", name, e)

    # ------------------------------------------------------------------ life cycle

    def close(self) -> None:
        with self._lock:
            for infs in self._informers.values():
                for inf in infs:
                    inf.stop()
        self.client.close()

    def __enter__(self) -> KubeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def micro_time(t: dt.datetime) -> str:
    """metav1.MicroTime, which Lease times must be."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _group_suffix(cls: type[Resource]) -> str:
    group = cls.API_VERSION.rpartition("/")[0]
    return f".{group}" if group else ""


def default_holder() -> str:
    """client-go's identity: the host name and something unique to this process."""
    import uuid

    return f"{socket.gethostname()}_{uuid.uuid4()}"
