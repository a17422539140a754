"""deploy/: the manifests a cluster operator applies, checked against certkeeper itself.

The Deployment may only pass flags that ``certkeeper run`` has, its probes and ports must be
the ones the daemon serves, the RBAC must grant every write the controllers make and no
wildcard, and the image must run what the Deployment expects. The API server's own
verdict on these files is in tests/test_kube_deploy.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from certkeeper.cli.run import run_cmd
from certkeeper.daemon import LEASE_NAME

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


DOCS = manifests()


def component(doc: dict[str, Any]) -> str:
    """controller, webhook or cainjector (the Namespace and people's roles have none)."""
    return str(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def one(kind: str, of: str = "controller") -> dict[str, Any]:
    """The one object of ``kind`` that belongs to component ``of`` (or to none)."""
    (doc,) = [d for d in DOCS if d["kind"] == kind and component(d) in (of, "")]
    return doc


def test_the_files_hold_what_an_install_needs_and_apply_in_order() -> None:
    kinds = sorted({d["kind"] for d in DOCS})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ValidatingWebhookConfiguration",
    ]
    # kubectl apply -f deploy/ goes through the files in name order: the Namespace first
    first = yaml.safe_load(sorted(DEPLOY.glob("*.yaml"))[0].read_text())
    assert first["kind"] == "Namespace"
    namespace = first["metadata"]["name"]
    for d in DOCS:
        if d["kind"] in ("ServiceAccount", "Deployment", "Service"):
            assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]


def _container(of: str = "controller") -> dict[str, Any]:
    (container,) = one("Deployment", of)["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _arg(name: str, of: str = "controller") -> str:
    (value,) = [a.split("=", 1)[1] for a in _container(of)["args"] if a.startswith(f"{name}=")]
    return value


def test_every_argument_is_a_flag_of_certkeeper_run() -> None:
    flags = {opt for p in run_cmd.params for opt in p.opts}
    args = _container()["args"]
    assert args
    for arg in args:
        assert arg.split("=", 1)[0] in flags, arg


def test_probes_and_ports_are_what_the_daemon_serves() -> None:
    c = _container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http-metrics": 9402, "http-healthz": 9403}
    assert _arg("--metrics-listen-address") == "0.0.0.0:9402"
    assert _arg("--healthz-listen-address") == "0.0.0.0:9403"
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http-healthz"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-healthz"}
    # ClusterIssuer Secrets live where the controller runs, as with cert-manager's chart
    assert _arg("--cluster-resource-namespace") == "$(POD_NAMESPACE)"
    (env,) = [e for e in c["env"] if e["name"] == "POD_NAMESPACE"]
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    service = one("Service")
    assert service["spec"]["selector"] == one("Deployment")["spec"]["selector"]["matchLabels"]
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(9402, "http-metrics")]


@pytest.mark.parametrize("of", ["controller", "webhook", "cainjector"])
def test_the_pod_is_locked_down(of: str) -> None:
    pod = one("Deployment", of)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == one("ServiceAccount", of)["metadata"]["name"]
    sc = _container(of)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = _container(of)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]
    # the only writable path is a small in-memory /tmp
    (mount,) = _container(of)["volumeMounts"]
    (volume,) = pod["volumes"]
    assert (mount["mountPath"], mount["name"]) == ("/tmp", volume["name"])
    assert volume["emptyDir"]["medium"] == "Memory"


def _granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        if not rule.get("resourceNames")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def aggregated(doc: dict[str, Any]) -> bool:
    """A role for people, folded into Kubernetes' view/edit/admin roles; never bound here."""
    return any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in doc["metadata"]["labels"])


def _cluster_rules(of: str = "controller") -> list[dict[str, Any]]:
    """The rules a component holds."""
    return [r for d in DOCS if d["kind"] == "ClusterRole" and not aggregated(d) and component(d) == of
            for r in d["rules"]]


#: every call the controllers make (store.create/update/update_status/delete and the
#: informers' list/watch), as (API group, resource, verb)
NEEDED = {
    *{
        (g, r, v)
        for g, rs in (
            ("cert-manager.io", ("certificates", "certificaterequests", "issuers", "clusterissuers")),
            ("acme.cert-manager.io", ("orders", "challenges")),
            ("", ("secrets",)),
        )
        for r in rs
        for v in ("get", "list", "watch")
    },
    *{
        (g, f"{r}/status", "update")
        for g, rs in (
            ("cert-manager.io", ("certificates", "certificaterequests", "issuers", "clusterissuers")),
            ("acme.cert-manager.io", ("orders", "challenges")),
        )
        for r in rs
    },
    ("cert-manager.io", "certificaterequests", "create"),
    ("cert-manager.io", "certificaterequests", "delete"),
    ("acme.cert-manager.io", "orders", "create"),
    ("acme.cert-manager.io", "orders", "delete"),
    ("acme.cert-manager.io", "challenges", "create"),
    ("acme.cert-manager.io", "challenges", "delete"),
    ("acme.cert-manager.io", "challenges", "update"),  # its finalizer
    ("", "secrets", "create"),
    ("", "secrets", "update"),
    ("", "secrets", "patch"),
    ("", "secrets", "delete"),
    ("", "events", "create"),
    ("", "events", "patch"),
    ("events.k8s.io", "events", "create"),
    ("cert-manager.io", "certificates/finalizers", "update"),
    # the ingress-shim and gateway-shim keep the Certificates an Ingress or Gateway owns
    ("cert-manager.io", "certificates", "create"),
    ("cert-manager.io", "certificates", "update"),
    ("cert-manager.io", "certificates", "delete"),
    ("networking.k8s.io", "ingresses", "watch"),
    ("gateway.networking.k8s.io", "gateways", "watch"),
}


def test_cluster_roles_grant_every_write_the_controllers_make() -> None:
    missing = NEEDED - _granted(_cluster_rules())
    assert missing == set()


def test_no_wildcards_and_no_privilege_verbs() -> None:
    for rule in [r for d in DOCS if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
    # the controller never writes Issuers or requests themselves, only their status; the
    # Certificates it writes are the shims' (and those only by name in one role)
    granted = _granted(_cluster_rules())
    for resource in ("issuers", "clusterissuers", "certificaterequests"):
        assert ("cert-manager.io", resource, "update") not in granted, resource
        assert ("cert-manager.io", resource, "patch") not in granted, resource
    writers = [
        d["metadata"]["name"] for d in DOCS if d["kind"] == "ClusterRole" and not aggregated(d)
        and ("cert-manager.io", "certificates", "update") in _granted(d["rules"])
    ]
    assert writers == ["certkeeper-controller-ingress-shim"]


def test_bindings_join_defined_roles_to_their_components_service_account() -> None:
    roles = {
        (d["kind"], d["metadata"]["name"]) for d in DOCS if d["kind"] in ("ClusterRole", "Role") and not aggregated(d)
    }
    bindings = [d for d in DOCS if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    bound = set()
    for b in bindings:
        assert (b["roleRef"]["kind"], b["roleRef"]["name"]) in roles
        bound.add((b["roleRef"]["kind"], b["roleRef"]["name"]))
        role = next(d for d in DOCS if (d["kind"], d["metadata"]["name"]) == (b["roleRef"]["kind"], b["roleRef"]["name"]))
        assert component(role) == component(b)
        sa = one("ServiceAccount", component(b))["metadata"]
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}]
    assert bound == roles  # no role left unbound


def test_user_roles_extend_view_edit_and_admin_as_cert_managers_do() -> None:
    user_roles = {d["metadata"]["name"]: d for d in DOCS if d["kind"] == "ClusterRole" and aggregated(d)}
    assert sorted(user_roles) == ["certkeeper-cluster-view", "certkeeper-edit", "certkeeper-view"]
    view, edit = user_roles["certkeeper-view"], user_roles["certkeeper-edit"]
    assert {"aggregate-to-view", "aggregate-to-edit", "aggregate-to-admin"} <= {
        k.rsplit("/", 1)[1] for k in view["metadata"]["labels"]
    }
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    # renew writes the Issuing condition; namespace viewers do not see ClusterIssuers
    assert ("cert-manager.io", "certificates/status", "update") in _granted(edit["rules"])
    assert all("clusterissuers" not in r["resources"] for r in view["rules"] + edit["rules"])


def test_leader_election_is_limited_to_the_daemons_lease() -> None:
    role = one("Role")
    assert role["metadata"]["namespace"] == _arg("--leader-election-namespace") == "kube-system"
    assert one("RoleBinding")["metadata"]["namespace"] == "kube-system"
    named, unnamed = role["rules"]
    assert named["resourceNames"] == [LEASE_NAME]
    assert (named["resources"], sorted(named["verbs"])) == (["leases"], ["get", "patch", "update"])
    assert (unnamed["resources"], unnamed["verbs"], unnamed.get("resourceNames")) == (["leases"], ["create"], None)


def test_containerfile_runs_certkeeper_run_as_the_pods_user() -> None:
    text = (ROOT / "Containerfile").read_text()
    final_stage = text[text.rindex("\nFROM ") :]
    assert re.search(r'^ENTRYPOINT \["certkeeper", "run"\]$', final_stage, re.M)
    (user,) = re.findall(r"^USER (\d+):(\d+)$", final_stage, re.M)
    for of in ("controller", "webhook", "cainjector"):
        pod = one("Deployment", of)["spec"]["template"]["spec"]["securityContext"]
        assert (int(user[0]), int(user[1])) == (pod["runAsUser"], pod["runAsGroup"])
    assert "command" not in _container()  # the entrypoint runs the controller; the others say what they run
    assert _container("webhook")["command"] == ["certkeeper", "webhook"]
    assert _container("cainjector")["command"] == ["certkeeper", "cainjector"]
    assert re.search(r"^EXPOSE 9402 9403$", final_stage, re.M)
    assert "pip install --no-cache-dir '.[dns]'" in text  # with the Route 53 and lexicon SDKs
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)


@pytest.mark.parametrize("doc", DOCS, ids=[f"{d['kind']}/{d['metadata']['name']}" for d in DOCS])
def test_every_object_is_labelled_as_part_of_certkeeper(doc: dict[str, Any]) -> None:
    assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "certkeeper"
