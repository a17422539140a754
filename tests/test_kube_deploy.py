"""deploy/ and the CRDs against the real API server of the test control plane.

No image can be built or pulled here, so the Pod never runs; what can be checked is what
the API server thinks of every object: created with a server-side dry run
(``dryRun=All``, strict field validation), which runs the whole admission chain (schema,
RBAC escalation checks, Pod Security) without storing anything. The documentation's valid
examples go through the installed CRDs the same way, and ``kubectl get``'s columns are read
back from the server's Table output.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from certkeeper.api.crds import KINDS
from certkeeper.store.base import StoreError
from tests.kubecluster import ControlPlane, admin_client

from .corpus_index import CORPUS, VALID, as_json, documents
from .test_crds import COMMITTED, SCHEMA_INVALID
from .test_deploy import DOCS

pytest_plugins = ["tests.kubecluster"]

DEPLOY_NAMESPACE = "cert-manager"

#: REST collection of each kind deploy/ holds: (path prefix, plural, namespaced)
BUILTIN = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Service": ("/api/v1", "services", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ValidatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False),
    "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False),
}
CERT_MANAGER = {cls.KIND: (f"/apis/{cls.API_VERSION}", cls.PLURAL, cls.NAMESPACED) for cls in KINDS}


def collection(doc: dict[str, Any]) -> str:
    prefix, plural, namespaced = {**BUILTIN, **CERT_MANAGER}[doc["kind"]]
    if namespaced:
        return f"{prefix}/namespaces/{doc['metadata']['namespace']}/{plural}"
    return f"{prefix}/{plural}"


@pytest.fixture
def client(kube_cluster: ControlPlane) -> Iterator[Any]:
    c = admin_client(kube_cluster)
    yield c
    c.close()


def dry_run_create(client: Any, doc: dict[str, Any]) -> requests.Response:
    """POST with ``dryRun=All`` and kubectl's strict field validation; raises the store's
    errors (Invalid with the causes, StoreError for a strict decoding error)."""
    return client.request(  # type: ignore[no-any-return]
        "POST",
        collection(doc),
        params={"dryRun": "All", "fieldValidation": "Strict"},
        body=json.dumps(doc).encode(),
    )


def into(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """deploy/'s object moved from ``cert-manager`` to the test's namespace (the cluster is
    shared by the session; kube-system stays kube-system)."""
    doc = copy.deepcopy(doc)
    if doc["metadata"].get("namespace") == DEPLOY_NAMESPACE:
        doc["metadata"]["namespace"] = namespace
    for subject in doc.get("subjects", []):
        if subject.get("namespace") == DEPLOY_NAMESPACE:
            subject["namespace"] = namespace
    return doc


def _warnings(resp: requests.Response) -> str:
    return resp.headers.get("Warning", "")


def _label_restricted(client: Any, namespace: str) -> None:
    """What deploy/00-namespace.yaml asks of its namespace: enforce the restricted level."""
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    client.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        body=json.dumps({"metadata": {"labels": labels}}).encode(),
        content_type="application/merge-patch+json",
    )


def test_every_object_of_deploy_is_admitted(client: Any, kube_namespace: str) -> None:
    _label_restricted(client, kube_namespace)
    admitted = []
    for doc in DOCS:
        resp = dry_run_create(client, into(doc, kube_namespace))
        assert resp.status_code == 201, (doc["kind"], resp.text)
        stored = resp.json()
        assert (stored["kind"], stored["metadata"]["name"]) == (doc["kind"], doc["metadata"]["name"])
        # no deprecation, unknown-field or Pod Security warning
        assert _warnings(resp) == "", (doc["kind"], _warnings(resp))
        admitted.append(doc["kind"])
    assert sorted(set(admitted)) == sorted(BUILTIN)


def test_pod_security_would_warn_about_a_weaker_deployment(client: Any, kube_namespace: str) -> None:
    """The check above can fail: the same Deployment without its security context is
    reported against the restricted level."""
    _label_restricted(client, kube_namespace)
    (deployment,) = [d for d in DOCS if d["kind"] == "Deployment" and d["metadata"]["name"] == "certkeeper"]
    weak = into(deployment, kube_namespace)
    del weak["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    resp = dry_run_create(client, weak)
    assert resp.status_code == 201
    assert "violate PodSecurity" in _warnings(resp)
    assert "allowPrivilegeEscalation" in _warnings(resp)


def test_rbac_refuses_a_typo_in_a_rule(client: Any) -> None:
    """Dry runs are validated, not waved through: a rule without verbs is refused."""
    role = copy.deepcopy(next(d for d in DOCS if d["kind"] == "ClusterRole"))
    role["rules"][0]["verbs"] = []
    with pytest.raises(StoreError, match="verbs"):
        dry_run_create(client, role)


# ------------------------------------------------------------------------ the installed CRDs


def test_crds_are_established_with_cert_managers_names(client: Any) -> None:
    for kind, crd in COMMITTED.items():
        live = client.json("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}")
        conditions = {c["type"]: c["status"] for c in live["status"]["conditions"]}
        assert conditions["Established"] == "True", kind
        assert conditions.get("NonStructuralSchema", "False") != "True", kind
        assert live["status"]["acceptedNames"]["kind"] == kind
    discovery = {
        r["name"]: r
        for group in ("cert-manager.io", "acme.cert-manager.io")
        for r in client.json("GET", f"/apis/{group}/v1")["resources"]
    }
    assert discovery["certificates"]["shortNames"] == ["cert", "certs"]
    assert discovery["certificaterequests"]["shortNames"] == ["cr", "crs"]
    assert discovery["clusterissuers"]["shortNames"] == ["ciss"]
    assert discovery["certificates"]["categories"] == ["cert-manager"]
    assert discovery["orders"]["categories"] == ["cert-manager", "cert-manager-acme"]
    assert "certificates/status" in discovery


def _server_set_fields_removed(doc: dict[str, Any]) -> dict[str, Any]:
    """A captured object (OUTPUT) as one would re-apply it."""
    doc = copy.deepcopy(doc)
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink"):
        doc["metadata"].pop(field, None)
    doc.pop("status", None)
    return doc


@pytest.mark.parametrize("name", VALID, ids=VALID)
def test_valid_example_is_accepted_by_the_api_server(client: Any, kube_namespace: str, name: str) -> None:
    docs = [d for d in documents(CORPUS / name) if d.get("kind") in CERT_MANAGER]
    assert docs
    for doc in docs:
        doc = _server_set_fields_removed(as_json(doc))
        if CERT_MANAGER[doc["kind"]][2]:
            doc["metadata"]["namespace"] = kube_namespace
        resp = dry_run_create(client, doc)
        assert resp.status_code == 201, (doc["kind"], resp.text)
        assert _warnings(resp) == "", (doc["kind"], _warnings(resp))


#: the field each schema-invalid example is refused for
REFUSED_AT = {
    "configuration-acme--4.yaml": "spec.acme.server",
    "configuration-acme--11.yaml": "spec.acme.privateKeySecretRef",
    "configuration-acme-http01--6.yaml": "spec.secretName",
    "configuration-vault--3.yaml": "spec.vault.caBundle",
    "releases-release-notes-release-notes-1.9--1.yaml": "spec.issuerRef",
    "usage-certificate--3.yaml": "spec.nameConstraints.permitted.emailAddress",
}


@pytest.mark.parametrize("name", sorted(REFUSED_AT))
def test_schema_invalid_example_is_refused_at_its_field(client: Any, kube_namespace: str, name: str) -> None:
    assert sorted(REFUSED_AT) == sorted(SCHEMA_INVALID)
    refused = []
    for doc in [d for d in documents(CORPUS / name) if d.get("kind") in CERT_MANAGER]:
        doc = as_json(doc)
        if CERT_MANAGER[doc["kind"]][2]:
            doc["metadata"]["namespace"] = kube_namespace
        try:
            dry_run_create(client, doc)
        except StoreError as e:
            refused.append(" ".join([str(e), *getattr(e, "errors", [])]))
    assert any(REFUSED_AT[name] in text for text in refused), refused


def _issuer(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": "x", "namespace": namespace},
        "spec": spec,
    }


def test_the_venafi_rule_and_gateway_validations_run_on_the_server(client: Any, kube_namespace: str) -> None:
    token = {"apiTokenSecretRef": {"name": "venafi", "key": "token"}}
    tpp = {"url": "https://tpp.example.com/vedsdk", "credentialsRef": {"name": "tpp"}}
    assert dry_run_create(client, _issuer(kube_namespace, {"venafi": {"zone": "z", "cloud": token}})).status_code == 201
    with pytest.raises(StoreError, match="exactly one of tpp, cloud, or ngts must be configured"):
        dry_run_create(client, _issuer(kube_namespace, {"venafi": {"zone": "z", "cloud": token, "tpp": tpp}}))
    with pytest.raises(StoreError, match="exactly one of tpp, cloud, or ngts must be configured"):
        dry_run_create(client, _issuer(kube_namespace, {"venafi": {"zone": "z"}}))
    solver = {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw", "port": 0}]}}}
    acme = {"server": "https://acme.example.com/directory", "privateKeySecretRef": {"name": "k"}, "solvers": [solver]}
    with pytest.raises(StoreError, match="parentRefs\\[0\\].port"):
        dry_run_create(client, _issuer(kube_namespace, {"acme": acme}))
    solver["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["port"] = 8080
    assert dry_run_create(client, _issuer(kube_namespace, {"acme": acme})).status_code == 201


#: kubectl's columns for each kind (Name first; priority 1 only with -o wide)
TABLE_COLUMNS = {
    "certificates": [("Ready", 0), ("Secret", 0), ("Issuer", 1), ("Status", 1), ("Age", 0)],
    "certificaterequests": [
        ("Approved", 0), ("Denied", 0), ("Ready", 0), ("Issuer", 0), ("Requester", 0), ("Status", 1), ("Age", 0),
    ],
    "issuers": [("Ready", 0), ("Status", 1), ("Age", 0)],
    "clusterissuers": [("Ready", 0), ("Status", 1), ("Age", 0)],
    "orders": [("State", 0), ("Issuer", 1), ("Reason", 1), ("Age", 0)],
    "challenges": [("State", 0), ("Domain", 0), ("Reason", 1), ("Age", 0)],
}


@pytest.mark.parametrize("plural", sorted(TABLE_COLUMNS))
def test_every_kind_has_kubectls_columns_on_the_server(client: Any, kube_namespace: str, plural: str) -> None:
    (cls,) = [k for k in KINDS if plural == k.PLURAL]
    scope = f"/namespaces/{kube_namespace}" if cls.NAMESPACED else ""
    path = f"/apis/{cls.API_VERSION}{scope}/{plural}"
    table = client.request("GET", path, accept="application/json;as=Table;v=v1;g=meta.k8s.io").json()
    assert table["kind"] == "Table"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), *TABLE_COLUMNS[plural]]


def test_kubectl_get_columns_come_from_the_printer_columns(client: Any, kube_namespace: str) -> None:
    """What ``kubectl get certificates`` (and ``-o wide``) prints, read from the server."""
    base = f"/apis/cert-manager.io/v1/namespaces/{kube_namespace}/certificates"
    cert = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": kube_namespace},
        "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"}},
    }
    created = client.json("POST", base, cert)
    created["status"] = {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date"}]
    }
    client.json("PUT", f"{base}/web/status", created)
    table = client.request("GET", base, accept="application/json;as=Table;v=v1;g=meta.k8s.io").json()
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), ("Ready", 0), ("Secret", 0), ("Issuer", 1), ("Status", 1), ("Age", 0)]
    (row,) = table["rows"]
    assert row["cells"][:5] == ["web", "True", "web-tls", "ca", "Certificate is up to date"]
