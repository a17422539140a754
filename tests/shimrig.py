"""The shims on the Kubernetes backend, step by step: a store scoped to one test namespace
of the real control plane, the shim controllers only, and the events they record."""

from __future__ import annotations

import time
from typing import Any

from certkeeper.api.certificate import Certificate
from certkeeper.api.event import Event
from certkeeper.api.meta import Resource
from certkeeper.controllers.shim import factories
from certkeeper.daemon import DaemonOptions
from certkeeper.runtime.clock import RealClock
from certkeeper.runtime.controller import Context, EventRecorder, Options
from certkeeper.runtime.events import EventSink
from certkeeper.runtime.manager import Manager
from certkeeper.store.kube import KubeStore, open_kube_store


class ShimRig:
    def __init__(self, kubeconfig: str, namespace: str, **opts: Any) -> None:
        self.namespace = namespace
        self.store: KubeStore = open_kube_store(kubeconfig, cached=True, qps=0, namespace=namespace)
        self.opts = DaemonOptions(ingress_shim=True, **opts)
        self.sink = EventSink(self.store, RealClock())
        ctx = Context(
            store=self.store, clock=RealClock(), recorder=EventRecorder(sink=self.sink),
            options=Options(extra={"daemon": self.opts}),
        )
        self.manager = Manager(ctx, factories(self.opts))
        self.manager.start()

    def settle(self) -> None:
        """Until the controllers have nothing left to do and the watches have delivered
        every write (their own included)."""
        while True:
            self.manager.settle()
            self.store.flush()
            if self.manager.idle():
                self.sink.flush()
                return

    def create(self, obj: Resource) -> Resource:
        obj.metadata.namespace = self.namespace
        out = self.store.create(obj)
        self.settle()
        return out

    def update(self, obj: Resource) -> Resource:
        out = self.store.update(obj)
        self.settle()
        return out

    def cert(self, name: str) -> Certificate | None:
        return self.store.try_get(Certificate, self.namespace, name)

    def wait_gone(self, name: str, timeout: float = 120.0) -> bool:
        """Wait until the cluster's garbage collector has removed the Certificate (its owner
        was deleted); False at the deadline."""
        deadline = time.monotonic() + timeout
        while self.store.try_get(Certificate, self.namespace, name) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)  # polling kube-controller-manager's garbage collector, with a deadline
        return True

    def events(self, reason: str | None = None) -> list[Event]:
        return [
            e for e in self.store.list(Event, self.namespace)
            if reason is None or e.reason == reason
        ]

    def close(self) -> None:
        self.manager.stop()
        self.store.close()
