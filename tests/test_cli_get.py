"""``certkeeper get`` and ``describe``: kubectl's tables, the exact json/yaml shapes,
short names, selectors, namespaces, and that private keys stay out of human output."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import yaml

from certkeeper.api.certificate import Certificate, CertificateStatus
from certkeeper.api.core import Secret
from certkeeper.api.meta import Condition
from certkeeper.cli.printers import human_duration

from .test_cli_support import ISSUER_AND_CERT, Cli, make_chain, tls_secret


def _setup(tmp_path: Path) -> Cli:
    ck = Cli(tmp_path)
    r = ck("apply", "-f", "-", input=ISSUER_AND_CERT)
    assert r.exit_code == 0, r.output
    with ck.store() as store:
        cert = store.get(Certificate, "default", "foo")
        cert.status = CertificateStatus(
            conditions=[Condition(type="Ready", status="True", reason="Ready",
                                  message="Certificate is up to date and has not expired")],
            not_after="2027-01-01T00:00:00Z",
        )
        store.update_status(cert)
    return ck


def _rows(text: str) -> list[list[str]]:
    """Cells cut at the header's column starts, so that empty cells stay visible."""
    lines = text.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in lines]


def test_table_and_wide_columns(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    r = ck("get", "certificates")
    assert r.exit_code == 0, r.output
    rows = _rows(r.stdout)
    assert rows[0] == ["NAME", "READY", "SECRET", "AGE"]
    assert rows[1][:3] == ["foo", "True", "foo-tls"]
    assert re.fullmatch(r"\d+s", rows[1][3])
    r = ck("get", "cert", "foo", "-o", "wide")
    rows = _rows(r.stdout)
    assert rows[0] == ["NAME", "READY", "SECRET", "ISSUER", "STATUS", "EXPIRATION", "AGE"]
    assert rows[1][:6] == ["foo", "True", "foo-tls", "selfsigned",
                           "Certificate is up to date and has not expired", "2027-01-01T00:00:00Z"]
    # columns line up: every cell starts where its header does
    header = r.stdout.splitlines()[0]
    line = r.stdout.splitlines()[1]
    assert line.index("selfsigned") == header.index("ISSUER")
    r = ck("get", "issuers")
    assert _rows(r.stdout)[0] == ["NAME", "READY", "AGE"]


def test_short_names_and_resource_slash_name(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    for kind in ("cert", "certs", "certificate", "Certificate", "certificates.cert-manager.io"):
        r = ck("get", kind, "-o", "name")
        assert r.stdout == "certificate.cert-manager.io/foo\n", kind
    assert ck("get", "iss", "-o", "name").stdout == "issuer.cert-manager.io/selfsigned\n"
    assert ck("get", "cert/foo", "-o", "name").stdout == "certificate.cert-manager.io/foo\n"
    r = ck("get", "widgets")
    assert r.exit_code == 1 and r.stderr == 'error: the server doesn\'t have a resource type "widgets"\n'


def test_json_shape_single_and_list(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    with ck.store() as store:
        stored = store.get(Certificate, "default", "foo").to_dict()
    r = ck("get", "cert", "foo", "-o", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == stored
    assert r.stdout.startswith('{\n    "apiVersion": "cert-manager.io/v1",\n')
    assert stored["metadata"]["uid"] and stored["status"]["notAfter"] == "2027-01-01T00:00:00Z"
    r = ck("get", "certs", "-o", "json")
    assert json.loads(r.stdout) == {
        "apiVersion": "v1", "kind": "List", "items": [stored], "metadata": {"resourceVersion": ""},
    }
    # an empty list is still a List, on stdout
    r = ck("get", "certs", "-n", "empty", "-o", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"apiVersion": "v1", "kind": "List", "items": [], "metadata": {"resourceVersion": ""}}


def test_yaml_output_and_secret_data_stays_base64(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    chain = make_chain()
    with ck.store() as store:
        store.create(tls_secret("web-tls", chain))
        stored = store.get(Secret, "default", "web-tls").to_dict()
    r = ck("get", "secret", "web-tls", "-o", "yaml")
    assert r.exit_code == 0
    assert yaml.safe_load(r.stdout) == stored
    assert stored["data"]["tls.key"] in r.stdout  # base64, as kubectl prints it
    assert "BEGIN PRIVATE KEY" not in r.stdout
    r = ck("get", "certs", "-o", "yaml")
    doc = yaml.safe_load(r.stdout)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1" and len(doc["items"]) == 1
    # the table shows the Secret's type and number of keys, never values
    r = ck("get", "secrets")
    assert _rows(r.stdout)[1][:3] == ["web-tls", "kubernetes.io/tls", "3"]


def test_namespace_flag_placement_and_all_namespaces(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    assert ck("apply", "-n", "prod", "-f", "-", input=ISSUER_AND_CERT).exit_code == 0
    for args in (("-n", "prod", "get", "certs"), ("get", "certs", "-n", "prod"),
                 ("get", "--namespace", "prod", "certs"), ("--namespace=prod", "get", "certs", "-o", "wide")):
        r = ck(*args)
        assert r.exit_code == 0, args
        rows = _rows(r.stdout)
        assert len(rows) == 2 and rows[1][0] == "foo", args
        assert rows[1][1] == "", args  # the prod copy has no status: an empty READY cell
    r = ck("get", "certs", "-A")
    rows = _rows(r.stdout)
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert [row[:2] for row in rows[1:]] == [["default", "foo"], ["prod", "foo"]]
    r = ck("get", "certs", "-n", "nothing-here")
    assert r.exit_code == 0 and r.stdout == ""
    assert r.stderr == "No resources found in nothing-here namespace.\n"


def test_label_selector(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    other = ISSUER_AND_CERT.replace("name: foo", "name: bar").replace("{app: web}", "{app: api, tier: x}")
    assert ck("apply", "-f", "-", input=other).exit_code == 0
    assert ck("get", "certs", "-l", "app=web", "-o", "name").stdout == "certificate.cert-manager.io/foo\n"
    assert ck("get", "certs", "-l", "app!=web", "-o", "name").stdout == "certificate.cert-manager.io/bar\n"
    assert ck("get", "certs", "-l", "tier", "-o", "name").stdout == "certificate.cert-manager.io/bar\n"
    assert ck("get", "certs", "-l", "!tier", "-o", "name").stdout == "certificate.cert-manager.io/foo\n"


def test_missing_name_is_not_found(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    r = ck("get", "certificate", "x")
    assert r.exit_code == 1
    assert r.stderr == 'Error from server (NotFound): certificates.cert-manager.io "x" not found\n'
    r = ck("get", "cert", "foo", "x", "-o", "name")
    assert r.exit_code == 1 and r.stdout == "certificate.cert-manager.io/foo\n"
    r = ck("get", "cert", "foo", "-A")
    assert r.exit_code == 1 and r.stderr == "error: a resource cannot be retrieved by name across all namespaces\n"


def test_describe_sections(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    r = ck("describe", "cert", "foo")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("Name:         foo\nNamespace:    default\nLabels:       app=web\nAnnotations:  <none>\n")
    assert "API Version:  cert-manager.io/v1\nKind:         Certificate\n" in out
    for section in ("\nMetadata:\n", "\nSpec:\n", "\nStatus:\n", "  Dns Names:\n    example.com\n",
                    "  Secret Name:  foo-tls\n", "  Issuer Ref:\n    Name:  selfsigned\n", "  UID:  "):
        assert section in out or section.replace("  UID:  ", "UID:") in out, section
    table = out.split("  Conditions:\n", 1)[1].splitlines()
    assert table[0].split() == ["Type", "Status", "Reason", "Message", "Last", "Transition", "Time",
                                "Observed", "Generation"]
    assert table[2].split()[:3] == ["Ready", "True", "Ready"]
    assert "Certificate is up to date and has not expired" in table[2]


def test_describe_secret_never_prints_the_key(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    chain = make_chain()
    with ck.store() as store:
        store.create(tls_secret("web-tls", chain))
    r = ck("describe", "secret", "web-tls")
    assert r.exit_code == 0
    assert "Type:  kubernetes.io/tls" in r.stdout
    assert f"tls.key:  {len(chain.key_pem)} bytes" in r.stdout
    assert "PRIVATE KEY" not in r.stdout
    with ck.store() as store:
        b64 = store.get(Secret, "default", "web-tls").data or {}
    assert b64["tls.key"] not in r.stdout


def test_human_duration_matches_kubectl() -> None:
    cases = {
        dt.timedelta(seconds=5): "5s", dt.timedelta(seconds=119): "119s", dt.timedelta(minutes=5): "5m",
        dt.timedelta(minutes=5, seconds=7): "5m7s", dt.timedelta(minutes=42): "42m",
        dt.timedelta(hours=5, minutes=3): "5h3m", dt.timedelta(hours=30): "30h",
        dt.timedelta(days=2): "2d", dt.timedelta(days=3, hours=4): "3d4h", dt.timedelta(days=40): "40d",
        dt.timedelta(days=800): "2y70d", dt.timedelta(days=365 * 9): "9y", dt.timedelta(seconds=-5): "<invalid>",
    }
    for d, want in cases.items():
        assert human_duration(d) == want, d


def test_store_option_either_side_of_the_verb_beats_the_environment(tmp_path: Path) -> None:
    ck = _setup(tmp_path)  # CERTKEEPER_STORE names this store, which has foo
    other = tmp_path / "other.db"
    assert ck("--store", str(other), "apply", "-f", "-",
              input=ISSUER_AND_CERT.replace("name: foo", "name: elsewhere")).exit_code == 0
    assert ck("get", "certs", "-o", "name").stdout == "certificate.cert-manager.io/foo\n"
    assert ck("--store", str(other), "get", "certs", "-o", "name").stdout == "certificate.cert-manager.io/elsewhere\n"
    assert ck("get", "certs", "-o", "name", "--store", f"sqlite://{other}").stdout == \
        "certificate.cert-manager.io/elsewhere\n"
    r = ck("--store", "postgres://db/x", "get", "certs")
    assert r.exit_code == 1 and "unsupported store URL" in r.stderr


def test_several_kinds_at_once(tmp_path: Path) -> None:
    ck = _setup(tmp_path)
    r = ck("get", "certs,issuers")
    assert r.exit_code == 0, r.output
    tables = r.output.strip().split("\n\n")
    assert len(tables) == 2
    assert tables[0].splitlines()[0].split()[:2] == ["NAME", "READY"] and "foo" in tables[0]
    assert "SECRET" not in tables[1].splitlines()[0]
    # several kinds: each name carries its kind, as kubectl prints them
    assert tables[0].splitlines()[1].split()[0] == "certificate.cert-manager.io/foo"
    assert tables[1].splitlines()[1].split()[0] == "issuer.cert-manager.io/selfsigned"
    assert ck("get", "certs").output.splitlines()[1].split()[0] == "foo"
    r = ck("get", "certificate,issuer", "-o", "json")
    doc = json.loads(r.output)
    assert doc["kind"] == "List"
    assert sorted(i["kind"] for i in doc["items"]) == ["Certificate", "Issuer"]
