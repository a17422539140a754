"""The Deployment's process, as near to the Pod as this machine allows.

No image can run here, so this starts what the container would: ``certkeeper run`` with
the Deployment's own arguments, authenticated as the ``certkeeper`` ServiceAccount of
deploy/ (a token from the TokenRequest API, as the kubelet would project it) and
authorised only by deploy/'s real RBAC objects, created in the cluster as an operator would
apply them. It must become ready on ``/readyz`` and issue a CA hierarchy.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from certkeeper.api import registry
from certkeeper.api.core import TLS_CERT, TLS_KEY, Secret
from certkeeper.daemon import LEASE_NAME
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import decode_private_key, public_keys_equal
from certkeeper.store.base import NotFound
from certkeeper.store.kube import open_kube_store
from tests.kubecluster import ControlPlane, admin_client

from .harness import CA_SETUP, leaf_certificate
from .test_cli_support import certkeeper_command
from .test_deploy import DOCS, aggregated
from .test_health import get_until
from .test_kube_deploy import collection, into
from .test_metrics import free_port

pytest_plugins = ["tests.kubecluster"]

#: what the controller's identity needs in the cluster (the Deployment and its Service
#: describe a Pod that cannot run here; the Namespace is the test's own)
INSTALLED = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{LEASE_NAME}"


def _delete_lease(client: Any) -> None:
    with contextlib.suppress(NotFound):
        client.request("DELETE", LEASE)


@pytest.fixture
def installed(kube_cluster: ControlPlane, kube_namespace: str) -> Iterator[str]:
    """deploy/'s identity and RBAC, for real, in the test's namespace; yields the
    ServiceAccount's token."""
    client = admin_client(kube_cluster)
    created = []
    _delete_lease(client)  # a Lease left by another test would make this one a standby
    try:
        for doc in DOCS:
            if doc["kind"] not in INSTALLED or aggregated(doc):
                continue
            obj = into(doc, kube_namespace)
            client.json("POST", collection(obj), obj)
            created.append(f"{collection(obj)}/{obj['metadata']['name']}")
        token_request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
        sa = f"/api/v1/namespaces/{kube_namespace}/serviceaccounts/certkeeper/token"
        yield client.json("POST", sa, token_request)["status"]["token"]
    finally:
        for path in reversed(created):
            if "/namespaces/" not in path or "/kube-system/" in path:  # the namespace goes with the test
                client.request("DELETE", path)
        _delete_lease(client)
        client.close()


def _service_account_kubeconfig(plane: ControlPlane, token: str, path: Path) -> Path:
    assert plane.ca is not None
    ca = base64.b64encode(plane.ca.cert_path.read_bytes()).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": plane.server, "certificate-authority-data": ca}}],
                "users": [{"name": "certkeeper", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "certkeeper"}}],
                "current-context": "c",
            }
        )
    )
    path.chmod(0o600)
    return path


def _deployment_args(namespace: str, health_port: int) -> list[str]:
    """The container's arguments, with the Pod's environment and ports filled in."""
    (deployment,) = [d for d in DOCS if d["kind"] == "Deployment" and d["metadata"]["name"] == "certkeeper"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    out = []
    for arg in container["args"]:
        arg = arg.replace("$(POD_NAMESPACE)", namespace)
        # two test runs may share the machine: loopback and free ports, not 0.0.0.0:940x
        if arg.startswith("--healthz-listen-address="):
            arg = f"--healthz-listen-address=127.0.0.1:{health_port}"
        elif arg.startswith("--metrics-listen-address="):
            arg = f"--metrics-listen-address=127.0.0.1:{free_port()}"
        out.append(arg)
    return out


def _admin_create(plane: ControlPlane, namespace: str, text: str) -> None:
    store = open_kube_store(str(plane.kubeconfig), qps=0)
    try:
        for doc in yaml.safe_load_all(text):
            cls = registry.by_kind(doc["kind"])
            assert cls is not None
            obj = cls.from_dict(doc)
            obj.metadata.namespace = namespace
            store.create(obj)
    finally:
        store.close()


def _ready(client: Any, namespace: str, name: str) -> str:
    path = f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}"
    conditions = (client.json("GET", path).get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), "")


def _wait_ready(client: Any, namespace: str, name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while _ready(client, namespace, name) != "True":
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{name} not Ready in 120 s:\n{log.read_text()[-3000:]}"
        threading.Event().wait(0.2)  # the daemon works on its own; ask the server again


def test_certkeeper_run_as_the_deploy_service_account_issues(
    kube_cluster: ControlPlane, kube_namespace: str, installed: str, tmp_path: Path
) -> None:
    kubeconfig = _service_account_kubeconfig(kube_cluster, installed, tmp_path / "sa.kubeconfig")
    health = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "CERTKEEPER_STORE")}
    log = tmp_path / "daemon.log"
    _admin_create(kube_cluster, kube_namespace, CA_SETUP)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *certkeeper_command(), "run", "--kubeconfig", str(kubeconfig), "-n", kube_namespace,
                *_deployment_args(kube_namespace, health),
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    client = admin_client(kube_cluster)
    try:
        assert get_until(health, "/readyz", 200, timeout=120) == (200, "ok\n"), log.read_text()[-3000:]
        _wait_ready(client, kube_namespace, "root-ca", proc, log)
        _admin_create(kube_cluster, kube_namespace, leaf_certificate("web"))
        _wait_ready(client, kube_namespace, "web", proc, log)
        secret = Secret.from_dict(client.json("GET", f"/api/v1/namespaces/{kube_namespace}/secrets/web"))
        leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0]
        root_secret = Secret.from_dict(client.json("GET", f"/api/v1/namespaces/{kube_namespace}/secrets/root-ca"))
        leaf.verify_directly_issued_by(parse_certificates(root_secret.get(TLS_CERT) or b"")[0])
        assert public_keys_equal(leaf.public_key(), decode_private_key(secret.get(TLS_KEY) or b""))
        # the daemon leads through deploy/'s Lease, as the ServiceAccount
        lease = client.json("GET", LEASE)
        assert lease["spec"]["holderIdentity"]
        assert "forbidden" not in log.read_text().lower()
        proc.terminate()
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client.close()


def test_the_service_account_cannot_reach_beyond_its_roles(
    kube_cluster: ControlPlane, kube_namespace: str, installed: str
) -> None:
    """The same token, asked of the API server's own SelfSubjectAccessReview: allowed what
    the controllers do, refused everything else."""
    assert kube_cluster.ca is not None
    ca = str(kube_cluster.ca.cert_path)

    def allowed(verb: str, resource: str, group: str = "", subresource: str = "") -> bool:
        attributes = {"verb": verb, "group": group, "resource": resource, "namespace": kube_namespace}
        if subresource:
            attributes["subresource"] = subresource
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        resp = requests.post(
            f"{kube_cluster.server}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            json=review, headers={"Authorization": f"Bearer {installed}"}, verify=ca, timeout=30,
        )
        resp.raise_for_status()
        return bool(resp.json()["status"]["allowed"])

    for verb, resource, group, sub in [
        ("create", "certificaterequests", "cert-manager.io", ""),
        ("update", "certificates", "cert-manager.io", "status"),
        ("watch", "secrets", "", ""),
        ("patch", "secrets", "", ""),
        ("create", "challenges", "acme.cert-manager.io", ""),
        ("create", "events", "", ""),
        # the ingress-shim keeps the Certificates of annotated Ingresses
        ("create", "certificates", "cert-manager.io", ""),
        ("watch", "ingresses", "networking.k8s.io", ""),
    ]:
        assert allowed(verb, resource, group, sub), (verb, resource, sub)
    for verb, resource, group, sub in [
        ("update", "gateways", "gateway.networking.k8s.io", ""),
        ("delete", "issuers", "cert-manager.io", ""),
        ("update", "orders", "acme.cert-manager.io", ""),
        ("create", "configmaps", "", ""),
        ("create", "serviceaccounts", "", "token"),
        ("create", "clusterrolebindings", "rbac.authorization.k8s.io", ""),
        ("impersonate", "users", "", ""),
        ("delete", "namespaces", "", ""),
    ]:
        assert not allowed(verb, resource, group, sub), (verb, resource, sub)
