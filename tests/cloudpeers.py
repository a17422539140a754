"""Test peers for the hosted DNS providers: moto's AWS emulator in server mode (Route 53,
STS, IAM), and a small authoritative DNS front end that serves a moto hosted zone so
that Pebble's VA and the propagation check can resolve what the solver wrote.

The front end is a stand-in for Route 53's own name servers, which moto does not run; the
API side (every write, GetChange, IAM authentication) is moto's real implementation.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
import requests

from tests.peers import _die_with_parent, _stop_process, _wait_ready, free_port

REGION = "us-east-1"


@dataclass
class MotoServer:
    """``moto_server`` on loopback; ``client(service)`` gives a boto3 client for it with
    the administrator's keys (any keys work until ``enforce_auth``)."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "moto.log"

    def start(self) -> None:
        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            pytest.skip("moto[server] is not installed")
        self.port = free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        _wait_ready(self.proc, self._probe, "moto_server", self.log)

    def _probe(self) -> bool:
        try:
            return requests.get(f"{self.url}/moto-api/", timeout=1).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        _stop_process(self.proc)
        self.proc = None

    def client(
        self, service: str, key_id: str = "AKIDADMIN", secret: str = "admin-secret", token: str | None = None
    ) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
        )

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=5).raise_for_status()
        self.set_auth(None)

    def set_auth(self, free_requests: int | None) -> None:
        """Enforce IAM authentication after ``free_requests`` more requests (None: never)."""
        body = "inf" if free_requests is None else str(free_requests)
        requests.post(f"{self.url}/moto-api/reset-auth", data=body, timeout=5).raise_for_status()

    def env(self) -> dict[str, str]:
        """What points boto3 (in the daemon or in dns-lexicon) at this server."""
        return {
            "AWS_ENDPOINT_URL_ROUTE_53": self.url,
            "AWS_ENDPOINT_URL_STS": self.url,
            "AWS_ENDPOINT_URL_IAM": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with tempfile.TemporaryDirectory(prefix="certkeeper-moto-") as folder:
        server = MotoServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """boto3 in this process talks to moto, and no credentials leak in from the host."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    moto.reset()
    return moto


def iam_user(moto: MotoServer, name: str, actions: list[str]) -> tuple[str, str]:
    """An IAM user allowed ``actions`` on everything; returns its access key pair."""
    iam = moto.client("iam")
    iam.create_user(UserName=name)
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":'
        + str(actions).replace("'", '"') + ',"Resource":"*"}]}'
    )
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# --------------------------------------------------------------------------- DNS front end


class Route53Nameserver:
    """Answers DNS queries for one moto hosted zone from its record sets, read through the
    Route 53 API on every query (so a write is visible at once, like INSYNC on AWS).

    Serves SOA/NS at the apex, A for every name (127.0.0.1, so HTTP checks land locally),
    and the zone's TXT record sets; UDP and TCP on one loopback port."""

    def __init__(self, moto: MotoServer, zone: str, zone_id: str) -> None:
        self.moto = moto
        self.zone = dns.name.from_text(zone)
        self.zone_id = zone_id
        self.port = free_port(udp_too=True)
        self._client = moto.client("route53")
        self._lock = threading.Lock()
        handler = self._handler()
        self._udp = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), handler)
        self._tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), handler)
        for server in (self._udp, self._tcp):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()

    def _txt(self, name: dns.name.Name) -> list[str]:
        with self._lock:
            found = self._client.list_resource_record_sets(
                HostedZoneId=self.zone_id, StartRecordName=name.to_text(), StartRecordType="TXT", MaxItems="1",
            )
        for rrset in found["ResourceRecordSets"]:
            if rrset["Name"] == name.to_text() and rrset["Type"] == "TXT":
                return [r["Value"] for r in rrset["ResourceRecords"]]
        return []

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= 0x0400  # AA
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        if not name.is_subdomain(self.zone):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        ns = f"ns.{self.zone.to_text()}"
        records: list[str] = []
        if name == self.zone and rdtype == dns.rdatatype.SOA:
            records = [f"{ns} hostmaster.{self.zone.to_text()} 1 60 60 3600 5"]
        elif name == self.zone and rdtype == dns.rdatatype.NS:
            records = [ns]
        elif rdtype == dns.rdatatype.A:
            records = ["127.0.0.1"]
        elif rdtype == dns.rdatatype.TXT:
            records = self._txt(name)
        if records:
            response.answer.append(dns.rrset.from_text_list(name, 5, "IN", rdtype, records))
        elif rdtype != dns.rdatatype.A:
            soa = f"{ns} hostmaster.{self.zone.to_text()} 1 60 60 3600 5"
            response.authority.append(dns.rrset.from_text_list(self.zone, 5, "IN", "SOA", [soa]))
        return response

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        front = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if isinstance(self.request, tuple):  # UDP: (data, socket)
                    data, sock = self.request
                    reply = front.answer(dns.message.from_wire(data)).to_wire()
                    sock.sendto(reply, self.client_address)
                    return
                conn: socket.socket = self.request
                size = int.from_bytes(_read(conn, 2), "big")
                reply = front.answer(dns.message.from_wire(_read(conn, size))).to_wire()
                conn.sendall(len(reply).to_bytes(2, "big") + reply)

        return Handler


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
