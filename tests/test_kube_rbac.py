"""The controllers issue as a user bound only to deploy/'s roles, on the real API server.

The user has a client certificate of its own and exactly the rules of deploy/'s
ClusterRoles and leader-election Role (bound to that user instead of the ServiceAccount,
which is the same set of permissions); the setup objects are created by the admin, as a
person would. A permission taken away shows as the API server's own refusal, which names
the verb and the resource.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from certkeeper.api import registry
from certkeeper.api.certificate import CertificateRequest
from certkeeper.daemon import LEASE_NAME
from certkeeper.store.base import Forbidden
from certkeeper.store.kube import KubeStore, open_kube_store
from tests.kubecluster import ControlPlane, admin_client, wipe_namespaces

from .harness import CA_SETUP, Harness, leaf_certificate
from .test_deploy import DOCS, aggregated, component

pytest_plugins = ["tests.kubecluster"]

RBAC = "/apis/rbac.authorization.k8s.io/v1"
Rules = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def bind_deploy_roles(
    plane: ControlPlane, user: str, edit: Rules | None = None, namespace: str | None = None
) -> Callable[[], None]:
    """deploy/'s roles, renamed for this user, bound to it; returns the clean-up. With
    ``namespace``, every rule holds in that namespace only: the ClusterRoles are bound by
    RoleBindings there and the leader-election Role is made there (``run -n``'s set-up)."""
    client = admin_client(plane)
    suffix = user.rsplit("-", 1)[-1]
    created: list[str] = []
    subject = [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]
    for doc in DOCS:
        # the controller's rules only (the webhook and the cainjector have identities of their own)
        if doc["kind"] not in ("ClusterRole", "Role") or aggregated(doc) or component(doc) != "controller":
            continue
        role = copy.deepcopy(doc)
        role["metadata"]["name"] = f"{doc['metadata']['name']}-{suffix}"
        if edit is not None:
            role["rules"] = edit(role["rules"])
        ns = role["metadata"].get("namespace")
        if ns and namespace:
            ns = role["metadata"]["namespace"] = namespace
        plural = "roles" if ns else "clusterroles"
        base = f"{RBAC}/namespaces/{ns}" if ns else RBAC
        client.json("POST", f"{base}/{plural}", role)
        created.append(f"{base}/{plural}/{role['metadata']['name']}")
        bns = ns or namespace
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding" if bns else "ClusterRoleBinding",
            "metadata": {"name": role["metadata"]["name"], **({"namespace": bns} if bns else {})},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": role["metadata"]["name"]},
            "subjects": subject,
        }
        bbase = f"{RBAC}/namespaces/{bns}" if bns else RBAC
        bplural = "rolebindings" if bns else "clusterrolebindings"
        client.json("POST", f"{bbase}/{bplural}", binding)
        created.append(f"{bbase}/{bplural}/{role['metadata']['name']}")

    def clean_up() -> None:
        try:
            for path in created:
                client.request("DELETE", path)
        finally:
            client.close()

    return clean_up


def admin_create(plane: ControlPlane, text: str) -> list[Any]:
    """Create the objects as the admin, the namespaced ones in ``default``."""
    store = open_kube_store(str(plane.kubeconfig), qps=0)
    created = []
    try:
        for doc in yaml.safe_load_all(text):
            cls = registry.by_kind(doc["kind"])
            assert cls is not None
            obj = cls.from_dict(doc)
            obj.metadata.namespace = "default" if obj.NAMESPACED else None
            created.append(store.create(obj))
    finally:
        store.close()
    return created


def admin_apply(plane: ControlPlane, h: Harness, text: str) -> None:
    """Create the objects as the admin, then wait until the controllers' watches have
    them (their own writes they wait for themselves; these come from outside)."""
    created = admin_create(plane, text)
    deadline = time.monotonic() + 30
    for obj in created:
        while h.store.try_get(type(obj), obj.namespace, obj.name) is None:
            assert time.monotonic() < deadline, f"{obj.KIND} {obj.name} never reached the controllers' cache"
            threading.Event().wait(0.05)  # the watch delivers on its own thread


@pytest.fixture
def limited(kube_cluster: ControlPlane, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A harness whose store acts as the limited user; ``request.param`` may edit the rules."""
    user = f"certkeeper-rbac-{secrets.token_hex(3)}"
    clean_up = bind_deploy_roles(kube_cluster, user, getattr(request, "param", None))
    wipe_namespaces(kube_cluster)
    # the harness opens its store with the ``kubeconfig`` of the cluster it is given (its
    # apply, which would also create namespaces, is not used here); the wipe above is the
    # admin's, since the controller may not delete Issuers
    as_user = SimpleNamespace(kubeconfig=kube_cluster.client_kubeconfig(user))
    h = Harness(tmp_path, as_user, wipe=False)
    try:
        yield h
    finally:
        h.close()
        clean_up()


def test_ca_issuance_as_the_controllers_user(limited: Harness, kube_cluster: ControlPlane) -> None:
    h = limited
    admin_apply(kube_cluster, h, CA_SETUP)
    h.settle()
    assert h.ready("root-ca") == ("True", "Ready", "Certificate is up to date and has not expired")
    admin_apply(kube_cluster, h, leaf_certificate("web"))
    h.settle()
    assert h.ready("web")[0] == "True"
    h.assert_pair_matches("web")
    assert h.leaf("web").issuer == h.leaf("root-ca").subject


def test_the_lease_is_the_only_one_it_may_touch(limited: Harness) -> None:
    store = limited.store
    assert isinstance(store, KubeStore)
    assert store.acquire_lease(LEASE_NAME, "rbac-test", 60)
    try:
        with pytest.raises(Forbidden, match='cannot get resource "leases"'):
            store.acquire_lease("another-controller", "rbac-test", 60)
    finally:
        store.release_lease(LEASE_NAME, "rbac-test")


def _without_creating_requests(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        if rule["resources"] == ["certificaterequests"] and "create" in rule["verbs"]:
            rule = {**rule, "verbs": [v for v in rule["verbs"] if v != "create"]}
        out.append(rule)
    return out


@pytest.mark.parametrize("limited", [_without_creating_requests], indirect=True)
def test_a_missing_permission_names_the_verb_and_resource(
    limited: Harness, kube_cluster: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    h = limited
    with caplog.at_level(logging.ERROR, logger="certkeeper.runtime.manager"):
        admin_apply(kube_cluster, h, CA_SETUP)
        h.settle()
    assert h.ready("root-ca")[0] == "False"
    assert h.store.list(CertificateRequest, "default") == []
    assert 'cannot create resource "certificaterequests" in API group "cert-manager.io"' in caplog.text


CLUSTER_ISSUER = """
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: cluster-selfsigned}
spec: {selfSigned: {}}
"""
CLUSTER_ISSUED = """
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: via-cluster-issuer}
spec:
  secretName: via-cluster-issuer
  dnsNames: [via-cluster-issuer.example.test]
  issuerRef: {name: cluster-selfsigned, kind: ClusterIssuer}
"""


def test_one_namespace_needs_only_namespaced_permissions(
    kube_cluster: ControlPlane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """cert-manager's ``--namespace``: the controller acts in that namespace with rules that
    hold there only (RoleBindings), and ClusterIssuers are disabled: none is watched (the
    user may not list them), none is made Ready, and a Certificate naming one is not issued."""
    user = f"certkeeper-ns-{secrets.token_hex(3)}"
    clean_up = bind_deploy_roles(kube_cluster, user, namespace="default")
    wipe_namespaces(kube_cluster)
    scoped = SimpleNamespace(kubeconfig=kube_cluster.client_kubeconfig(user), namespace="default")
    admin = admin_client(kube_cluster)
    try:
        with caplog.at_level(logging.WARNING):
            h = Harness(tmp_path, scoped, wipe=False)
            try:
                admin_apply(kube_cluster, h, CA_SETUP + "---\n" + leaf_certificate("web"))
                # not waited for: the scoped controllers never see the ClusterIssuer
                admin_create(kube_cluster, CLUSTER_ISSUER)
                admin_apply(kube_cluster, h, CLUSTER_ISSUED)
                h.settle()
                assert h.ready("web")[0] == "True"
                h.assert_pair_matches("web")
                assert h.leaf("web").issuer == h.leaf("root-ca").subject
                # the ClusterIssuer was neither seen nor used
                issuer = admin.json("GET", "/apis/cert-manager.io/v1/clusterissuers/cluster-selfsigned")
                assert not (issuer.get("status") or {}).get("conditions")
                assert h.ready("via-cluster-issuer") != ("True", "Ready", "Certificate is up to date and has not expired")
                # its request waits as for any issuer that is not there (cert-manager's Pending)
                (waiting,) = [cr for cr in h.store.list(CertificateRequest, "default")
                              if cr.name.startswith("via-cluster-issuer")]
                assert h.condition(waiting, "Ready") == (
                    "False", "Pending",
                    'Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "cluster-selfsigned" not found',
                )
                signed = [
                    cr for cr in h.store.list(CertificateRequest, "default")
                    if (cr.spec.issuer_ref.kind if cr.spec.issuer_ref else None) == "ClusterIssuer"
                    and cr.status is not None and cr.status.certificate
                ]
                assert signed == []
            finally:
                h.close()
        assert "Forbidden" not in caplog.text and "cannot list resource" not in caplog.text
    finally:
        admin.close()
        clean_up()
