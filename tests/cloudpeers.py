"""Test peers for Route 53: moto's AWS emulator in server mode (Route 53, STS, IAM), and a
small authoritative DNS front end that serves a moto hosted zone so that Pebble's VA and
the propagation check can resolve what the solver wrote.

The front end is a stand-in for Route 53's own name servers, which moto does not run; the
API side (every write, GetChange, IAM authentication) is moto's real implementation.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.peers import _die_with_parent, _stop_process, _wait_ready, free_port, missing_peer
from tests.standins import ZoneNameserver

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
            missing_peer("moto[server] is not installed")
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


class Route53Nameserver(ZoneNameserver):
    """Answers DNS queries for one moto hosted zone from its record sets, read through the
    Route 53 API on every query (so a write is visible at once, like INSYNC on AWS)."""

    def __init__(self, moto: MotoServer, zone: str, zone_id: str) -> None:
        self.zone_id = zone_id
        client = moto.client("route53")
        lock = threading.Lock()

        def txt(name: str) -> list[str]:
            with lock:  # one boto3 client, many DNS threads
                found = client.list_resource_record_sets(
                    HostedZoneId=zone_id, StartRecordName=name, StartRecordType="TXT", MaxItems="1",
                )
            return [r["Value"].strip('"') for rrset in found["ResourceRecordSets"]
                    if rrset["Name"] == name and rrset["Type"] == "TXT" for r in rrset["ResourceRecords"]]

        super().__init__(zone, txt)
