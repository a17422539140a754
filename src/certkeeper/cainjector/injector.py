"""The injection loop: any change to a target or to a Secret or Certificate that may hold
a CA wakes it, and it brings every annotated target up to date.

Reconciling everything on each wake-up is deliberate: a cluster has a handful of webhook
configurations, CRDs and APIServices, and one pass of GETs costs less than the
bookkeeping of which target depends on which Secret. Watches only say *when* (metadata
only, so a cluster's Secrets are not streamed to the injector); a periodic pass catches
anything a broken watch missed.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from ..store.base import Conflict, NotFound, StoreError
from ..store.kube.client import Gone
from ..store.kube.informer import ACCEPT_METADATA, ACCEPT_METADATA_WATCH
from .sources import NoCA, ca_for, wants_injection
from .targets import TARGETS, Target

log = logging.getLogger("certkeeper.cainjector")

WATCHED = [t.path for t in TARGETS] + ["/api/v1/secrets", "/apis/cert-manager.io/v1/certificates"]


class Injector:
    def __init__(self, client: Any, apiserver_ca: bytes | None) -> None:
        self.client = client
        self.apiserver_ca = apiserver_ca
        self.wake = threading.Event()
        self.injected = 0
        #: why an object could not be injected, logged once per reason
        self._told: dict[str, str] = {}

    def reconcile(self) -> None:
        for target in TARGETS:
            try:
                items = self.client.json("GET", target.path).get("items", [])
            except NotFound:
                continue  # e.g. no aggregation layer: no APIService kind
            for obj in items:
                annotations = obj["metadata"].get("annotations") or {}
                if wants_injection(annotations):
                    self._one(target, obj, annotations)

    def _one(self, target: Target, obj: dict[str, Any], annotations: dict[str, str]) -> None:
        name = obj["metadata"]["name"]
        key = f"{target.kind}/{name}"
        try:
            pem = ca_for(annotations, self.client, self.apiserver_ca)
        except NoCA as e:
            if self._told.get(key) != str(e):
                log.warning("cannot inject a CA into %s: %s", key, e)
                self._told[key] = str(e)
            return
        self._told.pop(key, None)
        updated = target.injected(obj, pem)
        if updated is None:
            return
        try:
            self.client.json("PUT", f"{target.path}/{name}", updated)
        except Conflict:
            self.wake.set()  # changed meanwhile: again on the next pass
            return
        self.injected += 1
        log.info("injected the CA into %s", key)

    def watch(self, path: str, stop: threading.Event) -> None:
        """Wake the loop on every change of ``path`` until ``stop``: metadata only (the
        pass reads what it needs), continued from the last resourceVersion seen so a
        reconnection replays nothing, listed again after ``410 Gone``."""
        rv = ""
        while not stop.is_set():
            try:
                if not rv:
                    listed = self.client.json("GET", path, params={"limit": "1"}, accept=ACCEPT_METADATA)
                    rv = listed["metadata"]["resourceVersion"]
                    self.wake.set()  # whatever changed before this list
                for line in self.client.watch_lines(path, {"resourceVersion": rv}, accept=ACCEPT_METADATA_WATCH,
                                                    timeout=300):
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        rv = ""  # 410: too old; list again
                        break
                    rv = event["object"]["metadata"].get("resourceVersion", rv)
                    if event.get("type") != "BOOKMARK":
                        self.wake.set()
                    if stop.is_set():
                        return
            except NotFound:
                return  # the kind is not served (no aggregation layer, ...)
            except Gone:
                rv = ""
            except (StoreError, ValueError, KeyError) as e:
                log.debug("watch of %s ended: %s", path, e)
                stop.wait(1.0)

    def run(self, stop: threading.Event, still_leading: Any = None, resync: float = 60.0,
            check_every: float = 5.0) -> bool:
        """Until ``stop`` (True) or until ``still_leading()`` says no (False)."""
        for path in WATCHED:
            threading.Thread(target=self.watch, args=(path, stop), name=f"watch {path}", daemon=True).start()
        waited = resync
        while not stop.is_set():
            if self.wake.is_set() or waited >= resync:
                self.wake.clear()
                waited = 0.0
                try:
                    self.reconcile()
                except StoreError as e:
                    log.warning("injection pass failed: %s", e)
            self.wake.wait(check_every)
            waited += check_every if not self.wake.is_set() else 0.0
            if still_leading is not None and not still_leading():
                return False
        return True
