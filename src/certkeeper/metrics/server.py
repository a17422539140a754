"""The HTTP endpoint: prometheus_client's own server on a private registry.

A port that cannot be bound (a second daemon, tests running several) is a warning, not a
failure: certificates matter more than their metrics.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from ..runtime.manager import Manager
from ..store.base import StoreError
from .collectors import ApiRequestCollector, ClockCollector, ControllerCollector, ResourceCollector
from .table import MetricsTable

log = logging.getLogger("certkeeper.metrics")


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class MetricsServer:
    def __init__(self, manager: Manager) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.table = MetricsTable()
        self.registry.register(ClockCollector(manager))
        self.registry.register(ControllerCollector(manager))
        self.registry.register(ResourceCollector(self.table))
        self.registry.register(ApiRequestCollector(manager.ctx.store))
        self._store = manager.ctx.store
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self, address: str) -> None:
        host, port = split_address(address)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self._server.server_address[1])
        self.table.start(self._store)
        log.info("serving metrics on http://%s:%d/metrics", host, self.port)

    def stop(self) -> None:
        self.table.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_metrics(manager: Manager, address: str | None) -> MetricsServer | None:
    """Start the endpoint, or return None (after one warning) when it cannot be served."""
    if not address:
        return None
    server = MetricsServer(manager)
    try:
        server.start(address)
    except (OSError, ValueError, StoreError) as exc:
        log.warning("metrics disabled: cannot serve on %s: %s", address, exc)
        server.stop()
        return None
    return server


def stop_metrics(server: MetricsServer | None) -> None:
    if server is not None:
        server.stop()
