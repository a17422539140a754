"""Bad input through the ``certkeeper`` command: refused before anything is built or
stored, with the field path, the way the API server, cert-manager's webhook or kubectl
refuse it; and what they accept still goes through."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.api.certificate import Certificate, CertificateStatus
from certkeeper.api.core import Secret
from certkeeper.api.meta import Condition
from certkeeper.cli.logs import configure_logging

from .test_cli_support import Cli

CERT = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
spec:
  secretName: web-tls
  issuerRef:
    name: ca
{extra}
"""


def _apply(ck: Cli, tmp_path: Path, text: str, name: str = "m.yaml") -> tuple[int, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    r = ck("apply", "-f", str(path))
    return r.exit_code, r.output


def _stored(ck: Cli) -> int:
    """How many objects the store holds (0 if it was never created)."""
    if not ck.path.exists():
        return 0
    with sqlite3.connect(ck.path) as db:
        return int(db.execute("SELECT count(*) FROM objects").fetchone()[0])


@pytest.fixture
def ck(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


# --- 11: aliasing and size ---------------------------------------------------------------

BOMB = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bomb}
spec:
  secretName: s
  issuerRef: {name: ca}
  dnsNames: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _bomb() -> str:
    """The billion-laughs shape: nine levels of nine aliases each (9**9 strings)."""
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefg", "bcdefgh", strict=True):
        levels.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    return "x:\n" + "".join(f"  {line}\n" for line in levels) + BOMB


def test_alias_bomb_is_refused_quickly_and_nothing_is_stored(ck: Cli, tmp_path: Path) -> None:
    text = _bomb()
    assert len(text.encode()) < 1024
    started = time.monotonic()
    code, out = _apply(ck, tmp_path, text)
    elapsed = time.monotonic() - started
    assert code == 1
    assert "(document 1): document contains excessive aliasing:" in out
    assert elapsed < 10, f"refusing the bomb took {elapsed:.1f} s"
    assert _stored(ck) == 0


def test_anchors_and_merge_keys_of_ordinary_manifests_still_load(ck: Cli, tmp_path: Path) -> None:
    # anchors are per document in YAML: each document repeats its own, as people write them
    text = "---\n".join(
        f"apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {{name: c{i}}}\n"
        f"spec:\n  dnsNames: [c{i}.example.com]\n  secretName: &s c{i}-tls\n  issuerRef: {{name: ca}}\n"
        "  secretTemplate: {labels: {from: *s}}\n"
        for i in range(3)
    )
    code, out = _apply(ck, tmp_path, text)
    assert code == 0, out
    with ck.store() as store:
        crt = store.get(Certificate, "default", "c2")
    assert crt.spec.secret_template is not None
    assert crt.spec.secret_template.labels == {"from": "c2-tls"}


def test_merge_key_expands_like_kubectl(ck: Cli, tmp_path: Path) -> None:
    text = (
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: m}\n"
        "spec:\n  <<: {secretName: m-tls, issuerRef: {name: ca}}\n  dnsNames: [m.example.com]\n"
    )
    code, out = _apply(ck, tmp_path, text)
    assert code == 0, out
    with ck.store() as store:
        assert store.get(Certificate, "default", "m").spec.secret_name == "m-tls"


def test_oversized_document_is_refused_with_the_limit(ck: Cli, tmp_path: Path) -> None:
    big = "a" * (3 * 1024 * 1024)
    text = CERT.format(extra=f"  dnsNames: [web.example.com]\n  commonName: {big}")
    code, out = _apply(ck, tmp_path, text)
    assert code == 1
    assert "(document 1): document is " in out
    assert "bytes, larger than the limit of 3145728 bytes" in out
    assert _stored(ck) == 0


def test_deep_nesting_is_a_clear_error(ck: Cli, tmp_path: Path) -> None:
    code, out = _apply(ck, tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert code == 1
    assert "invalid YAML: the document is nested too deeply" in out


# --- 12: control characters ----------------------------------------------------------------


def test_control_characters_are_refused_with_their_field_paths(ck: Cli, tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "evil"},
        "spec": {
            "secretName": "evil-tls",
            "issuerRef": {"name": "ca\n2026-01-01 00:00:00,000 INFO certkeeper: forged"},
            "commonName": "evil\nCN",
            "dnsNames": ["x\u0000y", "ok.example.com"],
            "subject": {"organizations": ["Org\u001b[2J"]},
        },
    }
    code, out = _apply(ck, tmp_path, json.dumps(manifest), "m.json")
    assert code == 1
    lines = out.splitlines()
    prefix = 'Certificate "default/evil" is invalid: '
    errors = sorted(line.split(prefix, 1)[1] for line in lines)
    assert errors == [
        'spec.commonName: Invalid value: "evil\\nCN": must not contain control characters',
        'spec.dnsNames[0]: Invalid value: "x\\x00y": a DNS name must not contain spaces or control '
        "characters (e.g. 'example.com' or '*.example.com')",
        'spec.issuerRef.name: Invalid value: "ca\\n2026-01-01 00:00:00,000 INFO certkeeper: forged": '
        "must not contain control characters",
        'spec.subject.organizations[0]: Invalid value: "Org\\x1b[2J": must not contain control characters',
    ]
    # every error is one line: nothing the manifest said starts a line of its own
    assert all(line.startswith(str(tmp_path)) for line in lines)
    assert _stored(ck) == 0


def test_request_issuer_ref_with_a_newline_is_refused(ck: Cli, tmp_path: Path) -> None:
    text = (
        "apiVersion: cert-manager.io/v1\nkind: CertificateRequest\nmetadata: {name: r}\n"
        'spec:\n  request: LS0t\n  issuerRef: {name: "ca\\nx"}\n'
    )
    code, out = _apply(ck, tmp_path, text)
    assert code == 1
    assert 'spec.issuerRef.name: Invalid value: "ca\\nx": must not contain control characters' in out


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_lines_escape_control_characters(root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0)
    name = "ca\n2026-01-01 00:00:00,000 INFO certkeeper: Certificate default/web is Ready\x1b[2J"
    logging.getLogger("certkeeper.test").warning('issuer "%s" not found', name)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.rstrip("\n").endswith(
        'WARNING certkeeper.test: issuer "ca\\n2026-01-01 00:00:00,000 INFO certkeeper: '
        'Certificate default/web is Ready\\x1b[2J" not found'
    )


# --- 13: what cert-manager or Kubernetes refuse ---------------------------------------------


@pytest.mark.parametrize(
    ("pct", "detail"),
    [
        (0, "certificate renewBeforePercentage must result in a renewBefore less than duration"),
        (100, "certificate renewBeforePercentage must result in a renewBefore greater than 5m0s"),
        (150, "certificate renewBeforePercentage must result in a renewBefore greater than 5m0s"),
        (-1, "certificate renewBeforePercentage must result in a renewBefore less than duration"),
    ],
)
def test_renew_before_percentage_outside_1_to_99_is_refused(
    ck: Cli, tmp_path: Path, pct: int, detail: str
) -> None:
    code, out = _apply(ck, tmp_path, CERT.format(extra=f"  dnsNames: [web.example.com]\n  renewBeforePercentage: {pct}"))
    assert code == 1
    assert f"spec.renewBeforePercentage: Invalid value: {pct}: {detail}" in out
    assert _stored(ck) == 0


def test_renew_before_percentage_inside_the_range_is_kept(ck: Cli, tmp_path: Path) -> None:
    code, out = _apply(ck, tmp_path, CERT.format(extra="  dnsNames: [web.example.com]\n  renewBeforePercentage: 75"))
    assert code == 0, out
    with ck.store() as store:
        assert store.get(Certificate, "default", "web").spec.renew_before_percentage == 75


SECRET = """\
apiVersion: v1
kind: Secret
metadata: {{name: s}}
type: {type}
data:
{data}
"""


def test_secret_data_keys_follow_kubernetes_rules(ck: Cli, tmp_path: Path) -> None:
    data = "  ..data: YQ==\n  ..: YQ==\n  'a b': YQ==\n  ok.key: YQ==\n"
    code, out = _apply(ck, tmp_path, SECRET.format(type="Opaque", data=data))
    assert code == 1
    msg = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
           "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    assert 'data[..data]: Invalid value: "..data": must not start with \'..\'' in out
    assert "data[..]: Invalid value: \"..\": must not be '..'" in out
    assert f'data[a b]: Invalid value: "a b": {msg}' in out
    assert "ok.key" not in out
    assert _stored(ck) == 0


def test_tls_secret_needs_both_keys(ck: Cli, tmp_path: Path) -> None:
    code, out = _apply(ck, tmp_path, SECRET.format(type="kubernetes.io/tls", data="  tls.crt: YQ=="))
    assert code == 1
    assert 'Secret "default/s" is invalid: data[tls.key]: Required value' in out
    assert "data[tls.crt]" not in out
    # stringData counts, as the API server folds it into data first
    text = SECRET.format(type="kubernetes.io/tls", data="  tls.crt: YQ==") + "stringData:\n  tls.key: k\n"
    code, out = _apply(ck, tmp_path, text)
    assert code == 0, out
    with ck.store() as store:
        assert store.get(Secret, "default", "s").get("tls.key") == b"k"


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        ("://x", 'invalid URI: parse "://x": missing protocol scheme'),
        ("not a uri", "invalid URI: must not contain spaces, control or non-ASCII characters, or other "
                      "characters RFC 3986 does not allow (percent-encode them)"),
        ("relative/path", "invalid URI: must be an absolute URI with a scheme "
                          "(e.g. spiffe://cluster.local/ns/default/sa/app)"),
    ],
)
def test_invalid_uris_are_refused(ck: Cli, tmp_path: Path, uri: str, detail: str) -> None:
    code, out = _apply(ck, tmp_path, CERT.format(extra=f"  uris: [{json.dumps(uri)}]"))
    assert code == 1
    assert f"spec.uris[0]: Invalid value: {json.dumps(uri)}: {detail}" in out


def test_valid_uris_and_dns_names_are_accepted(ck: Cli, tmp_path: Path) -> None:
    extra = ('  uris: ["spiffe://cluster.local/ns/default/sa/app", "https://example.com/a%20b?x=1#f"]\n'
             '  dnsNames: ["*.example.com", "_acme-challenge.example.com", "xn--bcher-kva.example"]')
    code, out = _apply(ck, tmp_path, CERT.format(extra=extra))
    assert code == 0, out


def test_dns_names_with_spaces_or_non_ascii_are_refused_at_apply(ck: Cli, tmp_path: Path) -> None:
    extra = '  dnsNames: ["www example.com", "bücher.example", " lead.example.com", ""]'
    code, out = _apply(ck, tmp_path, CERT.format(extra=extra))
    assert code == 1
    assert ('spec.dnsNames[0]: Invalid value: "www example.com": a DNS name must not contain spaces or '
            "control characters") in out
    assert ('spec.dnsNames[1]: Invalid value: "bücher.example": non-ASCII DNS names must be given in '
            'their ASCII (punycode) form: "xn--bcher-kva.example"') in out
    assert 'spec.dnsNames[2]: Invalid value: " lead.example.com"' in out
    assert 'spec.dnsNames[3]: Invalid value: "": must not be empty' in out
    assert _stored(ck) == 0


def test_duplicate_yaml_keys_are_refused(ck: Cli, tmp_path: Path) -> None:
    text = CERT.format(extra="  dnsNames: [a.example.com]\n  dnsNames: [b.example.com]")
    code, out = _apply(ck, tmp_path, text)
    assert code == 1
    assert ('(document 1): invalid YAML at line 10, column 3: spec.dnsNames: key "dnsNames" already set '
            "in map (first at line 9)") in out
    assert _stored(ck) == 0


def test_duplicate_json_fields_are_refused(ck: Cli, tmp_path: Path) -> None:
    text = ('{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "a", "name": "b"},'
            ' "spec": {"secretName": "s", "issuerRef": {"name": "ca"}, "dnsNames": ["a.example.com"]}}')
    code, out = _apply(ck, tmp_path, text, "m.json")
    assert code == 1
    assert '(document 1): invalid JSON: duplicate field "name"' in out


def test_one_refused_document_does_not_hide_the_others(ck: Cli, tmp_path: Path) -> None:
    good = CERT.format(extra="  dnsNames: [web.example.com]")
    dup = CERT.format(extra="  dnsNames: [a.example.com]\n  dnsNames: [b.example.com]")
    bad_pct = CERT.format(extra="  dnsNames: [web.example.com]\n  renewBeforePercentage: 100")
    code, out = _apply(ck, tmp_path, "---\n".join([good, dup, bad_pct]))
    assert code == 1
    assert "(document 2): invalid YAML" in out
    assert "(document 3): Certificate \"default/web\" is invalid: spec.renewBeforePercentage" in out
    assert _stored(ck) == 0


# --- 14: kubectl habits ---------------------------------------------------------------------


def test_apply_of_nothing_is_an_error(ck: Cli, tmp_path: Path) -> None:
    r = ck("apply", "-f", "/dev/null")
    assert r.exit_code == 1
    assert r.output == "error: no objects passed to apply\n"
    (tmp_path / "empty.yaml").write_text("---\n# nothing\n---\n")
    r = ck("apply", "-f", str(tmp_path / "empty.yaml"))
    assert r.exit_code == 1 and "error: no objects passed to apply" in r.output


def _labelled(ck: Cli, tmp_path: Path) -> None:
    docs = []
    for name, labels in (("a", "{app: web, tier: front}"), ("b", "{app: api}"), ("c", "{tier: back, rank: '3'}")):
        docs.append(
            f"apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {{name: {name}, labels: {labels}}}\n"
            f"spec: {{secretName: {name}-tls, issuerRef: {{name: ca}}, dnsNames: [{name}.example.com]}}\n"
        )
    code, out = _apply(ck, tmp_path, "---\n".join(docs), "labelled.yaml")
    assert code == 0, out


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("app=web", ["a"]),
        ("app==api", ["b"]),
        ("app!=web", ["b", "c"]),
        ("app in (web, api)", ["a", "b"]),
        ("app notin (web)", ["b", "c"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b"]),
        ("app,!tier", ["b"]),
        ("rank>2", ["c"]),
        ("rank<3", []),
    ],
)
def test_label_selectors_match_as_kubernetes_does(ck: Cli, tmp_path: Path, selector: str, names: list[str]) -> None:
    _labelled(ck, tmp_path)
    r = ck("get", "certificates", "-l", selector, "-o", "name")
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == [f"certificate.cert-manager.io/{n}" for n in names]


@pytest.mark.parametrize(
    ("selector", "detail"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"),
        ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("x>y", 'unable to parse requirement: values[0]: Invalid value: "y": for \'Gt\', \'Lt\' operators, '
                "the value must be an integer"),
        ("a$", 'unable to parse requirement: <nil>: Invalid value: "a$": name part must consist of'),
    ],
)
def test_bad_label_selector_is_a_parse_error(ck: Cli, tmp_path: Path, selector: str, detail: str) -> None:
    _labelled(ck, tmp_path)
    r = ck("get", "certificates", "-l", selector)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.output.startswith(
        'Error from server (BadRequest): Unable to find "cert-manager.io/v1, Resource=certificates" that match '
        f'label selector "{selector}", field selector "": {detail}'
    )


def test_unknown_output_format_exits_1(ck: Cli, tmp_path: Path) -> None:
    _labelled(ck, tmp_path)
    r = ck("get", "certificates", "-o", "xml")
    assert r.exit_code == 1
    assert r.output == (
        'error: unable to match a printer suitable for the output format "xml", '
        "allowed formats are: json,name,wide,yaml\n"
    )


def _csr_b64(cn: str, dns: list[str], uris: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def test_request_whose_csr_carries_control_characters_is_refused(ck: Cli, tmp_path: Path) -> None:
    """A CertificateRequest written by hand gets the Certificate's name rules too."""
    request = _csr_b64("evil\nCN", ["x\x00y", "ok.example.com"], ("not a uri",))
    text = (
        "apiVersion: cert-manager.io/v1\nkind: CertificateRequest\nmetadata: {name: r}\n"
        f"spec:\n  request: {request}\n  issuerRef: {{name: ca}}\n"
    )
    code, out = _apply(ck, tmp_path, text)
    assert code == 1
    assert 'spec.request: Invalid value: subject CN="evil\\nCN": must not contain control characters' in out
    assert 'spec.request: Invalid value: DNS name "x\\x00y": a DNS name must not contain spaces' in out
    assert 'spec.request: Invalid value: URI "not a uri": invalid URI: must not contain spaces' in out
    assert "ok.example.com" not in out
    assert _stored(ck) == 0
    good = _csr_b64("ok.example.com", ["ok.example.com"], ("spiffe://cluster.local/ns/default/sa/app",))
    code, out = _apply(ck, tmp_path, text.replace(request, good))
    assert code == 0, out


def test_table_cells_keep_to_their_row(ck: Cli, tmp_path: Path) -> None:
    """A condition message from elsewhere (an ACME server, a hook, an old store) with a
    newline or an escape sequence is shown escaped: one row per object."""
    code, out = _apply(ck, tmp_path, CERT.format(extra="  dnsNames: [web.example.com]"))
    assert code == 0, out
    with ck.store() as store:
        crt = store.get(Certificate, "default", "web")
        crt.status = CertificateStatus(conditions=[Condition(
            type="Ready", status="False", reason="Failed", message="issuer said:\nweb   True\x1b[2J")])
        store.update_status(crt)
    r = ck("get", "certificates", "-o", "wide")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert "issuer said:\\nweb   True\\x1b[2J" in lines[1]
