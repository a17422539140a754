"""The HTTP endpoint: the kept resource families, then the few series of the moment.

A scrape answers the table's families from ``ResourceExposition`` (bytes rebuilt only
after a change) followed by what prometheus_client renders from a small registry (clock,
sync counts, API requests, process, Python). The scraper's ``Accept`` header chooses the
text format or OpenMetrics as prometheus_client's own server does (the kept gauges read
the same in both; OpenMetrics' ``# EOF`` closes the small part, which comes last), and
``Accept-Encoding: gzip`` (what Prometheus sends) gets one gzip member whose kept head
is compressed once per change.

Until the stored objects have been read once (in the background, so that a daemon with
100,000 Certificates starts serving at once) a scrape waits for them, then answers 503:
a partial answer would read as Certificates that vanished.

A port that cannot be bound is an error in the log naming the address; the daemon keeps
issuing (certificates matter more than their metrics, and a standby on the same host
would otherwise never start).
"""

from __future__ import annotations

import http.server
import itertools
import logging
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from ..listen import ListenServer, listen_address_off, split_address
from ..runtime.manager import Manager
from ..store.base import StoreError
from .collectors import ApiRequestCollector, ClockCollector, ControllerCollector
from .exposition import ResourceExposition, gzip_join
from .table import MetricsTable

log = logging.getLogger("certkeeper.metrics")

#: how long a scrape waits for the first read of the store before answering 503
PRIME_WAIT = 10.0

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection
    #: an idle kept-alive connection is closed after this (its thread ends with it)
    timeout = 300
    metrics: MetricsServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] == "/favicon.ico":
            self._answer(404, b"not found\n", "text/plain; charset=utf-8")
            return
        ready, why = self.metrics.wait_primed(PRIME_WAIT)
        if not ready:
            self._answer(503, f"{why}\n".encode(), "text/plain; charset=utf-8")
            return
        accept = self.headers.get("Accept") or ""
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body, content_type = self.metrics.render_gzip(accept)
            self._answer(200, body, content_type, gzipped=True)
            return
        size, parts, content_type = self.metrics.render_text(accept)
        self._start(200, size, content_type)
        for part in parts:
            self.wfile.write(part)

    def _answer(self, code: int, body: bytes, content_type: str, gzipped: bool = False) -> None:
        self._start(code, len(body), content_type, gzipped)
        self.wfile.write(body)

    def _start(self, code: int, length: int, content_type: str, gzipped: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """A line per scrape is not worth logging."""


class MetricsServer:
    def __init__(self, manager: Manager) -> None:
        # what changes on every scrape: rendered by prometheus_client each time (a few lines)
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(ClockCollector(manager))
        self.registry.register(ControllerCollector(manager))
        self.registry.register(ApiRequestCollector(manager.ctx.store))
        self.table = MetricsTable()
        self.resources = ResourceExposition(self.table)
        self._store = manager.ctx.store
        self._server: ListenServer | None = None
        self.port = 0
        #: set once the stored objects are read and their exposition is built
        self.built = threading.Event()

    def start(self, address: str) -> None:
        """Bind (an OSError names a taken port at once), then read the store behind."""
        handler = type("Handler", (_Handler,), {"metrics": self})
        self._server = ListenServer(address, handler)
        self.port = self._server.port
        self.table.watch(self._store)
        threading.Thread(target=self._prime, name="metrics-prime", daemon=True).start()
        self._server.serve_in_background("metrics")
        host, _ = split_address(address)
        log.info("serving metrics on http://%s:%d/metrics", host, self.port)

    def _prime(self) -> None:
        """Read the store, then build the exposition here rather than in the first scrape:
        metrics are served by default, so a scraper is expected, and the build (about 0.1 s
        of CPU at 10,000 Certificates, 0.8 s at 100,000) would otherwise be the first
        scrape's, against its budget and its timeout. Later scrapes remake only the chunks
        that changed."""
        try:
            self.table.prime(self._store)
            self.resources.deflated()
            self.built.set()
        except StoreError as exc:
            log.error("metrics: %s; /metrics answers 503", self.table.failure or exc)
        except Exception:
            log.exception("metrics: %s; /metrics answers 503", self.table.failure)

    def wait_primed(self, timeout: float) -> tuple[bool, str]:
        if not self.table.primed.wait(timeout):
            return False, "the stored objects are still being read"
        if self.table.failure:
            return False, self.table.failure
        return True, ""

    def render_gzip(self, accept: str) -> tuple[bytes, str]:
        """The gzip'd body and its content type for a scraper sending this Accept header."""
        encoder, content_type = choose_encoder(accept)
        return gzip_join(self.resources.deflated(), encoder(self.registry)), content_type

    def render_text(self, accept: str) -> tuple[int, Iterator[bytes], str]:
        """The length of the body, the body a piece at a time, and its content type."""
        encoder, content_type = choose_encoder(accept)
        tail = encoder(self.registry)
        size, parts = self.resources.text()
        return size + len(tail), itertools.chain(parts, (tail,)), content_type

    def stop(self) -> None:
        self.table.stop()
        if self._server is not None:
            self._server.close()
            self._server = None


def start_metrics(manager: Manager, address: str | None) -> MetricsServer | None:
    """Start the endpoint, or return None: when turned off ('' or '0'), or after an error
    naming the address when it cannot be served."""
    if listen_address_off(address):
        return None
    assert address is not None
    server = MetricsServer(manager)
    try:
        server.start(address)
    except (OSError, ValueError) as exc:
        log.error("metrics are off: cannot serve on %s (--metrics-listen-address): %s", address, exc)
        server.stop()
        return None
    return server


def stop_metrics(server: MetricsServer | None) -> None:
    if server is not None:
        server.stop()
