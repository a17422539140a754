"""A command-line call imports what its verb needs and nothing else: the daemon, the
controllers, the ACME client, the HTTP and cloud libraries, PyYAML, Prometheus and, for the
verbs that show no certificate, ``cryptography`` stay out of ``get``, ``describe``,
``status`` and ``wait``. Each case runs the verb for real, in a fresh interpreter, on a
store holding an issued Certificate and its Secret, and reads ``sys.modules`` after it.

Also: the verb summaries that ``certkeeper --help`` prints without importing the verbs are
the verbs' own, and the kind names resolved without importing the models are the models'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from certkeeper.api import registry
from certkeeper.api.certificate import Certificate, CertificateStatus
from certkeeper.api.meta import Condition
from certkeeper.cli import main as cli_main
from certkeeper.store import SqliteStore

from .test_cli_support import ISSUER_AND_CERT, Cli, certkeeper_command, make_chain, tls_secret

#: never imported by a reading verb (a module or any of its submodules)
NEVER = (
    "acme", "josepy", "requests", "urllib3", "boto3", "botocore", "lexicon", "dns", "jks",
    "prometheus_client", "yaml",
    "certkeeper.daemon", "certkeeper.controllers", "certkeeper.issuers", "certkeeper.runtime.controller",
    "certkeeper.runtime.manager", "certkeeper.webhook", "certkeeper.metrics", "certkeeper.acme",
    "certkeeper.api.loader", "certkeeper.api.validation.checks", "certkeeper.store.kube",
)
#: and not by the verbs that show no certificate either
NO_CRYPTO = ("cryptography", "certkeeper.pki.keys", "certkeeper.api.acme", "certkeeper.api.issuer")
#: ``--help`` and ``version`` read no object at all
NO_MODELS = ("pydantic", "sqlite3", "certkeeper.api.meta", "certkeeper.store.sqlite", "certkeeper.cli.get")

#: ``get``, ``describe``, ``status`` and ``wait`` on the host render the stored JSON: no model at all
NO_PYDANTIC = ("pydantic", "pydantic_core", "certkeeper.api.meta", "certkeeper.api.certificate",
               "certkeeper.api.core", "certkeeper.api.event")
READ_RAW = NEVER + NO_CRYPTO + NO_PYDANTIC

CASES = {
    "get certificates": (["get", "certificates"], READ_RAW),
    "get -o wide": (["get", "certificates", "-o", "wide", "-A", "-l", "app in (web)"], READ_RAW),
    "get -o name": (["get", "certificate", "foo", "-o", "name"], READ_RAW),
    "get several kinds": (["get", "certs,issuers,secrets,events,cr,orders,challenges,ciss"], READ_RAW),
    "get --help": (["get", "--help"], NEVER + NO_CRYPTO + ("sqlite3",)),
    "describe certificate": (["describe", "certificate", "foo"], READ_RAW),
    "describe several": (["describe", "certificates", "-A", "-l", "app=web"], READ_RAW),
    "describe secret": (["describe", "secret", "foo-tls"], READ_RAW),
    "get -o yaml": (["get", "certificates", "-o", "yaml"], tuple(m for m in READ_RAW if m != "yaml")),
    "status certificate": (["status", "certificate", "foo"], NEVER + NO_PYDANTIC),
    "wait": (["wait", "--for=condition=Ready", "certificate/foo"], READ_RAW),
    "wait --all": (["wait", "--for=condition=Ready", "certificates", "--all", "-A"], READ_RAW),
    "--help": (["--help"], NEVER + NO_CRYPTO + NO_MODELS),
    "version": (["version"], NEVER + NO_CRYPTO + NO_MODELS),
}

RUN_VERB = """
import atexit, json, sys
from certkeeper.cli.main import main

def record(code=0):
    with open(OUT, "w") as f:
        json.dump({"code": code, "modules": sorted(sys.modules)}, f)

atexit.register(record)  # also run by the reading verbs' quick exit
sys.argv = ["certkeeper", *sys.argv[2:]]
main()
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Issuer, a Ready Certificate and its Secret holding a real chain."""
    tmp = tmp_path_factory.mktemp("startup")
    ck = Cli(tmp)
    assert ck("apply", "-f", "-", input=ISSUER_AND_CERT).exit_code == 0
    with SqliteStore(ck.path) as st:
        cert = st.get(Certificate, "default", "foo")
        cert.status = CertificateStatus(
            conditions=[Condition(type="Ready", status="True", reason="Ready", message="up to date")],
            not_after="2027-01-01T00:00:00Z", renewal_time="2026-12-01T00:00:00Z",
        )
        st.update_status(cert)
        st.create(tls_secret("foo-tls", make_chain("leaf.startup.test")))
    return ck.path


def run_verb(store: Path, argv: list[str], out: Path) -> tuple[int, list[str], str]:
    """The verb in a fresh interpreter, as the console script runs it: exit code, the
    modules imported by then, and what it printed."""
    code = RUN_VERB.replace("OUT", repr(str(out)))
    env = {"CERTKEEPER_STORE": str(store), "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-c", code, "--", *argv], env=env, capture_output=True, text=True,
                          timeout=60)
    assert out.exists(), done.stderr
    return done.returncode, json.loads(out.read_text())["modules"], done.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_verb_imports_only_what_it_needs(case: str, store: Path, tmp_path: Path) -> None:
    argv, forbidden = CASES[case]
    code, modules, stdout = run_verb(store, argv, tmp_path / "modules.json")
    assert code == 0, stdout
    assert stdout  # the verb did its work (a table, a description, "condition met", help)
    pulled = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert pulled == [], f"certkeeper {' '.join(argv)} imported {pulled}"


def test_status_still_reads_the_certificate(store: Path, tmp_path: Path) -> None:
    """The lazy imports of ``status`` still decode the Secret's certificate."""
    code, modules, stdout = run_verb(store, ["status", "certificate", "foo"], tmp_path / "modules.json")
    assert code == 0
    assert "cryptography.x509" in modules
    secret_section = stdout.split("\nSecret:\n")[1]
    assert "leaf.startup.test" in secret_section, stdout


def test_help_summaries_are_the_verbs_own() -> None:
    """``--help`` lists each verb from ``VERBS`` without importing it: the same text as the
    loaded command prints, at any width."""
    for name, verb in cli_main.VERBS.items():
        command = verb.load()
        assert command.name == name
        assert not command.hidden
        for limit in (20, 45, 60, 120):
            stub = cli_main.click.Command(name, help=verb.summary)
            assert stub.get_short_help_str(limit) == command.get_short_help_str(limit), name


def test_help_is_the_same_before_and_after_every_verb_is_loaded(tmp_path: Path) -> None:
    code, _, lazy = run_verb(tmp_path / "none.db", ["--help"], tmp_path / "modules.json")
    assert code == 0
    group = cli_main.cli
    ctx = group.make_context("certkeeper", [], resilient_parsing=True)
    for name in group.list_commands(ctx):
        assert group.get_command(ctx, name) is not None
    assert set(group.commands) == set(cli_main.VERBS) | {"version"}
    # a terminal of COLUMNS=80 leaves click 78 columns of text
    loaded = CliRunner().invoke(group, ["--help"], prog_name="certkeeper", terminal_width=78)
    assert loaded.exit_code == 0
    assert lazy == loaded.stdout


def test_kind_names_are_the_models_own() -> None:
    """``registry.NAMES`` resolves names without importing the models; it must say what the
    classes say."""
    for names in (registry.NAMES, registry.CLUSTER_NAMES):
        for k in names:
            cls = k.load()
            said = (k.kind, k.plural, k.short_names, k.api_version)
            assert said == (cls.KIND, cls.PLURAL, cls.SHORT_NAMES, cls.API_VERSION)
    assert [c.KIND for c in registry.KINDS] == [k.kind for k in registry.NAMES]
    assert registry.lookup("certs") is Certificate
    assert registry.lookup("certificates.cert-manager.io") is Certificate
    assert registry.lookup("certificates.acme.cert-manager.io") is None


@pytest.mark.parametrize("argv", [
    ["get", "certificates", "-o", "yaml"],
    ["describe", "certificate", "foo"],
    ["status", "certificate", "foo"],
    ["wait", "--for=condition=Ready", "certificate/foo", "--timeout", "0"],
    ["get", "certificate", "foo", "nope"],
    ["wait", "--for=condition=Issuing", "certificate/foo", "--timeout", "0"],
])
def test_quick_exit_keeps_output_and_exit_code(argv: list[str], store: Path) -> None:
    """The reading verbs end their process without the interpreter's teardown: what they
    print through a pipe and their exit code are those of the same verb run in-process."""
    done = subprocess.run([*certkeeper_command(), *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CERTKEEPER_STORE": str(store), "PYTHONPATH": ":".join(sys.path)})
    expected = CliRunner().invoke(cli_main.cli, argv, env={"CERTKEEPER_STORE": str(store)})
    assert (done.returncode, done.stdout, done.stderr) == (expected.exit_code, expected.stdout, expected.stderr)
    assert done.stdout or done.stderr
