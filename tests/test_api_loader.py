"""Manifest loading: YAML streams, JSON, ``kind: List``, files and directories, and the
exact shape of every kind of failure message."""

from __future__ import annotations

import datetime as _dt
import io
import json
from pathlib import Path

import pytest

from certkeeper.api.acme import Order
from certkeeper.api.certificate import Certificate
from certkeeper.api.core import Namespace, Secret
from certkeeper.api.issuer import ClusterIssuer, Issuer
from certkeeper.api.loader import load_documents, load_paths
from certkeeper.api.validation.errors import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)

CERT = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: foo
spec:
  secretName: foo-tls
  dnsNames: [example.com]
  issuerRef: {name: ca}
"""

ISSUER = """\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: selfsigned
  namespace: ignored
spec:
  selfSigned: {}
"""


# --- field error rendering ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "text"),
    [
        (
            invalid("spec.dnsNames[0]", "x", "invalid thing"),
            'spec.dnsNames[0]: Invalid value: "x": invalid thing',
        ),
        (
            required("spec.secretName", "must be specified"),
            "spec.secretName: Required value: must be specified",
        ),
        (required("spec.ca.secretName"), "spec.ca.secretName: Required value"),
        (
            not_supported("spec.issuerRef.kind", "Foo", ["Issuer", "ClusterIssuer"]),
            'spec.issuerRef.kind: Unsupported value: "Foo": supported values: "Issuer", "ClusterIssuer"',
        ),
        (
            too_long("spec.commonName", "a" * 70, 64),
            "spec.commonName: Too long: may not be more than 64 bytes",
        ),
        (
            duplicate("spec.additionalOutputFormats[1].type", "DER"),
            'spec.additionalOutputFormats[1].type: Duplicate value: "DER"',
        ),
        (forbidden("spec", "may not do that"), "spec: Forbidden: may not do that"),
        (invalid("spec.isCA", True, "no"), "spec.isCA: Invalid value: true: no"),
        (invalid("spec.size", 1024, "small"), "spec.size: Invalid value: 1024: small"),
        (
            invalid("spec.duration", _dt.timedelta(minutes=30), "short"),
            "spec.duration: Invalid value: 30m0s: short",
        ),
        (invalid("spec.x", None, "gone"), "spec.x: Invalid value: null: gone"),
        (invalid("spec.x", 'a"b\n', "quoted"), 'spec.x: Invalid value: "a\\"b\\n": quoted'),
    ],
)
def test_field_error_text_matches_api_server(err: FieldError, text: str) -> None:
    assert str(err) == text


# --- documents -----------------------------------------------------------------------------


def test_multi_document_yaml_gives_typed_objects_and_skips_empty_documents() -> None:
    result = load_documents("---\n" + CERT + "---\n---\n" + ISSUER, "m.yaml")
    assert result.errors == [] and result.unsupported == []
    cert, iss = result.objects
    assert isinstance(cert, Certificate) and isinstance(iss, ClusterIssuer)
    assert cert.spec.dns_names == ["example.com"]
    # kubectl's behaviour: a namespaced object lands in the default namespace, and a
    # cluster-scoped one has none
    assert cert.namespace == "default"
    assert iss.namespace is None


def test_default_namespace_can_be_chosen_or_left_out() -> None:
    assert load_documents(CERT, default_namespace="team-a").objects[0].namespace == "team-a"
    assert load_documents(CERT, default_namespace=None).objects[0].namespace is None


def test_json_and_list_documents() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}},
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Issuer",
                "metadata": {"name": "ss", "namespace": "sandbox"},
                "spec": {"selfSigned": {}},
            },
        ],
    }
    result = load_documents(json.dumps(doc, indent=2), "list.json")
    assert result.errors == []
    assert [type(o) for o in result.objects] == [Namespace, Issuer]
    assert result.objects[1].namespace == "sandbox"
    bad = dict(
        doc,
        items=[{"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "x"}, "spec": {}}],
    )
    assert load_documents(json.dumps(bad), "list.json").errors == [
        'list.json (document 1) items[0]: Issuer "default/x" is invalid: spec: Required value: '
        "at least one issuer must be configured"
    ]


def test_unquoted_yaml_timestamps_are_read_as_strings() -> None:
    text = CERT + "status:\n  notAfter: 2026-03-01T10:00:00Z\n  lastFailureTime: 2026-02-01T00:00:00+01:00\n"
    [cert] = load_documents(text).objects
    assert isinstance(cert, Certificate) and cert.status is not None
    assert cert.status.not_after == "2026-03-01T10:00:00Z"
    assert cert.status.last_failure_time == "2026-01-31T23:00:00Z"


def test_schema_errors_name_file_document_object_and_path() -> None:
    text = (
        ISSUER
        + "---\n"
        + CERT.replace("secretName: foo-tls", "secretName: foo-tls\n  duration: 5\n  isCA: 'yes'")
    )
    text += "  privateKey: {size: '2048'}\n  dnsNames2: [x]\n"
    result = load_documents(text, "bad.yaml")
    assert len(result.objects) == 1  # the ClusterIssuer still loads
    prefix = 'bad.yaml (document 2): Certificate "default/foo" is invalid: '
    assert result.errors == [
        prefix
        + 'spec.duration: Invalid value: "integer": spec.duration in body must be of type string: "integer"',
        prefix + 'spec.isCA: Invalid value: "string": spec.isCA in body must be of type boolean: "string"',
        prefix
        + 'spec.privateKey.size: Invalid value: "string": spec.privateKey.size in body must be of type integer: "string"',
        prefix + 'spec.dnsNames2: Invalid value: ["x"]: field not declared in schema',
    ]


def test_webhook_errors_carry_the_object_identity() -> None:
    result = load_documents(CERT.replace("  secretName: foo-tls\n", ""), "c.yaml")
    assert result.objects == []
    assert result.errors == [
        'c.yaml (document 1): Certificate "default/foo" is invalid: spec.secretName: Required value: must be specified'
    ]


def test_null_top_level_fields_count_as_absent() -> None:
    text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: sandbox}\nspec: null\nstatus: ~\n"
    result = load_documents(text)
    assert result.errors == []
    assert result.objects[0].to_dict() == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "sandbox"},
    }


def test_missing_required_struct_member() -> None:
    text = CERT + "  keystores:\n    jks:\n      password: x\n"
    assert load_documents(text, "k.yaml").errors == [
        'k.yaml (document 1): Certificate "default/foo" is invalid: spec.keystores.jks.create: Required value'
    ]


def test_unmanaged_kinds_are_reported_separately() -> None:
    ingress = (
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: app}\nspec: {}\n"
    )
    result = load_documents(ingress + "---\n" + CERT, "mixed.yaml")
    assert result.errors == []
    assert [type(o) for o in result.objects] == [Certificate]
    assert result.unsupported == [
        'mixed.yaml (document 1): Ingress "app/web": kind networking.k8s.io/v1 is not managed by certkeeper (skipped)'
    ]


def test_malformed_documents() -> None:
    text = "- just\n- a list\n---\nkind: Certificate\nmetadata: {name: x}\n---\n"
    text += (
        "apiVersion: cert-manager.io/v1alpha2\nkind: Certificate\nmetadata: {name: x}\n---\nkey: [unclosed\n"
    )
    result = load_documents(text, "junk.yaml")
    assert result.objects == []
    assert result.errors[:3] == [
        "junk.yaml (document 1): expected an object (a mapping), got list",
        "junk.yaml (document 2): error validating data: [apiVersion not set]",
        'junk.yaml (document 3): no matches for kind "Certificate" in version "cert-manager.io/v1alpha2"',
    ]
    assert result.errors[3] == (
        "junk.yaml (document 4): invalid YAML at line 12, column 1: expected ',' or ']', but got '<stream end>'"
    )
    assert len(result.errors) == 4


def test_secret_loads_with_its_data() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: prod-1}\n"
        "type: kubernetes.io/tls\ndata:\n  tls.crt: aGVsbG8=\n  tls.key: ''\n"
    )
    [secret] = load_documents(text).objects
    assert isinstance(secret, Secret)
    assert secret.get("tls.crt") == b"hello" and secret.get("tls.key") == b""


# --- paths -------------------------------------------------------------------------------------


def test_load_paths_reads_files_and_sorted_directories(tmp_path: Path) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "b.yaml").write_text(CERT)
    (d / "a.yml").write_text(ISSUER)
    (d / "c.json").write_text(
        json.dumps(
            {
                "apiVersion": "acme.cert-manager.io/v1",
                "kind": "Order",
                "metadata": {"name": "o"},
                "spec": {"request": "LS0t", "issuerRef": {"name": "le"}},
            }
        )
    )
    (d / "notes.txt").write_text("not a manifest")
    (d / "sub").mkdir()
    (d / "sub" / "x.yaml").write_text("not: loaded")
    single = tmp_path / "single.yaml"
    single.write_text(CERT.replace("name: foo", "name: bar"))

    result = load_paths([str(d), str(single), str(tmp_path / "missing.yaml")])
    assert [(type(o).__name__, o.name) for o in result.objects] == [
        ("ClusterIssuer", "selfsigned"),
        ("Certificate", "foo"),
        ("Order", "o"),
        ("Certificate", "bar"),
    ]
    assert isinstance(result.objects[2], Order)
    missing = tmp_path / "missing.yaml"
    assert result.errors == [f'{missing}: the path "{missing}" does not exist']


def test_load_paths_names_the_file_in_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(CERT.replace("name: ca", "kind: Foo"))
    assert load_paths([str(f)]).errors == [
        f'{f} (document 1): Certificate "default/foo" is invalid: spec.issuerRef.name: Required value: must be specified',
        f'{f} (document 1): Certificate "default/foo" is invalid: spec.issuerRef.kind: Invalid value: "Foo": '
        "must be one of Issuer or ClusterIssuer (did you forget to set spec.issuerRef.kind.group?)",
    ]


def test_load_paths_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(ISSUER))
    result = load_paths(["-"])
    assert result.errors == []
    assert [o.name for o in result.objects] == ["selfsigned"]
