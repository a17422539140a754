"""The Prometheus endpoint: cert-manager's metric names and labels, scraped over HTTP."""

from __future__ import annotations

import datetime as dt
import gzip
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from certkeeper.api.certificate import Certificate
from certkeeper.api.core import TLS_CERT, Secret
from certkeeper.metrics import MetricsServer, exposition, start_metrics
from certkeeper.pki.chain import parse_certificates
from certkeeper.store.errors import StoreUnavailable
from certkeeper.store.sqlite import SqliteStore

from .daemons import CLI
from .harness import CA_SETUP, Harness, leaf_certificate
from .kubecluster import ControlPlane
from .test_cli_run import _cli, daemon
from .test_cli_support import ISSUER_AND_CERT

pytest_plugins = ["tests.kubecluster"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def scrape_until(port: int, cond: Callable[[Samples], bool], timeout: float = 30) -> Samples:
    """The watch may deliver on another thread: poll the endpoint until it agrees."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if cond(samples) or time.monotonic() > deadline:
            return samples


def key(metric: str, /, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return metric, frozenset(labels.items())


def cert_labels(name: str, issuer: str = "ca") -> dict[str, str]:
    return {"name": name, "namespace": "default", "issuer_name": issuer, "issuer_kind": "", "issuer_group": ""}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


@pytest.fixture
def served(harness: Harness) -> Iterator[tuple[Harness, int]]:
    server = MetricsServer(harness.manager)
    server.start("127.0.0.1:0")
    yield harness, server.port
    server.stop()


def _issue(h: Harness, name: str) -> None:
    h.apply(CA_SETUP)
    h.apply(leaf_certificate(name))
    h.settle()
    assert h.ready(name) is not None and h.ready(name)[0] == "True"  # type: ignore[index]


def test_expiration_equals_the_secret_certificates_not_after(served: tuple[Harness, int]) -> None:
    h, port = served
    _issue(h, "web")
    leaf = h.leaf("web")
    crt = h.cert("web")
    assert crt.status is not None and crt.status.renewal_time is not None
    renewal = dt.datetime.fromisoformat(crt.status.renewal_time).timestamp()
    exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
    samples = scrape_until(port, lambda s: s.get(exp, 0) > 0)
    assert samples[exp] == leaf.not_valid_after_utc.timestamp()
    assert samples[key("certmanager_certificate_not_after_timestamp_seconds", **cert_labels("web"))] == \
        leaf.not_valid_after_utc.timestamp()
    assert samples[key("certmanager_certificate_not_before_timestamp_seconds", **cert_labels("web"))] == \
        leaf.not_valid_before_utc.timestamp()
    assert samples[key("certmanager_certificate_renewal_timestamp_seconds", **cert_labels("web"))] == renewal


def test_ready_status_is_one_for_the_current_condition_only(served: tuple[Harness, int]) -> None:
    h, port = served
    _issue(h, "web")
    ready = {c: key("certmanager_certificate_ready_status", condition=c, **cert_labels("web"))
             for c in ("True", "False", "Unknown")}
    samples = scrape_until(port, lambda s: s.get(ready["True"]) == 1)
    assert [samples[ready[c]] for c in ("True", "False", "Unknown")] == [1, 0, 0]


def test_a_certificate_without_ready_condition_is_unknown_with_zero_timestamps(served: tuple[Harness, int]) -> None:
    h, port = served
    h.apply(leaf_certificate("pending", issuerRef={"name": "missing", "kind": "ClusterIssuer"}))
    labels = {**cert_labels("pending", "missing"), "issuer_kind": "ClusterIssuer"}
    unknown = key("certmanager_certificate_ready_status", condition="Unknown", **labels)
    samples = scrape_until(port, lambda s: unknown in s)
    assert samples[unknown] == 1
    assert samples[key("certmanager_certificate_ready_status", condition="True", **labels)] == 0
    assert samples[key("certmanager_certificate_expiration_timestamp_seconds", **labels)] == 0
    assert samples[key("certmanager_certificate_renewal_timestamp_seconds", **labels)] == 0


def test_deleted_certificate_drops_its_series(served: tuple[Harness, int]) -> None:
    h, port = served
    _issue(h, "web")
    exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
    assert exp in scrape_until(port, lambda s: exp in s)
    h.store.delete(Certificate, "default", "web")
    h.settle()
    samples = scrape_until(port, lambda s: exp not in s)
    assert not [k for k in samples if dict(k[1]).get("name") == "web"]


def test_issuer_ready_status_and_sync_counts(served: tuple[Harness, int]) -> None:
    h, port = served
    before = scrape(port)
    _issue(h, "web")
    iss = key("certmanager_issuer_ready_status", name="ca", namespace="default", condition="True")
    samples = scrape_until(port, lambda s: s.get(iss) == 1)
    assert samples[iss] == 1
    assert samples[key("certmanager_issuer_ready_status", name="ca", namespace="default", condition="False")] == 0
    calls = {k: v for k, v in samples.items() if k[0] == "certmanager_controller_sync_call_count"}
    assert calls, sorted({k[0] for k in samples})
    assert sum(calls.values()) > sum(v for k, v in before.items() if k in calls)
    assert any(v > 0 for v in calls.values())
    assert samples[key("certmanager_clock_time_seconds_gauge")] == h.clock.now().timestamp()
    assert samples[key("certmanager_clock_time_seconds")] == h.clock.now().timestamp()
    errors = {k for k in samples if k[0] == "certmanager_controller_sync_error_count"}
    assert {dict(k[1])["controller"] for k in errors} == {dict(k[1])["controller"] for k in calls}


def test_existing_objects_are_primed_at_start(harness: Harness) -> None:
    _issue(harness, "web")
    server = start_metrics(harness.manager, "127.0.0.1:0")
    assert server is not None
    try:
        exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
        assert scrape(server.port)[exp] == harness.leaf("web").not_valid_after_utc.timestamp()
    finally:
        server.stop()


def test_the_exposition_is_built_before_the_first_scrape(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first scrape after a start sends what was built in the background: it renders
    no row (the build at 100,000 Certificates is 0.8 s of CPU, not a scrape's to pay)."""
    _issue(harness, "web")
    server = start_metrics(harness.manager, "127.0.0.1:0")
    assert server is not None
    try:
        assert server.built.wait(30)
        rendered: list[int] = []
        refresh = exposition._Kind.refresh

        def counted(self: Any, rows: list[Any]) -> Any:
            rendered.append(len(rows))
            return refresh(self, rows)

        monkeypatch.setattr(exposition._Kind, "refresh", counted)
        exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
        assert scrape(server.port)[exp] == harness.leaf("web").not_valid_after_utc.timestamp()
        assert rendered == []
    finally:
        server.stop()


def test_api_requests_are_counted_on_a_cluster_only(harness: Harness, kube_cluster: ControlPlane, tmp_path: Path) -> None:
    """The count is the store client's own: every request it sends shows, nothing else."""
    requests_total = key("certkeeper_kubernetes_api_requests_total")
    served_host = start_metrics(harness.manager, "127.0.0.1:0")
    assert served_host is not None
    try:
        assert requests_total not in scrape(served_host.port)  # SQLite: no API server
    finally:
        served_host.stop()
    h = Harness(tmp_path / "kube", cluster=kube_cluster)
    server = start_metrics(h.manager, "127.0.0.1:0")
    assert server is not None
    try:
        before = scrape(server.port)[requests_total]
        assert before == h.store.client.requests_made > 0  # the lists and watches of the start
        h.apply(CA_SETUP)
        after = scrape(server.port)[requests_total]
        assert after == h.store.client.requests_made >= before + 3  # one create per object at least
    finally:
        server.stop()
        h.close()


def test_run_serves_the_expiration_of_an_issued_certificate(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    assert _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT).returncode == 0
    port = free_port()
    with daemon(store, "--metrics-listen-address", f"127.0.0.1:{port}") as (proc, lines):
        r = _cli(store, "wait", "certificate/foo", "--for", "condition=Ready", "--timeout", "60s")
        assert r.returncode == 0, r.stderr
        secrets = SqliteStore(store)
        try:
            tls_crt = secrets.get(Secret, "default", "foo-tls").get(TLS_CERT) or b""
        finally:
            secrets.close()
        not_after = parse_certificates(tls_crt)[0].not_valid_after_utc.timestamp()
        exp = key("certmanager_certificate_expiration_timestamp_seconds", name="foo", namespace="default",
                  issuer_name="selfsigned", issuer_kind="", issuer_group="")
        samples = scrape_until(port, lambda s: s.get(exp, 0) > 0)
        assert samples[exp] == not_after
        proc.terminate()
        assert proc.wait(timeout=60) == 0


def test_a_taken_port_warns_and_the_daemon_keeps_running(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    assert _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with daemon(store, "--metrics-listen-address", f"127.0.0.1:{port}") as (proc, lines):
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)
                if "serving in" in line:
                    break
            assert any(f"ERROR certkeeper.metrics: metrics are off: cannot serve on 127.0.0.1:{port} "
                       "(--metrics-listen-address)" in line for line in lines), lines
            r = _cli(store, "wait", "certificate/foo", "--for", "condition=Ready", "--timeout", "60s")
            assert r.returncode == 0, r.stderr
            assert proc.poll() is None
            proc.terminate()
            assert proc.wait(timeout=60) == 0


def test_run_help_names_the_flag() -> None:
    r = subprocess.run([*CLI, "run", "--help"], capture_output=True, text=True, timeout=60)
    assert "--metrics-listen-address" in r.stdout


def _get(port: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _resource_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("certmanager_certificate_")]


def test_openmetrics_when_the_scraper_asks_for_it(served: tuple[Harness, int]) -> None:
    """What Prometheus sends first in its Accept header; prometheus_client's own rules."""
    h, port = served
    _issue(h, "web")
    exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
    scrape_until(port, lambda s: s.get(exp, 0) > 0)
    accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," \
             "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    code, headers, body = _get(port, {"Accept": accept})
    assert code == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    families = {f.name: f for f in openmetrics_families(text)}  # the strict parser: raises on any fault
    assert families["certmanager_certificate_expiration_timestamp_seconds"].type == "gauge"
    assert families["certmanager_clock_time_seconds"].type == "unknown"
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families.values() for s in f.samples}
    assert samples[exp] == h.leaf("web").not_valid_after_utc.timestamp()
    code, headers, plain = _get(port, {})
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert _resource_lines(plain.decode()) == _resource_lines(text)


def test_gzip_when_the_scraper_accepts_it(served: tuple[Harness, int]) -> None:
    h, port = served
    _issue(h, "web")
    exp = key("certmanager_certificate_expiration_timestamp_seconds", **cert_labels("web"))
    scrape_until(port, lambda s: s.get(exp, 0) > 0)
    for _ in range(2):  # the kept head is compressed once, then reused
        code, headers, body = _get(port, {"Accept-Encoding": "gzip"})
        assert code == 200 and headers["Content-Encoding"] == "gzip"
        assert int(headers["Content-Length"]) == len(body)
        text = gzip.decompress(body).decode()
        assert "certmanager_clock_time_seconds_gauge" in text and "process_cpu_seconds_total" in text
        _, _, plain = _get(port, {})
        assert _resource_lines(text) == _resource_lines(plain.decode())
        assert any('name="web"' in line for line in _resource_lines(text))


def test_a_store_that_cannot_be_read_answers_503_not_a_partial_list(harness: Harness) -> None:
    """Certificates missing from an answer would read as deleted ones; no answer is honest."""
    _issue(harness, "web")
    real = harness.store

    class Unreadable:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def scan(self, kind: type[Any]) -> Iterator[Any]:
            raise StoreUnavailable("database or disk is full")

    harness.manager.ctx.store = Unreadable()  # type: ignore[assignment]
    try:
        server = start_metrics(harness.manager, "127.0.0.1:0")
    finally:
        harness.manager.ctx.store = real
    assert server is not None
    try:
        code, _, body = _get(server.port, {})
        assert code == 503
        assert body.decode() == "the stored objects could not be read: database or disk is full\n"
    finally:
        server.stop()


def test_run_serves_on_cert_managers_ports_on_loopback_by_default() -> None:
    """The defaults themselves (binding 9402 here would collide with a second test run)."""
    from certkeeper.cli.run import run_cmd

    defaults = {p.name: p.default for p in run_cmd.params}
    assert defaults["metrics_listen_address"] == "127.0.0.1:9402"
    assert defaults["healthz_listen_address"] == "127.0.0.1:9403"
    r = subprocess.run([*CLI, "run", "--help"], capture_output=True, text=True, timeout=60)
    help_text = " ".join(r.stdout.split())
    assert "[default: 127.0.0.1:9402]" in help_text and "[default: 127.0.0.1:9403]" in help_text


@pytest.mark.parametrize("off", ["0", ""])
def test_zero_or_empty_turns_the_endpoints_off(tmp_path: Path, off: str) -> None:
    store = tmp_path / "store.db"
    assert _cli(store, "apply", "-f", "-", input=ISSUER_AND_CERT).returncode == 0
    with daemon(store, "--metrics-listen-address", off, "--healthz-listen-address", off) as (proc, lines):
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "serving in" in line:
                break
        assert not [line for line in lines if "serving metrics" in line or "serving /livez" in line], lines
        assert not [line for line in lines if "ERROR" in line], lines
        proc.terminate()
        assert proc.wait(timeout=60) == 0
