"""One watch-fed cache per kind (client-go's informer): LIST, then WATCH from the list's
resourceVersion with bookmarks, re-LIST on ``410 Gone``; every change goes to the cache
first and then to the handler.

Objects are cached as their JSON text and decoded on every read, like the SQLite store's
rows: a read returns a fresh copy the caller may change, and a decode costs less than a
deep copy of a model. Labels and owner uids are kept beside the text so that ``list`` by
label or owner never decodes what it does not return.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, create_model

from ...api.meta import Resource
from ..base import EventType, StoreError
from .client import GVR, Gone, KubeClient

log = logging.getLogger("certkeeper.kube")

#: objects per LIST page
PAGE = 500
#: how long the server keeps one watch open; randomised like client-go's (5–10 min)
WATCH_SECONDS = 300
#: metadata-only lists and watches (cert-manager's SecretsFilteredCaching)
ACCEPT_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
ACCEPT_METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


class Entry(NamedTuple):
    raw: str
    rv: int
    labels: dict[str, str]
    owners: frozenset[str]
    #: only the metadata is known (the object itself must be read from the API)
    partial: bool


def rv_int(rv: str | None) -> int:
    """resourceVersions are opaque to clients, but etcd's are integers that only grow;
    comparing them is what client-go's mutation cache does to keep a write's own result."""
    try:
        return int(rv or 0)
    except ValueError:
        return 0


#: kinds whose ``managedFields`` a controller reads (the Secret's, for server-side apply
#: on the SQLite store's terms); every other kind's are left out of the cache: a
#: quarter of a Certificate's or CertificateRequest's JSON that nothing reads, and an
#: update without them keeps the server's (it fills in the live object's)
KEEP_MANAGED_FIELDS = {"Secret"}

#: shared by every entry without owners: a frozenset built from an empty iterable is a
#: new 216-byte object, which 50,000 unrelated Secrets would each carry
_NO_OWNERS: frozenset[str] = frozenset()


def entry_of(obj: Resource, partial: bool = False) -> Entry:
    meta = obj.metadata
    # a metadata-only entry is read from the API when it is used: its names are enough
    keep = obj.KIND in KEEP_MANAGED_FIELDS and not partial
    exclude = None if keep else {"metadata": {"managed_fields"}}
    return Entry(
        raw=obj.model_dump_json(by_alias=True, exclude_none=True, exclude=exclude),
        rv=rv_int(meta.resource_version),
        labels=dict(meta.labels or {}),
        owners=frozenset(r.uid for r in meta.owner_references) if meta.owner_references else _NO_OWNERS,
        partial=partial,
    )


def entry_from_item(item: dict[str, Any], kind: str, partial: bool) -> Entry:
    """An item of a LIST as the API server sent it, kept as JSON text without building a
    model: the start-up's lists cost a JSON parse, not a decode into models and an encode
    back, and an item the models cannot read fails only when it is read, never the list."""
    meta = item.get("metadata") or {}
    if partial or kind not in KEEP_MANAGED_FIELDS:
        meta.pop("managedFields", None)
    refs = meta.get("ownerReferences") or []
    return Entry(
        raw=json.dumps(item, separators=(",", ":"), ensure_ascii=False),
        rv=rv_int(meta.get("resourceVersion")),
        labels=dict(meta.get("labels") or {}),
        owners=frozenset(r["uid"] for r in refs if r.get("uid")) if refs else _NO_OWNERS,
        partial=partial,
    )


_ENVELOPES: dict[type[Resource], type[BaseModel]] = {}
_LISTS: dict[type[Resource], type[BaseModel]] = {}


def envelope(cls: type[Resource]) -> type[BaseModel]:
    """``{"type": ..., "object": <cls>}``: a watch line decoded in one pass."""
    if cls not in _ENVELOPES:
        _ENVELOPES[cls] = create_model(f"{cls.KIND}WatchEvent", type=(str, ...), object=(cls, ...))
    return _ENVELOPES[cls]


def list_model(cls: type[Resource]) -> type[BaseModel]:
    """A ``<Kind>List`` body decoded in one pass (items straight into the model)."""
    if cls not in _LISTS:
        _LISTS[cls] = create_model(
            f"{cls.KIND}List",
            __config__=ConfigDict(extra="ignore"),
            items=(list[cls] | None, None),  # type: ignore[valid-type,arg-type]
            metadata=(dict[str, Any], {}),
        )
    return _LISTS[cls]


Handler = Callable[[EventType, Resource], None]


class Informer:
    def __init__(
        self,
        client: KubeClient,
        cls: type[Resource],
        handler: Handler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> None:
        self.client = client
        self.cls = cls
        self.gvr = GVR.of(cls)
        self.handler = handler
        self.namespace = namespace
        self.label_selector = label_selector
        self.metadata_only = metadata_only
        self.lock = threading.Lock()
        #: namespace -> name -> entry
        self.cache: dict[str, dict[str, Entry]] = {}
        self.by_owner: dict[str, set[tuple[str, str]]] = {}
        #: keys this process deleted, with the resourceVersion of the deletion
        self.tombstones: dict[tuple[str, str], int] = {}
        self.synced = threading.Event()
        self.last_rv = ""
        #: the newest resourceVersion this process wrote through this informer's kind
        self.wanted_rv = 0
        self.caught_up = threading.Condition(self.lock)
        self.error: StoreError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.gvr.plural}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait_synced(self, timeout: float) -> None:
        if not self.synced.wait(timeout):
            raise StoreError(
                f"the cache of {self.gvr.plural} did not sync in {timeout:.0f} s"
                + (f": {self.error}" if self.error else "")
            )

    def _run(self) -> None:
        delay = 0.5
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch()
                delay = 0.5
            except Gone:
                need_list = True
            except Exception as e:
                if self._stop.is_set():
                    return
                self._failed(e)
                if self._stop.wait(delay):  # back-off between failed watches
                    return
                delay = min(delay * 2, 30.0)
                need_list = need_list or not self.last_rv or not isinstance(e, StoreError)

    def _failed(self, e: Exception) -> None:
        if isinstance(e, StoreError):
            self.error = e
            log.warning("watch of %s failed: %s; retrying", self.gvr.plural, e)
        else:
            log.error("watch of %s failed", self.gvr.plural, exc_info=e)

    # -- LIST ----------------------------------------------------------------------------
    def _params(self) -> dict[str, str]:
        p: dict[str, str] = {}
        if self.label_selector:
            p["labelSelector"] = self.label_selector
        return p

    def _list(self) -> None:
        items: dict[tuple[str, str], Entry] = {}
        cont = ""
        path = self.gvr.path(self.namespace)
        accept = ACCEPT_METADATA if self.metadata_only else "application/json"
        rv = ""
        while True:
            params = {**self._params(), "limit": str(PAGE)}
            if cont:
                params["continue"] = cont
            resp = self.client.request("GET", path, params=params, accept=accept)
            page = json.loads(resp.content)
            for item in page.get("items") or []:
                imeta = item.get("metadata") or {}
                key = (imeta.get("namespace") or "", imeta.get("name") or "")
                items[key] = entry_from_item(item, self.cls.KIND, self.metadata_only)
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion", rv)
            cont = meta.get("continue") or ""
            if not cont:
                break
        self._replace(items)
        self.last_rv = rv
        self.error = None
        self.synced.set()

    def _replace(self, items: dict[tuple[str, str], Entry]) -> None:
        """A fresh LIST: what changed since the cache was last right is delivered as
        events (a re-list after 410 must not lose a deletion)."""
        events: list[tuple[EventType, Entry]] = []
        with self.lock:
            old = {(ns, n): e for ns, names in self.cache.items() for n, e in names.items()}
            self.cache = {}
            self.by_owner = {}
            for key, entry in items.items():
                self._put(key, entry)
                prev = old.pop(key, None)
                if prev is None:
                    events.append((EventType.ADDED, entry))
                elif prev.rv != entry.rv:
                    events.append((EventType.MODIFIED, entry))
            events.extend((EventType.DELETED, e) for e in old.values())
            self.tombstones.clear()
            self.caught_up.notify_all()
        if self.synced.is_set():
            for etype, entry in events:
                self._deliver(etype, entry)

    # -- WATCH ---------------------------------------------------------------------------
    def _watch(self) -> None:
        accept = ACCEPT_METADATA_WATCH if self.metadata_only else "application/json"
        seconds = WATCH_SECONDS + random.randint(0, WATCH_SECONDS)
        env = envelope(self.cls)
        lines = self.client.watch_lines(
            self.gvr.path(self.namespace),
            {**self._params(), "resourceVersion": self.last_rv},
            accept=accept,
            timeout=seconds,
        )
        for line in lines:
            if self._stop.is_set():
                return
            head = line[:40]
            if b'"BOOKMARK"' in head:
                self.last_rv = json.loads(line)["object"]["metadata"]["resourceVersion"]
                continue
            if b'"ERROR"' in head:
                status = json.loads(line).get("object", {})
                if status.get("code") == 410:
                    raise Gone(status.get("message", "resourceVersion too old"))
                raise StoreError(f"watch of {self.gvr.plural}: {status.get('message', status)}")
            try:
                ev = env.model_validate_json(line)
            except ValueError:
                log.exception("watch of %s: cannot decode an event", self.gvr.plural)
                continue
            obj: Resource = ev.object  # type: ignore[attr-defined]
            etype = EventType(ev.type)  # type: ignore[attr-defined]
            self._on_change(etype, entry_of(obj, self.metadata_only), obj)
            with self.lock:
                self.last_rv = obj.metadata.resource_version or self.last_rv
                self.caught_up.notify_all()

    def _on_change(self, etype: EventType, entry: Entry, obj: Resource) -> None:
        key = (obj.metadata.namespace or "", obj.metadata.name or "")
        with self.lock:
            if etype is EventType.DELETED:
                self.tombstones.pop(key, None)
                self._drop(key)
            else:
                dead = self.tombstones.get(key)
                current = self.cache.get(key[0], {}).get(key[1])
                if (dead is None or entry.rv > dead) and (current is None or entry.rv >= current.rv):
                    self._put(key, entry)
        self.handler(etype, obj)

    def _deliver(self, etype: EventType, entry: Entry) -> None:
        try:
            obj = self.cls.model_validate_json(entry.raw)
        except ValueError:
            return
        self.handler(etype, obj)

    # -- the cache -----------------------------------------------------------------------
    def _put(self, key: tuple[str, str], entry: Entry) -> None:
        ns = self.cache.setdefault(key[0], {})
        old = ns.get(key[1])
        if old is not None:
            for o in old.owners - entry.owners:
                self._unindex(o, key)
        ns[key[1]] = entry
        for o in entry.owners:
            self.by_owner.setdefault(o, set()).add(key)

    def _drop(self, key: tuple[str, str]) -> None:
        ns = self.cache.get(key[0])
        if ns is None:
            return
        old = ns.pop(key[1], None)
        if old is not None:
            for o in old.owners:
                self._unindex(o, key)
        if not ns:
            del self.cache[key[0]]

    def _unindex(self, owner: str, key: tuple[str, str]) -> None:
        keys = self.by_owner.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_owner[owner]

    def wrote(self, obj: Resource) -> None:
        """Our own write's result: a read right after it sees it (not an older cache)."""
        entry = entry_of(obj, self.metadata_only)
        key = (obj.metadata.namespace or "", obj.metadata.name or "")
        with self.lock:
            self.wanted_rv = max(self.wanted_rv, entry.rv)
            current = self.cache.get(key[0], {}).get(key[1])
            if current is None or entry.rv > current.rv:
                self._put(key, entry)

    def deleted(self, namespace: str, name: str, rv: int | None) -> None:
        key = (namespace, name)
        with self.lock:
            current = self.cache.get(namespace, {}).get(name)
            if current is None:
                return  # never cached here, or its DELETED event came before our answer
            self.tombstones[key] = max(rv or 0, current.rv)
            self._drop(key)

    def flush(self, deadline: float) -> bool:
        """Wait until the watch has delivered every write of this process (and every
        deletion it made); False at the deadline."""
        with self.lock:
            while rv_int(self.last_rv) < self.wanted_rv or self.tombstones:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.caught_up.wait(left)
            return True

    def get(self, namespace: str, name: str) -> Entry | None:
        with self.lock:
            return self.cache.get(namespace, {}).get(name)

    def entries(
        self, namespace: str | None, labels: dict[str, str] | None, owner: str | None
    ) -> list[tuple[tuple[str, str], Entry]]:
        with self.lock:
            if owner is not None:
                keys = sorted(self.by_owner.get(owner, ()))
                found = [(k, self.cache[k[0]][k[1]]) for k in keys if namespace is None or k[0] == namespace]
            elif namespace is not None:
                found = [((namespace, n), e) for n, e in sorted(self.cache.get(namespace, {}).items())]
            else:
                found = [((ns, n), e) for ns in sorted(self.cache) for n, e in sorted(self.cache[ns].items())]
        if labels:
            found = [(k, e) for k, e in found if all(e.labels.get(lk) == lv for lk, lv in labels.items())]
        return found


def wait_all(informers: list[Informer], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for inf in informers:
        inf.wait_synced(max(0.1, deadline - time.monotonic()))
