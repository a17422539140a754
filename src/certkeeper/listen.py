"""The small HTTP servers of ``certkeeper run`` (``/metrics``, ``/livez``, ``/readyz``):
their ``HOST:PORT`` flags and a threaded ``http.server`` bound to one."""

from __future__ import annotations

import http.server
import socket
import threading

#: the value of a ``--*-listen-address`` flag that turns its endpoint off, besides ''
OFF = "0"


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def listen_address_off(address: str | None) -> bool:
    """'' and '0' turn an endpoint off, as cert-manager's and controller-runtime's flags do."""
    return address is None or address.strip() in ("", OFF)


class ListenServer(http.server.ThreadingHTTPServer):
    """``http.server`` on an IPv4 or IPv6 address; its request threads are not waited
    for at exit."""

    daemon_threads = True

    def __init__(self, address: str, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        host, port = split_address(address)
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_background(self, name: str) -> None:
        threading.Thread(target=self.serve_forever, name=name, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
