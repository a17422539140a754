"""The test peers themselves: they start, answer, and restart on the same ports."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests
from cryptography import x509

from tests.peers import BindServer, PebbleFactory, PebbleServer

pytest_plugins = ["tests.peers"]
pytestmark = pytest.mark.peers


def test_bind_serves_zone(bind: BindServer) -> None:
    query = dns.message.make_query("ns.example.test.", dns.rdatatype.A)
    answer = dns.query.udp(query, bind.host, port=bind.port, timeout=2)
    assert [r.address for r in answer.answer[0]] == ["127.0.0.1"]
    assert bind.tsig.name == "acme-key" and bind.tsig.algorithm == "hmac-sha256"


def test_pebble_directory_and_root(pebble: PebbleServer) -> None:
    directory = requests.get(pebble.directory_url, verify=str(pebble.ca_bundle_path), timeout=5).json()
    assert directory["newOrder"].startswith("https://127.0.0.1:")
    root = x509.load_pem_x509_certificate(pebble.root_pem())
    assert root.subject == root.issuer


def test_pebble_restarts_on_same_ports(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory()
    ports = (server.listen_port, server.management_port, server.http_port)
    first_root = server.root_pem()
    server.stop()
    try:
        requests.get(server.directory_url, verify=str(server.ca_bundle_path), timeout=2)
        raise AssertionError("stopped Pebble still answered")
    except requests.ConnectionError:
        pass
    server.start()
    assert (server.listen_port, server.management_port, server.http_port) == ports
    assert server.root_pem() != first_root  # Pebble regenerates its CA on start
