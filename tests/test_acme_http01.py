"""HTTP-01 solvers: the built-in responder, the webroot writer and the self-check, over
real sockets (and BIND for name resolution)."""

from __future__ import annotations

import contextlib
import http.client
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from certkeeper.acme.http01 import Http01Responder, WebrootSolver, http01_self_check, normalise_host
from tests.peers import BindServer, free_port, make_tls_ca_and_server_cert, missing_peer

pytest_plugins = ["tests.peers"]

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def get(port: int, path: str, host: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def responder() -> Iterator[Http01Responder]:
    with Http01Responder("127.0.0.1:0") as running:
        yield running


def test_responder_answers_only_presented_token_for_its_host(responder: Http01Responder) -> None:
    path = f"/.well-known/acme-challenge/{TOKEN}"
    assert get(responder.port, path, "www.example.test") == (404, "not found")
    responder.present("www.example.test", TOKEN, KEY)
    assert get(responder.port, path, "www.example.test") == (200, KEY)
    assert get(responder.port, path, "WWW.Example.TEST:8080") == (200, KEY)  # port stripped, any case
    assert get(responder.port, path, "other.example.test")[0] == 404
    assert get(responder.port, "/.well-known/acme-challenge/otherToken", "www.example.test")[0] == 404
    assert get(responder.port, "/", "www.example.test")[0] == 200  # health, like acmesolver
    responder.cleanup("www.example.test", TOKEN)
    assert get(responder.port, path, "www.example.test")[0] == 404


def test_responder_serves_several_names_and_restarts(responder: Http01Responder) -> None:
    responder.present("a.example.test", TOKEN, KEY)
    responder.present("b.example.test", TOKEN, KEY + "-b")
    path = f"/.well-known/acme-challenge/{TOKEN}"
    assert get(responder.port, path, "a.example.test") == (200, KEY)
    assert get(responder.port, path, "b.example.test") == (200, KEY + "-b")
    port = free_port()
    again = Http01Responder(f"127.0.0.1:{port}")
    again.start()
    again.present("a.example.test", TOKEN, KEY)
    assert get(port, path, "a.example.test") == (200, KEY)
    again.stop()
    with pytest.raises(ConnectionRefusedError):
        get(port, path, "a.example.test")


def test_normalise_host() -> None:
    assert normalise_host("WWW.Example.test:80") == "www.example.test"
    assert normalise_host("www.example.test.") == "www.example.test"
    assert normalise_host("[2001:DB8::1]:80") == "2001:db8::1"


def test_webroot_writes_readable_file_and_removes_it(tmp_path: Path) -> None:
    solver = WebrootSolver(tmp_path / "www")
    solver.present("www.example.test", TOKEN, KEY)
    target = tmp_path / "www" / ".well-known" / "acme-challenge" / TOKEN
    assert target.read_text() == KEY
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(target.parent.parent.stat().st_mode) == 0o755
    assert sorted(p.name for p in target.parent.iterdir()) == [TOKEN]  # no temp file left
    solver.cleanup("www.example.test", TOKEN)
    assert not target.exists()
    solver.cleanup("www.example.test", TOKEN)  # idempotent


@pytest.mark.parametrize("token", ["../../etc/passwd", "a/b", "", "tok=en", ".."])
def test_webroot_refuses_tokens_that_are_not_base64url(tmp_path: Path, token: str) -> None:
    solver = WebrootSolver(tmp_path / "www")
    with pytest.raises(ValueError):
        solver.present("www.example.test", token, KEY)
    assert not (tmp_path / "www").exists()


@pytest.mark.peers
def test_self_check_resolves_through_given_nameservers(responder: Http01Responder, bind: BindServer) -> None:
    name = "selfcheck.example.test"  # BIND's wildcard answers 127.0.0.1
    servers = [bind.address]
    assert http01_self_check(name, TOKEN, KEY, nameservers=servers, port=responder.port) == (
        "wrong status code '404', expected '200'"
    )
    responder.present(name, TOKEN, KEY + "x")
    reason = http01_self_check(name, TOKEN, KEY, nameservers=servers, port=responder.port)
    assert reason is not None and reason.startswith("did not get expected response")
    responder.present(name, TOKEN, KEY)
    assert http01_self_check(name, TOKEN, KEY, nameservers=servers, port=responder.port) is None


@pytest.mark.peers
def test_self_check_reports_unreachable_and_unresolvable(bind: BindServer) -> None:
    closed = free_port()
    reason = http01_self_check("closed.example.test", TOKEN, KEY, nameservers=[bind.address], port=closed)
    assert reason is not None and "wrong status code '0'" in reason
    reason = http01_self_check("nowhere.invalid", TOKEN, KEY, nameservers=[bind.address], port=closed)
    assert reason is not None and reason.startswith("failed to resolve nowhere.invalid")


def test_self_check_without_nameservers_uses_system_resolution(responder: Http01Responder) -> None:
    responder.present("localhost", TOKEN, KEY)
    assert http01_self_check("localhost", TOKEN, KEY, port=responder.port) is None


def test_responder_listens_on_ipv6_loopback() -> None:
    try:
        responder = Http01Responder("[::1]:0")
        responder.start()
    except OSError as exc:
        missing_peer(f"no IPv6 loopback here: {exc}")
    try:
        responder.present("v6.example.test", TOKEN, KEY)
        conn = http.client.HTTPConnection("::1", responder.port, timeout=5)
        conn.request("GET", f"/.well-known/acme-challenge/{TOKEN}", headers={"Host": "v6.example.test"})
        reply = conn.getresponse()
        assert (reply.status, reply.read().decode()) == (200, KEY)
        conn.close()
    finally:
        responder.stop()


class _Redirector(BaseHTTPRequestHandler):
    """Answers every GET with a redirect to ``server.target`` (a real server, not a mock:
    web servers in front of solvers commonly redirect)."""

    server: _TargetServer

    def do_GET(self) -> None:  # noqa: N802
        if self.server.body is not None:
            payload = self.server.body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(302)
        self.send_header("Location", self.server.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class _TargetServer(ThreadingHTTPServer):
    daemon_threads = True
    target = ""
    body: str | None = None


@contextlib.contextmanager
def serving(tls_folder: Path | None = None) -> Iterator[_TargetServer]:
    server = _TargetServer(("127.0.0.1", 0), _Redirector)
    if tls_folder is not None:
        _, cert, key = make_tls_ca_and_server_cert(tls_folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.peers
def test_self_check_follows_redirects(responder: Http01Responder, bind: BindServer, tmp_path: Path) -> None:
    name = "redirect.example.test"
    responder.present(name, TOKEN, KEY)
    with serving() as front:
        front.target = f"http://{name}:{responder.port}/.well-known/acme-challenge/{TOKEN}"
        port = int(front.server_address[1])
        assert http01_self_check(name, TOKEN, KEY, nameservers=[bind.address], port=port) is None
        front.target = f"http://{name}:{port}/loop"
        reason = http01_self_check(name, TOKEN, KEY, nameservers=[bind.address], port=port)
        assert reason == "stopped after 10 redirects"
        # an HTTPS redirect target is fetched without certificate verification
        with serving(tmp_path) as secure:
            secure.body = KEY
            front.target = f"https://{name}:{secure.server_address[1]}/.well-known/acme-challenge/{TOKEN}"
            assert http01_self_check(name, TOKEN, KEY, nameservers=[bind.address], port=port) is None


def test_self_check_for_ip_identifier(responder: Http01Responder) -> None:
    responder.present("127.0.0.1", TOKEN, KEY)
    assert http01_self_check("127.0.0.1", TOKEN, KEY, nameservers=["127.0.0.1:1"], port=responder.port) is None
