"""HTTP-01 solvers for a host: a built-in responder and a webroot writer, plus the self-check.

The responder plays the part of cert-manager's acmesolver pod (spec §4.5): it answers only
for presented (dnsName, token) pairs and only when the Host header names that dnsName, so
one listener can serve many challenges without leaking keys across names.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.exception
import dns.resolver

from certkeeper.acme.keyauth import is_valid_token
from certkeeper.acme.nameserver import split_nameserver

CHALLENGE_PATH = "/.well-known/acme-challenge/"
SELF_CHECK_TIMEOUT = 10.0
"""Per-request timeout of the self-check (cert-manager: 10 s)."""
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def normalise_host(host: str) -> str:
    """Host header or dnsName → lower-case name without port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class _Handler(BaseHTTPRequestHandler):
    server: _ResponderServer
    server_version = "certkeeper-acmesolver"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        body: str | None = None
        if path.startswith(CHALLENGE_PATH):
            token = path[len(CHALLENGE_PATH) :]
            host = normalise_host(self.headers.get("Host", ""))
            body = self.server.responder.lookup(host, token)
        elif path in ("/", "/healthz"):
            body = ""
        payload = (body if body is not None else "not found").encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class _ResponderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], responder: Http01Responder, family: int) -> None:
        self.address_family = family
        self.responder = responder
        super().__init__(address, _Handler)


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` / ``:port`` → (host, port)."""
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
    else:
        host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"listen address {address!r} needs a port")
    return host, int(port)


class Http01Responder:
    """Threaded HTTP server answering ``GET /.well-known/acme-challenge/<token>``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._host, self._port = parse_listen_address(address)
        self._keys: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._server: _ResponderServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    def start(self) -> None:
        if self._server is not None:
            return
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._server = _ResponderServer((self._host, self._port), self, family)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"http01-{self.address}", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Http01Responder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def present(self, dns_name: str, token: str, key: str) -> None:
        with self._lock:
            self._keys[(normalise_host(dns_name), token)] = key

    def cleanup(self, dns_name: str, token: str) -> None:
        with self._lock:
            self._keys.pop((normalise_host(dns_name), token), None)

    def lookup(self, host: str, token: str) -> str | None:
        with self._lock:
            return self._keys.get((host, token))


class WebrootSolver:
    """Writes the key where an existing web server serves ``/.well-known/acme-challenge/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, token: str) -> Path:
        if not is_valid_token(token):
            raise ValueError(f"invalid ACME token {token!r}: must be base64url")
        return self.root / ".well-known" / "acme-challenge" / token

    def present(self, dns_name: str, token: str, key: str) -> None:
        path = self._path(token)
        folder = path.parent
        for part in (self.root / ".well-known", folder):
            # web servers usually run as another user: folders must be traversable
            part.mkdir(mode=0o755, exist_ok=True, parents=True)
            part.chmod(0o755)
        tmp = folder / f".{token}.tmp"
        tmp.write_text(key)
        tmp.chmod(0o644)
        os.replace(tmp, path)

    def cleanup(self, dns_name: str, token: str) -> None:
        self._path(token).unlink(missing_ok=True)


def _resolve(dns_name: str, nameservers: list[str]) -> str:
    """First A (else AAAA) address of ``dns_name`` asked from ``host[:port]`` servers."""
    if _is_ip(dns_name):
        return dns_name
    resolver = dns.resolver.Resolver(configure=False)
    servers = [split_nameserver(ns) for ns in nameservers]
    resolver.nameservers = [host for host, _ in servers]
    resolver.nameserver_ports = {host: port for host, port in servers}
    resolver.lifetime = SELF_CHECK_TIMEOUT
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(dns_name, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        return str(answer[0])
    raise LookupError(f"{dns_name} has no A or AAAA record")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _get(url: str, nameservers: list[str] | None) -> tuple[int, str | None, str]:
    """GET ``url`` once; returns (status, Location header, body). HTTPS (only reached via a
    redirect) is not verified, as in cert-manager's self-check."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    address = _resolve(host, nameservers) if nameservers else host
    conn: http.client.HTTPConnection
    if secure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(address, port, timeout=SELF_CHECK_TIMEOUT, context=context)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=SELF_CHECK_TIMEOUT)
    try:
        conn.putrequest("GET", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                        skip_host=True)
        conn.putheader("Host", parts.netloc.rpartition("@")[2])
        conn.putheader("User-Agent", "certkeeper-self-check")
        conn.endheaders()
        response = conn.getresponse()
        body = response.read(64 * 1024).decode("utf-8", "replace")
        return response.status, response.getheader("Location"), body
    finally:
        conn.close()


def challenge_url(dns_name: str, token: str, port: int = 80) -> str:
    host = f"[{dns_name}]" if ":" in dns_name else dns_name
    netloc = host if port == 80 else f"{host}:{port}"
    return f"http://{netloc}{CHALLENGE_PATH}{token}"


def http01_self_check(
    dns_name: str, token: str, key: str, *, nameservers: list[str] | None = None, port: int = 80
) -> str | None:
    """One self-check request (redirects followed, up to 10); None when the key is served,
    else why not. The caller decides how often to retry (cert-manager: 5 passes 2 s apart)."""
    url = challenge_url(dns_name, token, port)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            status, location, body = _get(url, nameservers)
        except (LookupError, dns.exception.DNSException) as exc:
            return f"failed to resolve {urllib.parse.urlsplit(url).hostname}: {exc}"
        except (OSError, http.client.HTTPException) as exc:
            return f"wrong status code '0', expected '200': {exc}"
        if status in REDIRECT_STATUSES and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status != 200:
            return f"wrong status code '{status}', expected '200'"
        if body != key:
            return (f"did not get expected response when querying endpoint, expected {key!r} "
                    f"but got: {body[:100]!r}")
        return None
    return f"stopped after {MAX_REDIRECTS} redirects"
