"""deploy/'s webhook and CA injector, run as near to their Pods as this machine allows.

No image can run here, so this starts what the containers would: ``certkeeper webhook``
and ``certkeeper cainjector`` with their Deployments' own arguments, each authenticated
as its ServiceAccount of deploy/ (a TokenRequest token, as the kubelet would project it)
and authorised only by deploy/'s real RBAC objects. With deploy/'s configurations (the
Service reference replaced by the loopback URL: no kube-proxy here), the API server must
trust the webhook through the injected CA, and an approval must be decided by a
SubjectAccessReview the webhook's identity is allowed to make.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certkeeper.cli.cainjector import LEASE_NAME
from certkeeper.store.base import NotFound, StoreError
from certkeeper.store.kube import KubeClient, load_config
from tests.kubecluster import ControlPlane, admin_client, free_port

from .admission import (
    SELECT_LABEL,
    Program,
    Webhook,
    grant,
    labelled_namespace,
    register,
    token_kubeconfig,
    unregister,
    wait_enforced,
)
from .daemons import NO_PORTS
from .test_deploy import DOCS, aggregated, component
from .test_kube_deploy import collection, into
from .test_webhook_kube import CR_RULES, _crs, _request, _set_condition

pytest_plugins = ["tests.kubecluster"]

INSTALLED = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{LEASE_NAME}"


@pytest.fixture
def identities(kube_cluster: ControlPlane, tmp_path: Path) -> Iterator[tuple[str, dict[str, Path]]]:
    """deploy/'s identities and RBAC (controller, webhook, injector), for real, in a
    namespace of the test labelled as deploy/'s own; yields (namespace, {component: kubeconfig})."""
    namespace = labelled_namespace(kube_cluster, "none", prefix="ckdeploy")
    client = admin_client(kube_cluster)
    created: list[str] = []
    with contextlib.suppress(NotFound):
        client.request("DELETE", LEASE)
    try:
        client.request("PATCH", f"/api/v1/namespaces/{namespace}",
                       body=b'{"metadata":{"labels":{"cert-manager.io/disable-validation":"true"}}}',
                       content_type="application/merge-patch+json")
        for doc in DOCS:
            if doc["kind"] not in INSTALLED or aggregated(doc):
                continue
            obj = into(doc, namespace)
            client.json("POST", collection(obj), obj)
            created.append(f"{collection(obj)}/{obj['metadata']['name']}")
        configs = {}
        for of in ("controller", "webhook", "cainjector"):
            sa = "certkeeper" if of == "controller" else f"certkeeper-{of}"
            token = client.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
            configs[of] = token_kubeconfig(kube_cluster, tmp_path / f"{of}.kubeconfig", token["status"]["token"],
                                           f"system:serviceaccount:{namespace}:{sa}")
        yield namespace, configs
    finally:
        for path in reversed(created):
            if "/namespaces/" not in path or "/kube-system/" in path:
                client.request("DELETE", path)
        with contextlib.suppress(NotFound):
            client.request("DELETE", LEASE)
        client.close()


def _args(of: str, namespace: str) -> list[str]:
    (deployment,) = [d for d in DOCS if d["kind"] == "Deployment" and component(d) == of]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return [a.replace("$(POD_NAMESPACE)", namespace) for a in container["args"]]


def _configurations(namespace: str, url: str, selector: str, name: str) -> tuple[dict[str, Any], ...]:
    """deploy/'s two configurations, pointed at the loopback URL and limited to namespaces
    of this test (the cluster is shared by the session)."""
    out = []
    for doc in DOCS:
        if doc["kind"] not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            continue
        doc = copy.deepcopy(doc)
        doc["metadata"]["name"] = name
        ann = doc["metadata"]["annotations"]
        ann["cert-manager.io/inject-ca-from-secret"] = ann["cert-manager.io/inject-ca-from-secret"].replace(
            "cert-manager/", f"{namespace}/")
        for hook in doc["webhooks"]:
            hook["clientConfig"] = {"url": url + hook["clientConfig"]["service"]["path"]}
            hook["namespaceSelector"]["matchLabels"] = {SELECT_LABEL: selector}
        out.append(doc)
    return tuple(out)


def _controller_issues_through_the_webhook(plane: ControlPlane, kubeconfig: Path, namespace: str, probe: str) -> None:
    """The controller, as deploy/'s ServiceAccount, issues in a namespace the webhook
    guards: its requests carry its identity, and its approvals pass the webhook's
    SubjectAccessReview (deploy/'s approve role on the signers)."""
    import yaml

    from certkeeper.api import registry
    from certkeeper.store.kube import open_kube_store

    from .harness import CA_SETUP, leaf_certificate

    controller = Program(["--kubeconfig", str(kubeconfig), "run", *NO_PORTS, "-n", probe, "--leader-elect=false",
                          "--cluster-resource-namespace", namespace, "--kube-api-qps", "0"])
    store = open_kube_store(str(plane.kubeconfig), qps=0)
    admin = admin_client(plane)
    try:
        for doc in yaml.safe_load_all(CA_SETUP + "---\n" + leaf_certificate("web")):
            cls = registry.by_kind(doc["kind"])
            assert cls is not None
            obj = cls.from_dict(doc)
            obj.metadata.namespace = probe
            store.create(obj)
        path = f"/apis/cert-manager.io/v1/namespaces/{probe}/certificates/web"
        deadline = time.monotonic() + 120
        while not any(c["type"] == "Ready" and c["status"] == "True"
                      for c in (admin.json("GET", path).get("status") or {}).get("conditions") or []):
            assert controller.proc.poll() is None, controller.log()
            assert time.monotonic() < deadline, controller.log()[-3000:]
            time.sleep(0.2)  # the controller works on its own; ask the server again
        requests = [cr for cr in admin.json("GET", f"/apis/cert-manager.io/v1/namespaces/{probe}/certificaterequests")[
            "items"] if cr["metadata"].get("ownerReferences")]  # the controller's, not the test user's
        assert len(requests) == 2  # root-ca's and web's
        for cr in requests:
            assert cr["spec"]["username"] == f"system:serviceaccount:{namespace}:certkeeper"
            assert cr["spec"]["uid"]
            assert [c["type"] for c in cr["status"]["conditions"] if c["type"] in ("Approved", "Denied")] == ["Approved"]
        assert "denied the request" not in controller.log()
    finally:
        store.close()
        admin.close()
        controller.stop()


@pytest.mark.timeout(400)
def test_the_deployments_processes_work_with_deploys_rbac(
    kube_cluster: ControlPlane, identities: tuple[str, dict[str, Path]]
) -> None:
    namespace, configs = identities
    port = free_port()
    args = [a for a in _args("webhook", namespace) if not a.startswith("--secure-port")]
    # the names the Service gives it, plus the loopback address the API server dials here
    args = [f"{a},127.0.0.1" if a.startswith("--dynamic-serving-dns-names=") else a for a in args]
    webhook = Webhook(args, configs["webhook"], port=port)
    injector = Program(["--kubeconfig", str(configs["cainjector"]), "cainjector", *_args("cainjector", namespace),
                        "--leader-election-retry-period", "1s"])
    selector = secrets.token_hex(4)
    name = f"certkeeper-webhook-deploy-{selector}"
    try:
        assert injector.wait_for(f"acquired lease {LEASE_NAME}", 60), injector.log()
        probe = labelled_namespace(kube_cluster, selector, prefix="probe")
        register(kube_cluster, _configurations(namespace, webhook.url, selector, name))
        wait_enforced(kube_cluster, probe)
        # an approval is decided by a SubjectAccessReview made with the webhook's identity
        user = f"nobody-{selector}"
        grant(kube_cluster, user, CR_RULES, {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"})
        client = KubeClient(load_config(str(kube_cluster.client_kubeconfig(user))), qps=0)
        try:
            client.json("POST", _crs(probe), _request(probe, "r"))
            with pytest.raises(StoreError) as e:
                _set_condition(client, probe, "r", "Approved")
        finally:
            client.close()
        assert f'user "{user}" does not have permissions to set approved/denied conditions' in str(e.value)
        assert "cannot check the permission" not in webhook.log()
        _controller_issues_through_the_webhook(kube_cluster, configs["controller"], namespace, probe)
    finally:
        unregister(kube_cluster, name)
        webhook.stop()
        assert injector.stop() == 0, injector.log()
