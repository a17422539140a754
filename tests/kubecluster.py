"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and
kube-controller-manager, built from the Go module proxy by ``scripts/build-testcluster.sh``.

cert-manager's own integration tests run against envtest (etcd + kube-apiserver); this
adds kube-controller-manager with the garbage-collector and namespace controllers, so that
ownerReferences cascade and namespaces delete as they do in a real cluster. The API server
is started with envtest's flags: a secure port on 127.0.0.1, client certificates signed by
a CA of its own, RBAC, service-account keys. etcd runs without fsync: the data is thrown
away with the cluster.

Use from Python (``ControlPlane(folder).start()``), from pytest (the ``kube_cluster``
fixture in ``tests/conftest.py``) or from a shell::

    python -m tests.kubecluster up DIR      # prints KUBECONFIG=DIR/admin.kubeconfig
    python -m tests.kubecluster down DIR

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0
"""Seconds the API server may take to become ready (a cold start on 2 busy cores is ~15 s)."""

SERVICE_CIDR = "10.0.0.0/24"


def _die_with_parent() -> None:
    """In the child before exec: a killed test run leaves no API server behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_binaries() -> Path:
    """The folder with the three binaries, building them the first time (minutes)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-testcluster.sh")],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- certificates


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class TestCA:
    """The cluster's CA: signs the API server's serving certificate and every client
    certificate (the admin in system:masters, the controller-manager, test users)."""

    def __init__(self, folder: Path) -> None:
        self.cert_path = folder / "ca.crt"
        self.key_path = folder / "ca.key"
        if self.cert_path.exists():
            self.key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("certkeeper-testcluster-ca"))
            .issuer_name(_name("certkeeper-testcluster-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
        )
        _write_key(self.key_path, self.key)  # type: ignore[arg-type]
        _write_cert(self.cert_path, self.cert)

    def issue(
        self,
        folder: Path,
        stem: str,
        cn: str,
        org: str | None = None,
        *,
        server_names: Sequence[str] = (),
    ) -> tuple[Path, Path]:
        """A leaf for a client (``cn`` is the user, ``org`` the group) or, with
        ``server_names``, for a server. Returns (cert path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_names:
            sans: list[x509.GeneralName] = []
            for n in server_names:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    sans.append(x509.DNSName(n))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        _write_key(key_path, key)
        _write_cert(cert_path, cert)
        return cert_path, key_path


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> Path:
    """A kubeconfig with the credentials embedded, as kubeadm writes them."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "certkeeper-test",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(ca.read_bytes()),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(cert.read_bytes()),
                    "client-key-data": _b64(key.read_bytes()),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "certkeeper-test", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------- the control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in ``folder`` (certificates, data,
    logs, kubeconfigs). ``start`` returns when the API server answers ``/readyz``."""

    def __init__(self, folder: Path | str, bin_dir: Path | None = None, detached: bool = False) -> None:
        self.folder = Path(folder).resolve()
        #: keep running after this Python process ends (``up`` from a shell)
        self.detached = detached
        self.bin_dir = bin_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.server = ""
        self.ca: TestCA | None = None
        self.kubeconfig = self.folder / "admin.kubeconfig"

    # -- life cycle ---------------------------------------------------------------------
    def start(self, crds: list[dict[str, Any]] | None = None) -> ControlPlane:
        """``crds`` are installed before the controller-manager starts, so that its
        garbage collector watches them from its first discovery."""
        bin_dir = self.bin_dir or build_binaries()
        self.folder.mkdir(parents=True, exist_ok=True)
        pki = self.folder / "pki"
        pki.mkdir(mode=0o700, exist_ok=True)
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        self.ca = ca = TestCA(pki)
        serving = ca.issue(
            pki,
            "apiserver",
            "kube-apiserver",
            server_names=["127.0.0.1", "localhost", "10.0.0.1", "kubernetes", "kubernetes.default.svc"],
        )
        admin = ca.issue(pki, "admin", "certkeeper-test-admin", "system:masters")
        # in system:masters: its garbage collector must list, watch and delete every
        # resource, custom ones included (a real cluster gives it a service account for that)
        kcm = ca.issue(pki, "controller-manager", "system:kube-controller-manager", "system:masters")
        sa_key = pki / "service-account.key"
        if not sa_key.exists():
            _write_key(sa_key, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        sa_pub = pki / "service-account.pub"
        sa_pub.write_bytes(
            serialization.load_pem_private_key(sa_key.read_bytes(), None)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
        )
        self.server = f"https://127.0.0.1:{api_port}"
        self._spawn(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={pki}",
                f"--secure-port={api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={serving[0]}",
                f"--tls-private-key-file={serving[1]}",
                f"--client-ca-file={ca.cert_path}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
            logs,
        )
        write_kubeconfig(self.kubeconfig, self.server, ca.cert_path, *admin, "admin")
        self._wait_ready()
        if crds:
            install_crds(self, crds)
        kcm_config = write_kubeconfig(
            self.folder / "controller-manager.kubeconfig", self.server, ca.cert_path, *kcm, "controller-manager"
        )
        self._spawn(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm_config}",
                f"--authentication-kubeconfig={kcm_config}",
                f"--authorization-kubeconfig={kcm_config}",
                "--leader-elect=false",
                "--secure-port=0",
                "--controllers=garbage-collector-controller,namespace-controller",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            logs,
        )
        (self.folder / "pids.json").write_text(json.dumps({k: p.pid for k, p in self.procs.items()}))
        return self

    def _spawn(self, name: str, argv: list[str], logs: Path) -> None:
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if self.detached else _die_with_parent,
        )
        out.close()

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.ca is not None
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_path))
        pki = self.folder / "pki"
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        ctx = self._ssl_context()
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    log = (self.folder / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as e:
                last = str(e)
            time.sleep(0.25)  # polling a server's readiness, not hiding a race
        raise RuntimeError(f"kube-apiserver not ready after {START_TIMEOUT:.0f} s: {last}")

    def client_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for another user (a client certificate: CN = user, O = groups)."""
        assert self.ca is not None
        stem = "user-" + user.replace(":", "_")
        pki = self.folder / "pki"
        cert, key = self.ca.issue(pki, stem, user, ",".join(groups) or None)
        return write_kubeconfig(self.folder / f"{stem}.kubeconfig", self.server, self.ca.cert_path, cert, key, user)

    def stop(self) -> None:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def stop_folder(folder: Path) -> None:
    """``down``: stop what ``up`` started in ``folder`` (from its pids file)."""
    pids = folder / "pids.json"
    if not pids.exists():
        return
    for pid in json.loads(pids.read_text()).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
    pids.unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m tests.kubecluster up|down DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1]).resolve()
    if argv[0] == "down":
        stop_folder(folder)
        return 0
    plane = ControlPlane(folder, detached=True).start(crd_documents())
    print(f"KUBECONFIG={plane.kubeconfig}")
    return 0



# ---------------------------------------------------------------------- pytest fixtures


def admin_client(plane: ControlPlane) -> Any:
    """A KubeClient as the cluster admin (no client-side rate limit)."""
    from certkeeper.store.kube import KubeClient, load_config

    return KubeClient(load_config(str(plane.kubeconfig)), qps=0)


def crd_documents() -> list[dict[str, Any]]:
    folder = ROOT / "deploy" / "crds"
    docs: list[dict[str, Any]] = []
    for f in sorted(folder.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(f.read_text()) if d)
    return docs


def gateway_api_crd_documents() -> list[dict[str, Any]]:
    """The standard Gateway API CRDs of the release pinned in tools/gatewayapi/go.mod, as
    that Go module ships them (scripts/gateway-api-crds.sh fetches it into Go's cache)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gateway-api-crds.sh")], check=True, stdout=subprocess.PIPE, text=True
    )
    folder = Path(out.stdout.strip().splitlines()[-1])
    docs: list[dict[str, Any]] = []
    for f in sorted(folder.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "CustomResourceDefinition")
    return docs


def install_crds(plane: ControlPlane, docs: list[dict[str, Any]] | None = None) -> None:
    """Create (or replace) the CRDs and wait until the API server serves them."""
    from certkeeper.store import AlreadyExists

    client = admin_client(plane)
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    docs = crd_documents() if docs is None else docs
    try:
        for doc in docs:
            try:
                client.json("POST", path, doc)
            except AlreadyExists:
                current = client.json("GET", f"{path}/{doc['metadata']['name']}")
                doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
                client.json("PUT", f"{path}/{doc['metadata']['name']}", doc)
        deadline = time.monotonic() + 60
        for doc in docs:
            while True:
                crd = client.json("GET", f"{path}/{doc['metadata']['name']}")
                conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
                if conds.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"CRD {doc['metadata']['name']} not established: {conds}")
                time.sleep(0.1)  # polling the server's condition
    finally:
        client.close()


def create_namespace(plane: ControlPlane, name: str, isolated: bool = True) -> None:
    client = admin_client(plane)
    meta: dict[str, Any] = {"name": name}
    if isolated:
        meta["labels"] = {ISOLATED_LABEL: "true"}
    try:
        client.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    finally:
        client.close()


ISOLATED_LABEL = "certkeeper.test/isolated"


def _wipe_kinds() -> list[Any]:
    from certkeeper.api import registry

    return [k for k in registry.KINDS if k.KIND not in ("Namespace", "Event")]


def wipe_namespaces(plane: ControlPlane) -> None:
    """Remove every object certkeeper knows from the namespaces tests share (all but the
    ``kube-*`` ones and those of ``kube_namespace``), and every cluster-scoped one, and
    wait until they are gone: a test on the shared ``default`` starts empty."""
    from certkeeper.store.kube.client import GVR

    client = admin_client(plane)
    try:
        namespaces = [
            ns["metadata"]["name"]
            for ns in client.json("GET", "/api/v1/namespaces").get("items", [])
            if not ns["metadata"]["name"].startswith("kube-")
            and ISOLATED_LABEL not in (ns["metadata"].get("labels") or {})
            and not ns["metadata"].get("deletionTimestamp")
        ]
        targets = [(cls, ns) for cls in _wipe_kinds() for ns in (namespaces if cls.NAMESPACED else [None])]
        for cls, ns in targets:
            client.request("DELETE", GVR.of(cls).path(ns))
        deadline = time.monotonic() + 60
        for cls, ns in targets:
            while client.json("GET", GVR.of(cls).path(ns)).get("items"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{GVR.of(cls).plural} in {ns} were not deleted in 60 s")
                time.sleep(0.05)  # polling the server for the deletion to finish
    finally:
        client.close()


def ensure_namespace(plane: ControlPlane, name: str) -> None:
    from certkeeper.store import AlreadyExists

    with contextlib.suppress(AlreadyExists):
        create_namespace(plane, name, isolated=False)


def has_orphans(store: Any) -> bool:
    """Any object of certkeeper's kinds whose owners are all gone? Only owners of kinds
    the store knows are judged (an owner of another kind cannot be seen from here)."""
    kinds = _wipe_kinds()
    known = {k.KIND for k in kinds}
    objs = [o for cls in kinds for o in store.list(cls)]
    uids = {o.uid for o in objs}
    for o in objs:
        refs = o.metadata.owner_references or []
        if refs and all(r.kind in known for r in refs) and not any(r.uid in uids for r in refs):
            return True
    return False


def wait_collected(store: Any, timeout: float = 120.0) -> bool:
    """Wait until the garbage collector has deleted every object whose owners are all
    gone; False at the deadline (generous: a loaded machine slows the collector down)."""
    deadline = time.monotonic() + timeout
    while has_orphans(store):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)  # polling the cluster's garbage collector, with a deadline
    return True


try:
    import pytest
except ImportError:  # pragma: no cover - the module also runs as a script
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
        """One real control plane for the whole test session, with certkeeper's CRDs."""
        plane = ControlPlane(tmp_path_factory.mktemp("kube", numbered=True))
        try:
            plane.start(crd_documents())
            yield plane
        finally:
            plane.stop()

    @pytest.fixture(scope="session")
    def gateway_api(kube_cluster: ControlPlane) -> ControlPlane:
        """The cluster with the pinned Gateway API CRDs installed (once per session)."""
        install_crds(kube_cluster, gateway_api_crd_documents())
        return kube_cluster

    @pytest.fixture
    def kube_namespace(kube_cluster: ControlPlane, request: pytest.FixtureRequest) -> str:
        """A fresh namespace for one test (names stay valid DNS labels)."""
        import re
        import secrets

        base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
        name = f"{base}-{secrets.token_hex(3)}"
        create_namespace(kube_cluster, name)
        return name


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
