"""The HTTPS endpoint: ``/validate``, ``/mutate``, ``/healthz``, ``/livez``.

The standard library's threading HTTP server with TLS: the API server sends few,
small requests over keep-alive connections, so a thread per connection is what is
needed, and the TLS handshake runs in that thread (one slow client never holds up the
accept loop). Each accepted socket is wrapped with the context the certificate source
hands out at that moment, which is how a renewed certificate takes effect.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import ssl
import threading
from typing import Any

from .admission import Admitter
from .review import BadReview, denied, parse_review, request_uid
from .tls import CertificateSource

log = logging.getLogger("certkeeper.webhook")

MAX_BODY = 8 << 20
"""Bytes of an AdmissionReview accepted (objects are at most ~1.5 MiB in etcd; old and
new together stay far below this)."""
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 90.0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WebhookServer
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        route = self.path.split("?", 1)[0]
        if route not in ("/validate", "/mutate"):
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self._send(411, b"Content-Length required\n", "text/plain; charset=utf-8")
            self.close_connection = True
            return
        if length < 0 or length > MAX_BODY:
            self._reply(denied("", f"the request body of {length} bytes is over the limit of {MAX_BODY}", 413,
                               "RequestEntityTooLarge"))
            self.close_connection = True
            return
        body = self.rfile.read(length)
        self._reply(self.server.review(route, body))

    def _reply(self, review: dict[str, Any]) -> None:
        self._send(200, json.dumps(review, separators=(",", ":")).encode())


class WebhookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], certificates: CertificateSource, admitter: Admitter) -> None:
        self.certificates = certificates
        self.admitter = admitter
        self.reviews = 0
        self._count_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        try:
            wrapped = self.certificates.context().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ssl.SSLError):
            sock.close()
            raise
        return wrapped, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's thread: the handshake first, with a deadline."""
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            request.do_handshake()
        except (OSError, ssl.SSLError) as e:
            log.debug("TLS handshake with %s failed: %s", client_address, e)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def review(self, route: str, body: bytes) -> dict[str, Any]:
        """Never raises: whatever goes wrong is a denied review with the reason."""
        with self._count_lock:
            self.reviews += 1
        try:
            req = parse_review(body)
        except BadReview as e:
            return denied(request_uid(body), str(e), 400, "BadRequest")
        try:
            if route == "/validate":
                return self.admitter.validate(req)
            return self.admitter.mutate(req)
        except Exception as e:  # a bug must cost one request, not the webhook
            log.exception("admission of %s %s/%s failed", req.kind, req.namespace, req.name)
            return denied(req.uid, f"internal error in the webhook: {e}", 500, "InternalError")

    @property
    def port(self) -> int:
        return int(self.server_address[1])
