"""``/livez`` and ``/readyz`` for the kubelet's probes (``--healthz-listen-address``).

Live means the daemon's loop still turns: it beats each time it renews or waits for the
lease, so a wedged process (a deadlock, a store call that never returns) stops answering
200 and the kubelet restarts it, which is what a probe is for. A leader whose Lease is the
only thing keeping a second daemon out (a cluster) is also not live once the Lease has not
been renewed for its duration plus 20 s: cert-manager's leader-election watchdog
(client-go's ``HealthzAdaptor``, ``--internal-healthz-leader-election-timeout``). Ready
means the daemon has reached its store: leading with its caches read and its controllers
started, or waiting as a standby whose last lease attempt got an answer (cert-manager's
readiness does not depend on leadership either).

The endpoint is plain ``http.server`` on its own thread: the kubelet asks a few times a
minute, and nothing here may depend on the controllers being responsive.
"""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Callable

from .listen import ListenServer, listen_address_off

log = logging.getLogger("certkeeper.health")


class Health:
    """The daemon's answers to the probes, updated by its main loop."""

    def __init__(self, stall_after: float, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._stall_after = stall_after
        self._last_beat = now()
        self._ready = False
        self._why_not_ready = "starting"
        self._lease: tuple[Callable[[], float | None], float] | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last_beat = self._now()

    def set_ready(self, ready: bool, why_not: str = "") -> None:
        with self._lock:
            self._ready = ready
            self._why_not_ready = why_not

    def watch_lease(self, renewed_at: Callable[[], float | None] | None, limit: float) -> None:
        """While leading: ``renewed_at`` gives the time (on this ``now``) of the last renewal;
        live fails once it is older than ``limit``. None: not leading (any more)."""
        with self._lock:
            self._lease = None if renewed_at is None else (renewed_at, limit)

    def live(self) -> tuple[bool, str]:
        with self._lock:
            now = self._now()
            quiet = now - self._last_beat
            lease = self._lease
        if quiet > self._stall_after:
            return False, f"the daemon's loop has not turned for {quiet:.0f}s (limit {self._stall_after:.0f}s)"
        if lease is not None:
            renewed_at, limit = lease
            last = renewed_at()
            if last is not None and now - last > limit:
                return False, f"the leader lease has not been renewed for {now - last:.0f}s (limit {limit:.0f}s)"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        live, why = self.live()
        if not live:
            return False, why
        with self._lock:
            return (True, "ok") if self._ready else (False, self._why_not_ready)


class _Handler(http.server.BaseHTTPRequestHandler):
    health: Health

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        checks = {"/livez": self.health.live, "/healthz": self.health.live, "/readyz": self.health.ready}
        check = checks.get(self.path.split("?", 1)[0])
        if check is None:
            self._answer(404, "not found")
            return
        ok, text = check()
        self._answer(200 if ok else 503, text)

    def _answer(self, code: int, text: str) -> None:
        body = f"{text}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Probes every few seconds are not worth a log line each."""


class HealthServer:
    def __init__(self, health: Health) -> None:
        self.health = health
        self.port = 0
        self._server: ListenServer | None = None

    def start(self, address: str) -> None:
        handler = type("Handler", (_Handler,), {"health": self.health})
        self._server = ListenServer(address, handler)
        self.port = self._server.port
        self._server.serve_in_background("healthz")
        log.info("serving /livez and /readyz on http://%s:%d", address.rpartition(":")[0] or "0.0.0.0", self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def start_health(health: Health, address: str | None) -> HealthServer | None:
    """Start the endpoint, or return None: when turned off ('' or '0'), or after an error
    naming the address when it cannot be served (the daemon keeps issuing: certificates
    matter more than the probes, and a kubelet whose probe finds nothing restarts the Pod
    anyway)."""
    if listen_address_off(address):
        return None
    assert address is not None
    server = HealthServer(health)
    try:
        server.start(address)
    except (OSError, ValueError) as exc:
        log.error("/livez and /readyz are off: cannot serve on %s (--healthz-listen-address): %s", address, exc)
        return None
    return server


def stop_health(server: HealthServer | None) -> None:
    if server is not None:
        server.stop()
