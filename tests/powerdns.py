"""PowerDNS Authoritative (Debian's ``pdns-server`` with the SQLite backend) on loopback,
with its HTTP API on, serving example.test: a real DNS server with a real HTTP API that
dns-lexicon's ``powerdns`` provider writes to, and that Pebble's VA asks.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests

from tests.peers import _die_with_parent, _stop_process, _wait_ready, find_binary, free_port, missing_peer

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
ZONE = "example.test."


@dataclass
class PowerDNSServer:
    workdir: Path
    port: int = 0
    api_port: int = 0
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log(self) -> Path:
        return self.workdir / "pdns.log"

    def start(self) -> None:
        binary = find_binary("pdns_server")
        if binary is None or not SCHEMA.exists():
            missing_peer("pdns-server and pdns-backend-sqlite3 are not installed")
        db = self.workdir / "pdns.sqlite3"
        with sqlite3.connect(db) as conn:
            conn.executescript(SCHEMA.read_text())
        self.port, self.api_port = free_port(udp_too=True), free_port()
        (self.workdir / "pdns.conf").write_text(
            "launch=gsqlite3\n"
            f"gsqlite3-database={db}\n"
            "local-address=127.0.0.1\n"
            f"local-port={self.port}\n"
            f"socket-dir={self.workdir}\n"
            "api=yes\n"
            f"api-key={self.api_key}\n"
            "webserver=yes\n"
            "webserver-address=127.0.0.1\n"
            f"webserver-port={self.api_port}\n"
            "webserver-allow-from=127.0.0.0/8\n"
            # answers must show a write at once: no caches
            "cache-ttl=0\nnegquery-cache-ttl=0\nquery-cache-ttl=0\nconsistent-backends=yes\n"
            "guardian=no\ndaemon=no\ndisable-syslog=yes\nloglevel=4\n"
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config-dir={self.workdir}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        _wait_ready(self.proc, self._probe, "pdns_server", self.log)
        self.api("POST", "/zones", json={
            "name": ZONE, "kind": "Native", "nameservers": [f"ns.{ZONE}"],
            "rrsets": [
                {"name": f"ns.{ZONE}", "type": "A", "ttl": 5, "changetype": "REPLACE",
                 "records": [{"content": "127.0.0.1", "disabled": False}]},
                {"name": f"*.{ZONE}", "type": "A", "ttl": 5, "changetype": "REPLACE",
                 "records": [{"content": "127.0.0.1", "disabled": False}]},
            ],
        })

    def _probe(self) -> bool:
        try:
            return requests.get(f"{self.api_url}/api/v1/servers", headers={"X-API-Key": self.api_key},
                                timeout=1).ok
        except requests.RequestException:
            return False

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = requests.request(method, f"{self.api_url}/api/v1/servers/localhost{path}",
                                    headers={"X-API-Key": self.api_key}, timeout=5, **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response

    def txt(self, fqdn: str) -> list[str]:
        response = dns.query.tcp(dns.message.make_query(fqdn, dns.rdatatype.TXT), "127.0.0.1", port=self.port,
                                 timeout=5)
        return sorted(b"".join(r.strings).decode() for rrset in response.answer for r in rrset)

    def stop(self) -> None:
        _stop_process(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def powerdns() -> Iterator[PowerDNSServer]:
    with tempfile.TemporaryDirectory(prefix="certkeeper-pdns-") as folder:
        server = PowerDNSServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()
