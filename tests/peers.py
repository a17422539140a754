"""Real ACME and DNS peers for tests: Pebble (ACME CA) and BIND 9 (authoritative DNS).

Tests talk to the same servers users run against, so protocol details (nonces, Link headers,
TSIG, truncation) are exercised for real instead of being re-imagined in a mock. Everything
binds to 127.0.0.1 on ports picked at runtime so several test runs can share the machine.

Use from a test module with ``pytest_plugins = ["tests.peers"]`` (or import the fixtures).
Fixtures: ``bind`` (session), ``pebble`` (session, VA resolving through ``bind``),
``pebble_factory`` (start extra Pebbles with other options; stopped at session end).

PYTEST_DONT_REWRITE (imported by test modules before pytest registers it as a plugin).
"""

from __future__ import annotations

import base64
import ctypes
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

START_TIMEOUT = 20.0
"""Seconds a peer may take to answer its first request before the start counts as failed."""

# The EAB MAC key from the Pebble package's example configuration.
EAB_KID = "kid-1"
EAB_HMAC_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def find_binary(name: str) -> str | None:
    """Debian puts ``named`` in /usr/sbin, which is not always on PATH."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port(*, udp_too: bool = False) -> int:
    """A port free on 127.0.0.1 now; the caller retries on the rare collision."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            if not udp_too:
                return port
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


def _die_with_parent() -> None:
    """Runs in the child before exec: a killed test run must not leave peers behind
    (Linux PR_SET_PDEATHSIG; elsewhere nothing happens)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen[bytes], probe: Callable[[], bool], what: str, log: Path) -> None:
    """Poll ``probe`` until it succeeds; waiting on the process doubles as the poll interval
    so a crashed peer is reported at once instead of after the timeout."""
    deadline = time.monotonic() + START_TIMEOUT
    interval = 0.005
    while True:
        if probe():
            return
        if time.monotonic() > deadline:
            _stop_process(proc)
            raise RuntimeError(f"{what} did not become ready in {START_TIMEOUT}s:\n{_log_tail(log)}")
        try:
            proc.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            interval = min(interval * 2, 0.1)
            continue
        raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_log_tail(log)}")


# --------------------------------------------------------------------------- TLS for Pebble


def make_tls_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a localhost/127.0.0.1 certificate for Pebble's HTTPS listeners
    (the Debian package ships none). Returns (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test TLS CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# --------------------------------------------------------------------------- BIND


@dataclass(frozen=True)
class TsigKey:
    name: str
    secret: str
    algorithm: str
    """BIND spelling, e.g. ``hmac-sha256``."""


BIND_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512")

ZONE = "example.test"
SUB_ZONE = "sub.example.test"

_ZONE_TEXT = """\
$TTL 5
@       IN SOA ns.example.test. hostmaster.example.test. ( 1 60 60 3600 5 )
@       IN NS  ns.example.test.
ns      IN A   127.0.0.1
@       IN A   127.0.0.1
*       IN A   127.0.0.1
sub     IN NS  ns.example.test.
; cnameStrategy: Follow fixtures
_acme-challenge.follow   IN CNAME _acme-challenge.target.example.test.
_acme-challenge.chain    IN CNAME _acme-challenge.follow.example.test.
_acme-challenge.loop1    IN CNAME _acme-challenge.loop2.example.test.
_acme-challenge.loop2    IN CNAME _acme-challenge.loop1.example.test.
_acme-challenge.tosub    IN CNAME _acme-challenge.x.sub.example.test.
"""

_SUB_ZONE_TEXT = """\
$TTL 5
@       IN SOA ns.example.test. hostmaster.example.test. ( 1 60 60 3600 5 )
@       IN NS  ns.example.test.
*       IN A   127.0.0.1
"""


@dataclass
class BindServer:
    """``named -g`` serving example.test (and sub.example.test) with TSIG keys allowed to
    add/delete TXT records anywhere under the zones (RFC 2136)."""

    workdir: Path
    port: int = 0
    keys: dict[str, TsigKey] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    zone: str = ZONE

    @property
    def address(self) -> str:
        """``host:port`` as a nameserver field takes it."""
        return f"{self.host}:{self.port}"

    @property
    def tsig(self) -> TsigKey:
        """The main key (hmac-sha256, as in the working recipe)."""
        return self.keys["hmac-sha256"]

    @property
    def log(self) -> Path:
        return self.workdir / "named.log"

    def _write_config(self) -> None:
        if not self.keys:
            for algorithm in BIND_ALGORITHMS:
                name = f"acme-key-{algorithm.removeprefix('hmac-')}"
                if algorithm == "hmac-sha256":
                    name = "acme-key"
                size = 16 if algorithm == "hmac-md5" else 32
                secret = base64.b64encode(secrets.token_bytes(size)).decode()
                self.keys[algorithm] = TsigKey(name=name, secret=secret, algorithm=algorithm)
        key_blocks = "".join(
            f'key "{k.name}" {{\n    algorithm {k.algorithm};\n    secret "{k.secret}";\n}};\n'
            for k in self.keys.values()
        )
        grants = " ".join(f"grant {k.name} zonesub TXT;" for k in self.keys.values())
        zones = "".join(
            f'zone "{name}" {{\n    type primary;\n    file "{name}.zone";\n'
            f"    update-policy {{ {grants} }};\n}};\n"
            for name in (ZONE, SUB_ZONE)
        )
        (self.workdir / "named.conf").write_text(
            "options {\n"
            f'    directory "{self.workdir}";\n'
            '    pid-file "named.pid";\n'
            '    session-keyfile "session.key";\n'
            f'    managed-keys-directory "{self.workdir}";\n'
            f"    listen-on port {self.port} {{ 127.0.0.1; }};\n"
            "    listen-on-v6 { none; };\n"
            "    recursion no;\n"
            "    dnssec-validation no;\n"
            "    notify no;\n"
            "    allow-transfer { none; };\n"
            "};\n"
            "controls { };\n" + key_blocks + zones
        )

    def _write_zones(self) -> None:
        """Fresh zone files and no journal, so every start serves the same data."""
        for name, text in ((ZONE, _ZONE_TEXT), (SUB_ZONE, _SUB_ZONE_TEXT)):
            (self.workdir / f"{name}.zone").write_text(text)
            (self.workdir / f"{name}.zone.jnl").unlink(missing_ok=True)

    def _probe(self) -> bool:
        query = dns.message.make_query(f"{ZONE}.", dns.rdatatype.SOA)
        try:
            answer = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
        except (OSError, dns.exception.Timeout):
            return False
        return bool(answer.answer)

    def start(self) -> None:
        named = find_binary("named")
        if named is None:
            raise RuntimeError("named is not installed")
        fresh_port = self.port == 0
        for attempt in range(3):
            if fresh_port:
                self.port = free_port(udp_too=True)
            self._write_config()
            self._write_zones()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [named, "-g", "-c", str(self.workdir / "named.conf")],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,
                )
            try:
                _wait_ready(self.proc, self._probe, "named", self.log)
                return
            except RuntimeError:
                if not fresh_port or attempt == 2 or "address in use" not in _log_tail(self.log):
                    raise

    def stop(self) -> None:
        _stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# --------------------------------------------------------------------------- Pebble


@dataclass
class PebbleServer:
    """A Pebble ACME server with its own HTTPS trust (``ca_bundle_path``).

    ``env`` adds PEBBLE_* switches on top of the fast defaults (no VA sleeps, no random
    nonce rejection, no authz reuse); ``dns_server`` is what the VA resolves through."""

    workdir: Path
    dns_server: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    eab_required: bool = False
    eab_keys: dict[str, str] = field(default_factory=dict)
    certificate_validity: int | None = None
    binary: str | None = None
    """Another Pebble build (tests/modernpebble.py); Debian's when None."""
    profiles: dict[str, dict[str, object]] | None = None
    """``profiles`` in the config (Pebble 2.6 and later)."""
    listen_port: int = 0
    management_port: int = 0
    http_port: int = 0
    tls_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    ca_bundle_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca_bundle_path, self._cert, self._key = make_tls_ca_and_server_cert(self.workdir)

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.listen_port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://127.0.0.1:{self.management_port}"

    @property
    def ca_bundle(self) -> bytes:
        """PEM of the CA that signed Pebble's HTTPS certificate (for ``caBundle``)."""
        return self.ca_bundle_path.read_bytes()

    @property
    def log(self) -> Path:
        return self.workdir / "pebble.log"

    def root_pem(self, index: int = 0) -> bytes:
        """Pebble's issuing root number ``index`` (changes on every Pebble start)."""
        response = requests.get(
            f"{self.management_url}/roots/{index}", verify=str(self.ca_bundle_path), timeout=5
        )
        response.raise_for_status()
        return response.content

    def _write_config(self) -> Path:
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.listen_port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(self._cert),
            "privateKey": str(self._key),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": self.eab_required,
        }
        if self.eab_keys:
            config["externalAccountMACKeys"] = self.eab_keys
        if self.certificate_validity is not None:
            config["certificateValidityPeriod"] = self.certificate_validity
        if self.profiles is not None:
            config["profiles"] = self.profiles
        path = self.workdir / "pebble-config.json"
        path.write_text(json.dumps({"pebble": config}, indent=2))
        return path

    def _probe(self) -> bool:
        try:
            response = requests.get(self.directory_url, verify=str(self.ca_bundle_path), timeout=1)
        except requests.RequestException:
            return False
        return response.ok

    def start(self) -> None:
        """Start, or start again on the same ports after ``stop``."""
        pebble = self.binary or find_binary("pebble")
        if pebble is None:
            raise RuntimeError("pebble is not installed")
        fresh_ports = self.listen_port == 0
        for attempt in range(3):
            if fresh_ports:
                self.listen_port, self.management_port = free_port(), free_port()
                self.http_port = self.http_port or free_port()
                self.tls_port = self.tls_port or free_port()
            config = self._write_config()
            env = {
                **os.environ,
                "PEBBLE_VA_NOSLEEP": "1",
                "PEBBLE_WFE_NONCEREJECT": "0",
                "PEBBLE_AUTHZREUSE": "0",
                **self.env,
            }
            command = [pebble, "-config", str(config)]
            if self.dns_server:
                command += ["-dnsserver", self.dns_server]
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=self.workdir, preexec_fn=_die_with_parent,
                )
            try:
                _wait_ready(self.proc, self._probe, "pebble", self.log)
                return
            except RuntimeError:
                if not fresh_ports or attempt == 2 or "address already in use" not in _log_tail(self.log):
                    raise

    def stop(self) -> None:
        _stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# --------------------------------------------------------------------------- fixtures


def missing_peer(reason: str) -> None:
    """A test peer (or root, a tmpfs, IPv6 loopback) is not there: skipped on a
    developer's machine, a failure in CI, where ``.ci/run`` installs and builds every peer
    and a skip would hide a broken install."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs every test peer: see scripts/test.sh)")
    pytest.skip(reason)


def _require(*names: str) -> None:
    missing = [n for n in names if find_binary(n) is None]
    if missing:
        missing_peer(f"test peer binaries not installed: {', '.join(missing)}")


@pytest.fixture(scope="session")
def bind() -> Iterator[BindServer]:
    """A running BIND for the whole session (zone data reset on every start)."""
    _require("named")
    with tempfile.TemporaryDirectory(prefix="certkeeper-bind-") as folder:
        server = BindServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


PebbleFactory = Callable[..., PebbleServer]


@pytest.fixture(scope="session")
def pebble_factory(bind: BindServer) -> Iterator[PebbleFactory]:
    """Start extra Pebbles (keyword arguments of :class:`PebbleServer`); the VA resolves
    through ``bind`` unless ``dns_server`` is given. All are stopped at session end."""
    _require("pebble")
    started: list[PebbleServer] = []
    folders: list[tempfile.TemporaryDirectory[str]] = []

    def start(**options: object) -> PebbleServer:
        folder = tempfile.TemporaryDirectory(prefix="certkeeper-pebble-")
        folders.append(folder)
        options.setdefault("dns_server", bind.address)
        server = PebbleServer(Path(folder.name), **options)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for folder in folders:
            folder.cleanup()


@pytest.fixture(scope="session")
def pebble(pebble_factory: PebbleFactory) -> PebbleServer:
    """The shared fast Pebble (no VA sleeps, no nonce rejection, no authz reuse)."""
    return pebble_factory()
