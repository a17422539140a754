"""The CRDs in deploy/crds: generated from the models, structural, with cert-manager's
names, categories and printer columns, and accepting the documentation's valid examples.

The expectations about cert-manager (short names, columns, required members) are written
out here from cert-manager's own CRDs rather than read back from the generator, so a change
in the generator that drifts from cert-manager fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from certkeeper.api import crds
from certkeeper.api.validation import acmeissuer as v_acme
from certkeeper.api.validation import certificate as v_cert

from .corpus_index import CORPUS, INVALID, VALID, as_json, documents

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "deploy" / "crds"


def _committed() -> dict[str, dict[str, Any]]:
    """kind -> the committed CRD."""
    out = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        out[doc["spec"]["names"]["kind"]] = doc
    return out


COMMITTED = _committed()


def _schema(kind: str) -> dict[str, Any]:
    return COMMITTED[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ generated, not edited


def test_committed_files_are_what_the_models_generate() -> None:
    generated = crds.rendered()
    on_disk = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert sorted(on_disk) == sorted(generated)
    stale = [name for name, text in generated.items() if on_disk[name] != text]
    assert stale == [], f"{stale} differ from the models: run `python -m certkeeper.api.crds deploy/crds`"


def test_check_command_fails_on_a_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crds.main([str(tmp_path)]) == 0
    assert crds.main(["--check", str(tmp_path)]) == 0
    edited = tmp_path / "cert-manager.io_certificates.yaml"
    edited.write_text(edited.read_text().replace("- secretName", "- secretNames", 1))
    assert crds.main(["--check", str(tmp_path)]) == 1
    assert "cert-manager.io_certificates.yaml: differs from the models" in capsys.readouterr().out


# ------------------------------------------------------------------------ structural schemas


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")
    for member in node.get("anyOf", []):
        yield from _walk(member, f"{path}|")


#: where the API itself is free-form JSON (cert-manager types these with Kubernetes' core
#: types or apiextensions JSON; certkeeper passes them through unread)
_SOLVER_POD_SPEC = ".podTemplate.spec"
FREE_FORM_SUFFIXES = (
    f"{_SOLVER_POD_SPEC}.affinity",
    f"{_SOLVER_POD_SPEC}.tolerations[]",
    f"{_SOLVER_POD_SPEC}.securityContext",
    ".dns01.webhook.config",
)


@pytest.mark.parametrize("kind", sorted(COMMITTED))
def test_schema_is_structural(kind: str) -> None:
    free_form = []
    for path, node in _walk(_schema(kind), kind):
        assert not {"$ref", "allOf", "oneOf", "not", "nullable", "additionalItems"} & set(node), path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            free_form.append(path)
            continue
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        if path.endswith("|"):
            continue  # members of an int-or-string
        assert node.get("type") in {"object", "array", "string", "integer", "boolean", "number"}, path
        assert "anyOf" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node["type"] == "array":
            assert node["x-kubernetes-list-type"] in ("atomic", "map"), path
    # status.acme of a Certificate is reserved and kept as written
    expected = [p for p in free_form if p.endswith(FREE_FORM_SUFFIXES) or p == f"{kind}.status.acme"]
    assert free_form == expected
    if kind in ("Issuer", "ClusterIssuer", "Challenge"):
        assert any(p.endswith(".dns01.webhook.config") for p in free_form)
        assert any(p.endswith(f"{_SOLVER_POD_SPEC}.affinity") for p in free_form)


@pytest.mark.parametrize("kind", sorted(COMMITTED))
def test_every_field_has_a_description(kind: str) -> None:
    schema = _schema(kind)
    assert schema.get("description"), kind
    missing = []
    for path, node in _walk(schema, kind):
        for name, child in node.get("properties", {}).items():
            if name == "metadata" and path == kind:
                continue  # the API server owns ObjectMeta's schema
            if kind in ("Order", "Challenge") and path == kind and name in ("spec", "status"):
                continue  # cert-manager describes these types, not the members
            if not child.get("description"):
                missing.append(f"{path}.{name}")
    # the description is the docstring written under the field in src/certkeeper/api/
    assert missing == [], "fields without a docstring (then run python -m certkeeper.api.crds deploy/crds)"


# ------------------------------------------------------------------------ cert-manager's surface

READY = '.status.conditions[?(@.type == "Ready")]'
NAMES = {
    # kind: (plural, scope, shortNames, categories, group)
    "Certificate": ("certificates", "Namespaced", ["cert", "certs"], ["cert-manager"], "cert-manager.io"),
    "CertificateRequest": ("certificaterequests", "Namespaced", ["cr", "crs"], ["cert-manager"], "cert-manager.io"),
    "Issuer": ("issuers", "Namespaced", ["iss"], ["cert-manager"], "cert-manager.io"),
    "ClusterIssuer": ("clusterissuers", "Cluster", ["ciss"], ["cert-manager"], "cert-manager.io"),
    "Order": ("orders", "Namespaced", None, ["cert-manager", "cert-manager-acme"], "acme.cert-manager.io"),
    "Challenge": ("challenges", "Namespaced", None, ["cert-manager", "cert-manager-acme"], "acme.cert-manager.io"),
}
COLUMNS = {
    # kind: [(name, jsonPath, priority)]
    "Certificate": [
        ("Ready", f"{READY}.status", 0),
        ("Secret", ".spec.secretName", 0),
        ("Issuer", ".spec.issuerRef.name", 1),
        ("Status", f"{READY}.message", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ],
    "CertificateRequest": [
        ("Approved", '.status.conditions[?(@.type == "Approved")].status', 0),
        ("Denied", '.status.conditions[?(@.type == "Denied")].status', 0),
        ("Ready", f"{READY}.status", 0),
        ("Issuer", ".spec.issuerRef.name", 0),
        ("Requester", ".spec.username", 0),
        ("Status", f"{READY}.message", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ],
    "Issuer": [("Ready", f"{READY}.status", 0), ("Status", f"{READY}.message", 1), ("Age", ".metadata.creationTimestamp", 0)],
    "ClusterIssuer": [
        ("Ready", f"{READY}.status", 0),
        ("Status", f"{READY}.message", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ],
    "Order": [
        ("State", ".status.state", 0),
        ("Issuer", ".spec.issuerRef.name", 1),
        ("Reason", ".status.reason", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ],
    "Challenge": [
        ("State", ".status.state", 0),
        ("Domain", ".spec.dnsName", 0),
        ("Reason", ".status.reason", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ],
}


def test_all_six_kinds_are_there() -> None:
    assert sorted(COMMITTED) == sorted(NAMES)
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(
        f"{group}_{plural}.yaml" for plural, _, _, _, group in NAMES.values()
    )


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_names_scope_categories_and_status_subresource(kind: str) -> None:
    plural, scope, short, categories, group = NAMES[kind]
    spec = COMMITTED[kind]["spec"]
    assert COMMITTED[kind]["metadata"]["name"] == f"{plural}.{group}"
    assert spec["group"] == group
    assert spec["scope"] == scope
    names = spec["names"]
    assert (names["kind"], names["listKind"], names["plural"], names["singular"]) == (
        kind,
        f"{kind}List",
        plural,
        kind.lower(),
    )
    assert names.get("shortNames") == short
    assert names["categories"] == categories
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", sorted(COLUMNS))
def test_printer_columns_are_cert_managers(kind: str) -> None:
    columns = COMMITTED[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"], c.get("priority", 0)) for c in columns] == COLUMNS[kind]
    assert [c["type"] for c in columns] == ["string"] * (len(columns) - 1) + ["date"]


def _at(kind: str, dotted: str) -> dict[str, Any]:
    node = _schema(kind)
    for part in dotted.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


REQUIRED = [
    ("Certificate", "spec", ["issuerRef", "secretName"]),
    ("Certificate", "spec.issuerRef", ["name"]),
    ("Certificate", "spec.keystores.jks", ["create"]),
    ("Certificate", "spec.additionalOutputFormats.[]", ["type"]),
    ("Certificate", "status.conditions.[]", ["status", "type"]),
    ("CertificateRequest", "spec", ["issuerRef", "request"]),
    ("Issuer", "spec.acme", ["privateKeySecretRef", "server"]),
    ("Issuer", "spec.acme.externalAccountBinding", ["keyID", "keySecretRef"]),
    ("Issuer", "spec.acme.privateKeySecretRef", ["name"]),
    ("Issuer", "spec.acme.solvers.[].dns01.rfc2136", ["nameserver"]),
    ("Issuer", "spec.acme.solvers.[].dns01.webhook", ["groupName", "solverName"]),
    ("Issuer", "spec.acme.solvers.[].dns01.azureDNS", ["resourceGroupName", "subscriptionID"]),
    ("Issuer", "spec.ca", ["secretName"]),
    ("Issuer", "spec.vault", ["auth", "path", "server"]),
    ("Issuer", "spec.vault.auth.appRole", ["path", "roleId", "secretRef"]),
    ("Issuer", "spec.venafi", ["zone"]),
    ("Issuer", "spec.venafi.tpp", ["credentialsRef", "url"]),
    ("ClusterIssuer", "spec.venafi.cloud", ["apiTokenSecretRef"]),
    ("Order", "spec", ["issuerRef", "request"]),
    ("Order", "status.authorizations.[]", ["url"]),
    ("Order", "status.authorizations.[].challenges.[]", ["token", "type", "url"]),
    (
        "Challenge",
        "spec",
        ["authorizationURL", "dnsName", "issuerRef", "key", "solver", "token", "type", "url"],
    ),
]


@pytest.mark.parametrize(("kind", "path", "required"), REQUIRED, ids=[f"{k}.{p}" for k, p, _ in REQUIRED])
def test_required_members(kind: str, path: str, required: list[str]) -> None:
    assert _at(kind, path)["required"] == required


def test_venafi_exactly_one_rule_and_gateway_value_validations() -> None:
    for kind in ("Issuer", "ClusterIssuer"):
        (rule,) = _at(kind, "spec.venafi")["x-kubernetes-validations"]
        assert rule["message"] == "exactly one of tpp, cloud, or ngts must be configured"
    ref = _at("Issuer", "spec.acme.solvers.[].http01.gatewayHTTPRoute.parentRefs.[]")
    assert ref["required"] == ["name"]
    assert (ref["properties"]["port"]["minimum"], ref["properties"]["port"]["maximum"]) == (1, 65535)
    assert ref["properties"]["name"]["maxLength"] == 253
    assert _at("Issuer", "spec.acme.preferredChain")["maxLength"] == 64


def test_top_level_required_as_in_cert_manager() -> None:
    assert "required" not in _schema("Certificate")
    assert _schema("Issuer")["required"] == ["spec"]
    assert _schema("ClusterIssuer")["required"] == ["spec"]
    assert _schema("Order")["required"] == ["metadata", "spec"]
    assert _schema("Challenge")["required"] == ["metadata", "spec"]


def test_bytes_and_times_have_their_formats() -> None:
    for path in ("spec.request", "status.certificate", "status.ca"):
        assert _at("CertificateRequest", path) == {**_at("CertificateRequest", path), "type": "string", "format": "byte"}
    assert _at("Order", "spec.request")["format"] == "byte"
    assert _at("Issuer", "spec.acme.caBundle")["format"] == "byte"
    assert _at("Issuer", "spec.vault.caBundle")["format"] == "byte"
    for path in ("status.notAfter", "status.notBefore", "status.renewalTime", "status.lastFailureTime"):
        assert _at("Certificate", path)["format"] == "date-time"
    assert _at("Certificate", "spec.revisionHistoryLimit")["format"] == "int32"
    conditions = _at("Certificate", "status.conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_enums_agree_with_the_validation_rules() -> None:
    """The same lists guard a host (certkeeper's validation) and a cluster (the CRD)."""
    pk = "spec.privateKey"
    assert _at("Certificate", f"{pk}.encoding")["enum"] == list(v_cert.PRIVATE_KEY_ENCODINGS)
    assert _at("Certificate", f"{pk}.rotationPolicy")["enum"] == list(v_cert.ROTATION_POLICIES)
    assert _at("Certificate", f"{pk}.algorithm")["enum"] == list(v_cert.SIGNATURE_ALGORITHMS)
    assert _at("Certificate", "spec.signatureAlgorithm")["enum"] == [
        a for algs in v_cert.SIGNATURE_ALGORITHMS.values() for a in algs
    ]
    assert _at("Certificate", "spec.additionalOutputFormats.[].type")["enum"] == list(v_cert.OUTPUT_FORMAT_TYPES)
    assert _at("Certificate", "spec.keystores.pkcs12.profile")["enum"] == list(v_cert.PKCS12_PROFILES)
    from certkeeper.pki.usages import EXT_KEY_USAGES, KEY_USAGES

    assert set(_at("Certificate", "spec.usages.[]")["enum"]) == set(KEY_USAGES) | set(EXT_KEY_USAGES)
    dns01 = "spec.acme.solvers.[].dns01"
    assert _at("Issuer", f"{dns01}.cnameStrategy")["enum"] == list(v_acme.CNAME_STRATEGIES)
    assert _at("Issuer", f"{dns01}.azureDNS.environment")["enum"] == list(v_acme.AZURE_ENVIRONMENTS)
    assert _at("Issuer", f"{dns01}.azureDNS.zoneType")["enum"] == list(v_acme.AZURE_ZONE_TYPES)
    assert _at("Issuer", f"{dns01}.rfc2136.protocol")["enum"] == list(v_acme.RFC2136_PROTOCOLS)
    assert _at("Issuer", "spec.acme.renewalInformationSource")["enum"] == list(v_acme.RENEWAL_INFORMATION_SOURCES)
    states = ["valid", "ready", "pending", "processing", "invalid", "expired", "errored"]
    assert _at("Order", "status.state")["enum"] == states
    assert _at("Challenge", "status.state")["enum"] == states
    assert _at("Challenge", "spec.type")["enum"] == ["HTTP-01", "DNS-01"]


# ------------------------------------------------------------------------ the docs corpus, locally


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the API server applies it with ``fieldValidation=Strict``: a field that
    is not declared is an error (OpenAPI itself would let it through)."""
    schema = copy.deepcopy(schema)
    for _, node in _walk(schema, ""):
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
    return schema


VALIDATORS = {kind: OAS30Validator(_strict(_schema(kind)), format_checker=oas30_format_checker) for kind in COMMITTED}


def schema_errors(doc: dict[str, Any]) -> list[str]:
    errors = VALIDATORS[doc["kind"]].iter_errors(as_json(doc))
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors)


def _cert_manager_documents(name: str) -> list[dict[str, Any]]:
    return [d for d in documents(CORPUS / name) if d.get("kind") in COMMITTED]


@pytest.mark.parametrize("name", VALID, ids=VALID)
def test_valid_example_passes_the_schema(name: str) -> None:
    docs = _cert_manager_documents(name)
    assert docs, name
    for doc in docs:
        assert schema_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


#: examples the CRD schema itself refuses (the others are refused by the webhook's rules)
SCHEMA_INVALID = {
    "configuration-acme--4.yaml": "spec.acme: 'server' is a required property",
    "configuration-acme--11.yaml": "spec.acme: 'privateKeySecretRef' is a required property",
    "configuration-acme-http01--6.yaml": "spec: 'secretName' is a required property",
    "configuration-vault--3.yaml": "spec.vault.caBundle: '<base64 encoded caBundle PEM file>' is not a 'byte'",
    "releases-release-notes-release-notes-1.9--1.yaml": "spec: 'issuerRef' is a required property",
    "usage-certificate--3.yaml": "spec.nameConstraints.permitted: Additional properties are not allowed "
    "('emailAddress' was unexpected)",
}


@pytest.mark.parametrize("name", sorted(SCHEMA_INVALID))
def test_invalid_example_is_refused_by_the_schema(name: str) -> None:
    assert name in INVALID
    errors = [e for doc in _cert_manager_documents(name) for e in schema_errors(doc)]
    assert SCHEMA_INVALID[name] in errors
