"""The webhook as the API server sees it: a separate ``certkeeper webhook`` process on
loopback and the Validating/MutatingWebhookConfigurations that send the API server to it
by URL. Shared by the webhook and CA injector tests.

The configurations are cluster-wide objects in a cluster the whole test session shares, so
they select namespaces by a label only this module's namespaces carry, and are removed
before the process stops (``failurePolicy: Fail`` would otherwise refuse every later
write of a cert-manager kind in the session).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from certkeeper.store import AlreadyExists, NotFound, StoreError
from tests.daemons import Program
from tests.kubecluster import ControlPlane, admin_client, free_port

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
WEBHOOK_NAME = "webhook.cert-manager.io"
SELECT_LABEL = "certkeeper.test/webhook"


class Webhook(Program):
    def __init__(self, args: list[str], kubeconfig: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            ["--kubeconfig", str(kubeconfig), "webhook", "--listen-address", "127.0.0.1",
             "--secure-port", str(self.port), *args]
        )
        if not self.wait_for("serving the admission webhook", 120):
            self.stop()
            raise RuntimeError("the webhook did not start:\n" + self.log())

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def post(self, path: str, body: bytes, cafile: Path) -> dict[str, Any]:
        ctx = ssl.create_default_context(cafile=str(cafile))
        req = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]


def review(obj: dict[str, Any], operation: str = "CREATE", old: dict[str, Any] | None = None,
           user: dict[str, Any] | None = None, sub_resource: str = "") -> bytes:
    """An AdmissionReview as the API server sends it."""
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    request: dict[str, Any] = {
        "uid": secrets.token_hex(8),
        "kind": {"group": group, "version": version, "kind": obj.get("kind")},
        "resource": {"group": group, "version": version, "resource": "x"},
        "operation": operation,
        "namespace": (obj.get("metadata") or {}).get("namespace", ""),
        "name": (obj.get("metadata") or {}).get("name", ""),
        "userInfo": user or {"username": "tester", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": ["cert-manager.io", "acme.cert-manager.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["*/*"],
        }
    ]


def configurations(url: str, ca_bundle: bytes | None, selector_value: str, name: str,
                   annotations: dict[str, str] | None = None) -> tuple[dict[str, Any], ...]:
    """The two configurations deploy/ installs, pointed at ``url`` (the Service there)."""
    out = []
    for kind, path in (("ValidatingWebhookConfiguration", "/validate"), ("MutatingWebhookConfiguration", "/mutate")):
        client_config: dict[str, Any] = {"url": url + path}
        if ca_bundle is not None:
            client_config["caBundle"] = base64.b64encode(ca_bundle).decode()
        hook: dict[str, Any] = {
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "clientConfig": client_config,
            "rules": _rules(),
            "namespaceSelector": {"matchLabels": {SELECT_LABEL: selector_value}},
        }
        if kind == "MutatingWebhookConfiguration":
            hook["reinvocationPolicy"] = "Never"
        out.append({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name, "annotations": annotations or {}},
            "webhooks": [hook],
        })
    return tuple(out)


def plural(kind: str) -> str:
    return kind.lower() + "s"


def register(plane: ControlPlane, docs: tuple[dict[str, Any], ...]) -> None:
    client = admin_client(plane)
    try:
        for doc in docs:
            path = f"{ADMISSION}/{plural(doc['kind'])}"
            try:
                client.json("POST", path, doc)
            except AlreadyExists:
                current = client.json("GET", f"{path}/{doc['metadata']['name']}")
                doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
                client.json("PUT", f"{path}/{doc['metadata']['name']}", doc)
    finally:
        client.close()


def unregister(plane: ControlPlane, name: str) -> None:
    client = admin_client(plane)
    try:
        for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
            with contextlib.suppress(NotFound):
                client.request("DELETE", f"{ADMISSION}/{kind}/{name}")
    finally:
        client.close()


def labelled_namespace(plane: ControlPlane, selector_value: str, prefix: str = "wh") -> str:
    name = f"{prefix}-{secrets.token_hex(4)}"
    client = admin_client(plane)
    try:
        client.json("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {SELECT_LABEL: selector_value, "certkeeper.test/isolated": "true"}},
        })
    finally:
        client.close()
    return name


def nameless_certificate(namespace: str) -> dict[str, Any]:
    """Passes the CRD schema, refused by the webhook's rules only (no name at all)."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": f"probe-{secrets.token_hex(3)}", "namespace": namespace},
        "spec": {"secretName": "probe", "issuerRef": {"name": "ca"}},
    }


def wait_enforced(plane: ControlPlane, namespace: str, timeout: float = 120) -> str:
    """Until the API server calls the webhook (its configuration informer is eventually
    consistent): a dry-run create that only the webhook refuses. Returns the message."""
    client = admin_client(plane)
    deadline = time.monotonic() + timeout
    last = ""
    try:
        while time.monotonic() < deadline:
            doc = nameless_certificate(namespace)
            try:
                client.request("POST", f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates",
                               params={"dryRun": "All"}, body=json.dumps(doc).encode())
                last = "admitted"
            except StoreError as e:
                last = str(e)
                if WEBHOOK_NAME in last and "denied the request" in last:
                    return last
            time.sleep(0.2)  # polling the API server's view of the configuration, with a deadline
    finally:
        client.close()
    raise AssertionError(f"the API server does not call the webhook: {last}")


def token_kubeconfig(plane: ControlPlane, path: Path, token: str, user: str) -> Path:
    assert plane.ca is not None
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": plane.server,
            "certificate-authority-data": base64.b64encode(plane.ca.cert_path.read_bytes()).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "c", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def service_account(plane: ControlPlane, namespace: str, name: str, folder: Path) -> tuple[Path, str]:
    """A ServiceAccount and a kubeconfig with a token for it (users with a uid, unlike
    client certificates). Returns (kubeconfig, the account's uid)."""
    client = admin_client(plane)
    try:
        sa = client.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        tr = client.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": 3600}})
    finally:
        client.close()
    user = f"system:serviceaccount:{namespace}:{name}"
    return token_kubeconfig(plane, folder / f"{namespace}-{name}.kubeconfig", tr["status"]["token"], user), sa[
        "metadata"]["uid"]


def grant(plane: ControlPlane, name: str, rules: list[dict[str, Any]], subject: dict[str, Any],
          namespace: str | None = None) -> None:
    """A (Cluster)Role with ``rules`` bound to ``subject``."""
    client = admin_client(plane)
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    scope = f"/namespaces/{namespace}" if namespace else ""
    role_kind = "Role" if namespace else "ClusterRole"
    try:
        client.json("POST", f"{rbac}{scope}/{plural(role_kind)}",
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind,
                     "metadata": {"name": name}, "rules": rules})
        client.json("POST", f"{rbac}{scope}/{plural(role_kind + 'Binding')}",
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind + "Binding",
                     "metadata": {"name": name},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
                     "subjects": [subject]})
    finally:
        client.close()
