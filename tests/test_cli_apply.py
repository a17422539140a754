"""``certkeeper apply`` and ``delete``: all-or-nothing loading, kubectl's result lines,
the merge that keeps status, and where the namespace comes from."""

from __future__ import annotations

from pathlib import Path

from certkeeper.api.certificate import Certificate, CertificateStatus
from certkeeper.api.core import Secret
from certkeeper.api.issuer import Issuer
from certkeeper.api.meta import Condition

from .test_cli_support import ISSUER_AND_CERT, Cli

BAD_CERT = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: bad
spec:
  secretName: bad-tls
  dnsNames: [example.com]
  issuerRef: {name: selfsigned}
  privateKey: {algorithm: DSA}
  duration: 10m
"""


def test_apply_creates_then_reports_unchanged_and_configured(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    (tmp_path / "m.yaml").write_text(ISSUER_AND_CERT)
    r = ck("apply", "-f", str(tmp_path / "m.yaml"))
    assert r.exit_code == 0, r.output
    assert r.stdout == "issuer.cert-manager.io/selfsigned created\ncertificate.cert-manager.io/foo created\n"
    r = ck("apply", "-f", str(tmp_path / "m.yaml"))
    assert r.stdout == "issuer.cert-manager.io/selfsigned unchanged\ncertificate.cert-manager.io/foo unchanged\n"

    with ck.store() as store:
        cert = store.get(Certificate, "default", "foo")
        assert cert.spec.dns_names == ["example.com"]
        assert cert.labels() == {"app": "web"}
        # a controller's status must survive a later apply
        cert.status = CertificateStatus(conditions=[Condition(type="Ready", status="True", reason="Ready", message="ok")])
        store.update_status(cert)
        uid, created = cert.uid, cert.metadata.creation_timestamp

    (tmp_path / "m.yaml").write_text(ISSUER_AND_CERT.replace("[example.com]", "[example.com, www.example.com]")
                                     .replace("{app: web}", "{app: shop}"))
    r = ck("apply", "-f", str(tmp_path / "m.yaml"))
    assert r.exit_code == 0, r.output
    assert "certificate.cert-manager.io/foo configured\n" in r.stdout
    assert "issuer.cert-manager.io/selfsigned unchanged\n" in r.stdout
    with ck.store() as store:
        cert = store.get(Certificate, "default", "foo")
    assert cert.spec.dns_names == ["example.com", "www.example.com"]
    assert cert.labels() == {"app": "shop"}
    assert cert.uid == uid and cert.metadata.creation_timestamp == created
    assert cert.metadata.generation == 2
    assert cert.status is not None and cert.status.conditions is not None
    assert cert.status.conditions[0].message == "ok"


def test_apply_stores_nothing_when_one_document_is_invalid(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.yaml").write_text(ISSUER_AND_CERT)
    (tmp_path / "dir" / "b.yaml").write_text(BAD_CERT)
    r = ck("apply", "-f", str(tmp_path / "dir"))
    assert r.exit_code == 1
    assert r.stdout == ""
    # every error, each naming the file, the object and the field path
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert all("b.yaml (document 1)" in line and 'Certificate "default/bad" is invalid' in line for line in lines)
    assert any("spec.privateKey.algorithm" in line for line in lines)
    assert any("spec.duration" in line for line in lines)
    with ck.store() as store:
        assert store.list(Issuer) == []
        assert store.list(Certificate) == []


def test_apply_from_stdin_and_unsupported_kinds_are_warnings(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    ingress = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\n"
    r = ck("apply", "-f", "-", input=ISSUER_AND_CERT + ingress)
    assert r.exit_code == 0, r.output
    assert "certificate.cert-manager.io/foo created" in r.stdout
    assert "Warning:" in r.stderr and 'Ingress "web"' in r.stderr
    assert "not managed by certkeeper" in r.stderr


def test_apply_namespace_from_flag_either_side_of_the_verb_or_manifest(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    (tmp_path / "m.yaml").write_text(ISSUER_AND_CERT)
    assert ck("-n", "before", "apply", "-f", str(tmp_path / "m.yaml")).exit_code == 0
    assert ck("apply", "-f", str(tmp_path / "m.yaml"), "-n", "after").exit_code == 0
    pinned = ISSUER_AND_CERT.replace("name: foo\n", "name: foo\n  namespace: pinned\n")
    assert ck("apply", "-f", "-", input=pinned).exit_code == 0
    with ck.store() as store:
        assert {(c.namespace, c.name) for c in store.list(Certificate)} == {
            ("before", "foo"), ("after", "foo"), ("pinned", "foo"),
        }
    # kubectl refuses an explicit -n that contradicts the manifest, and stores nothing
    r = ck("apply", "-n", "other", "-f", "-", input=pinned)
    assert r.exit_code == 1
    assert 'the namespace from the provided object "pinned" does not match the namespace "other"' in r.stderr
    with ck.store() as store:
        assert store.list(Certificate, namespace="other") == []


def test_apply_secret_folds_string_data(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    manifest = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data: {a: YWFh}
stringData: {b: bbb}
"""
    r = ck("apply", "-f", "-", input=manifest)
    assert r.stdout == "secret/creds created\n", r.output
    with ck.store() as store:
        s = store.get(Secret, "default", "creds")
    assert s.decoded() == {"a": b"aaa", "b": b"bbb"}
    assert s.string_data is None
    r = ck("apply", "-f", "-", input=manifest.replace("bbb", "ccc"))
    assert r.stdout == "secret/creds configured\n"
    with ck.store() as store:
        assert store.get(Secret, "default", "creds").get("b") == b"ccc"


def test_delete_by_name_short_name_and_file(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    (tmp_path / "m.yaml").write_text(ISSUER_AND_CERT)
    assert ck("apply", "-f", str(tmp_path / "m.yaml")).exit_code == 0
    r = ck("delete", "cert", "foo")
    assert r.exit_code == 0 and r.stdout == 'certificate.cert-manager.io "foo" deleted\n'
    r = ck("delete", "certificate", "foo")
    assert r.exit_code == 1
    assert r.stderr == 'Error from server (NotFound): certificates.cert-manager.io "foo" not found\n'
    assert ck("apply", "-f", str(tmp_path / "m.yaml")).exit_code == 0
    r = ck("delete", "-f", str(tmp_path / "m.yaml"))
    assert r.exit_code == 0
    assert r.stdout == 'issuer.cert-manager.io "selfsigned" deleted\ncertificate.cert-manager.io "foo" deleted\n'
    with ck.store() as store:
        assert store.list(Certificate) == [] and store.list(Issuer) == []


def test_output_of_get_applies_back_unchanged(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    assert ck("apply", "-f", "-", input=ISSUER_AND_CERT).exit_code == 0
    exported = ck("get", "certs", "-o", "yaml").stdout
    r = ck("apply", "-f", "-", input=exported)
    assert r.exit_code == 0, r.output
    assert r.stdout == "certificate.cert-manager.io/foo unchanged\n"
    r = ck("apply", "-f", "-", input=ck("get", "cert", "foo", "-o", "json").stdout)
    assert r.stdout == "certificate.cert-manager.io/foo unchanged\n"
