"""deploy/'s webhook and CA injector, checked against the commands they run: every flag
exists, the probes hit what the webhook serves, the names the API server calls it by are
in its certificate, the configurations skip the webhook's own namespace and get their CA
from the Secret the webhook keeps, and the RBAC is limited to that Secret and that Lease."""

from __future__ import annotations

from typing import Any

from certkeeper.cli.cainjector import LEASE_NAME, cainjector_cmd
from certkeeper.cli.webhook import webhook_cmd
from certkeeper.webhook.dynamic import ALLOW_DIRECT_INJECTION

from .test_deploy import DOCS, _arg, _container, _granted, one


def _flags(cmd: Any) -> set[str]:
    return {opt for p in cmd.params for opt in p.opts}


def test_every_argument_is_a_flag_of_its_command() -> None:
    for of, cmd in (("webhook", webhook_cmd), ("cainjector", cainjector_cmd)):
        args = _container(of)["args"]
        assert args
        for arg in args:
            assert arg.split("=", 1)[0] in _flags(cmd), (of, arg)


def test_the_webhook_serves_where_its_probes_and_service_look() -> None:
    c = _container("webhook")
    port = int(_arg("--secure-port", "webhook"))
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"https": port}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "https", "scheme": "HTTPS"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    service = one("Service", "webhook")
    assert service["spec"]["selector"] == one("Deployment", "webhook")["spec"]["selector"]["matchLabels"]
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(443, "https")]


def test_the_serving_certificate_names_the_service() -> None:
    service = one("Service", "webhook")["metadata"]
    names = _arg("--dynamic-serving-dns-names", "webhook").replace("$(POD_NAMESPACE)", service["namespace"]).split(",")
    assert f"{service['name']}.{service['namespace']}.svc" in names  # what the API server dials
    assert _arg("--dynamic-serving-ca-secret-namespace", "webhook") == "$(POD_NAMESPACE)"


def test_the_configurations_call_the_service_and_skip_the_webhooks_namespace() -> None:
    service = one("Service", "webhook")["metadata"]
    namespace = one("Namespace")
    ca_secret = _arg("--dynamic-serving-ca-secret-name", "webhook")
    for kind, path in (("ValidatingWebhookConfiguration", "/validate"), ("MutatingWebhookConfiguration", "/mutate")):
        doc = one(kind, "webhook")
        assert doc["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from-secret": f"{service['namespace']}/{ca_secret}"}
        (hook,) = doc["webhooks"]
        assert hook["clientConfig"] == {"service": {"name": service["name"], "namespace": service["namespace"],
                                                    "path": path}}
        assert "caBundle" not in hook["clientConfig"]  # the injector's
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"
        (rule,) = hook["rules"]
        assert rule["apiGroups"] == ["cert-manager.io", "acme.cert-manager.io"]
        assert rule["resources"] == ["*/*"]  # status subresources too: approvals
        assert sorted(rule["operations"]) == ["CREATE", "UPDATE"]
        (expr,) = hook["namespaceSelector"]["matchExpressions"]
        assert (expr["operator"], expr["values"]) == ("NotIn", ["true"])
        assert namespace["metadata"]["labels"][expr["key"]] == "true"  # its own namespace is skipped


def test_the_webhooks_rbac_is_its_secret_and_subjectaccessreviews() -> None:
    ca_secret = _arg("--dynamic-serving-ca-secret-name", "webhook")
    role = one("Role", "webhook")
    named, unnamed = role["rules"]
    assert named["resourceNames"] == [ca_secret]
    assert sorted(named["verbs"]) == ["get", "list", "update", "watch"]
    assert (unnamed["resources"], unnamed["verbs"]) == (["secrets"], ["create"])
    cluster = [r for d in DOCS if d["kind"] == "ClusterRole" and d["metadata"]["labels"].get(
        "app.kubernetes.io/component") == "webhook" for r in d["rules"]]
    assert _granted(cluster) == {("authorization.k8s.io", "subjectaccessreviews", "create")}
    assert ALLOW_DIRECT_INJECTION == "cert-manager.io/allow-direct-injection"


def test_the_injectors_rbac_and_lease() -> None:
    cluster = [r for d in DOCS if d["kind"] == "ClusterRole" and d["metadata"]["labels"].get(
        "app.kubernetes.io/component") == "cainjector" for r in d["rules"]]
    granted = _granted(cluster)
    for group, resource in (("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
                            ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
                            ("apiextensions.k8s.io", "customresourcedefinitions"),
                            ("apiregistration.k8s.io", "apiservices")):
        assert {(group, resource, v) for v in ("get", "list", "watch", "update")} <= granted
    assert {("", "secrets", "watch"), ("cert-manager.io", "certificates", "watch")} <= granted
    assert not any(v in ("create", "delete", "patch") for _, r, v in granted if r == "secrets")
    role = one("Role", "cainjector")
    assert role["metadata"]["namespace"] == _arg("--leader-election-namespace", "cainjector")
    named, _ = role["rules"]
    assert named["resourceNames"] == [LEASE_NAME]
