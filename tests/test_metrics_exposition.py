"""The kept exposition bytes: exactly what prometheus_client renders for the same families,
in the text format and in OpenMetrics, kept current through the store's watch."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from certkeeper.api.acme import Challenge
from certkeeper.api.certificate import Certificate
from certkeeper.api.issuer import ClusterIssuer, Issuer
from certkeeper.api.meta import Resource
from certkeeper.metrics.collectors import ResourceCollector
from certkeeper.metrics.exposition import ResourceExposition, crc32_combine, deflate_head, gzip_join
from certkeeper.metrics.table import MetricsTable
from certkeeper.store.sqlite import SqliteStore

# a reason is a free-form error message: quotes, backslashes, a newline and UTF-8 reach a label
REASON = 'dial tcp: "example.com" refused\\retry\nnext line, café'


def _ready(status: str) -> dict[str, Any]:
    return {"conditions": [{"type": "Ready", "status": status, "reason": "R", "message": "m",
                            "lastTransitionTime": "2026-03-01T12:00:00Z"}]}


def certificate(name: str, ready: str | None = "True", not_after: str = "2026-06-01T12:00:00Z",
                **ref: str) -> Certificate:
    status: dict[str, Any] = {}
    if ready is not None:
        status = {**_ready(ready), "notBefore": "2026-03-01T12:00:00Z", "notAfter": not_after,
                  "renewalTime": "2026-05-01T12:00:00.5Z"}
    return Certificate.from_dict({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": "default"},
        "spec": {"secretName": name, "dnsNames": [f"{name}.example.test"], "issuerRef": {"name": "ca", **ref}},
        "status": status,
    })


def objects() -> list[Resource]:
    return [
        certificate("web"),
        certificate("api", "False", kind="ClusterIssuer", group="cert-manager.io"),
        certificate("pending", None),
        Issuer.from_dict({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                          "metadata": {"name": "ca", "namespace": "default"},
                          "spec": {"ca": {"secretName": "ca"}}, "status": _ready("True")}),
        ClusterIssuer.from_dict({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                 "metadata": {"name": "root"}, "spec": {"selfSigned": {}}, "status": _ready("False")}),
        Challenge.from_dict({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "web-1-2-3", "namespace": "default"},
            "spec": {"url": "https://acme.test/chall/1", "authorizationURL": "https://acme.test/authz/1",
                     "dnsName": "web.example.test", "type": "HTTP-01", "token": "t", "key": "k",
                     "solver": {"http01": {"ingress": {}}}, "issuerRef": {"name": "acme"}},
            "status": {"processing": True, "presented": True, "state": "pending", "reason": REASON},
        }),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def table(store: SqliteStore) -> Iterator[MetricsTable]:
    t = MetricsTable()
    t.start(store)
    yield t
    t.stop()


def canonical(text: bytes) -> list[tuple[str, str, list[str]]]:
    """Each family's HELP and TYPE lines and its series lines sorted: a series' place in
    its family means nothing to a scraper, everything else must be the same bytes."""
    families: list[tuple[str, str, list[str]]] = []
    lines = text.decode().splitlines()
    i = 0
    while i < len(lines):
        assert lines[i].startswith("# HELP ") and lines[i + 1].startswith("# TYPE "), lines[i:i + 2]
        j = i + 2
        while j < len(lines) and not lines[j].startswith("# "):
            j += 1
        families.append((lines[i], lines[i + 1], sorted(lines[i + 2:j])))
        i = j
    return families


def reference(table: MetricsTable) -> tuple[bytes, bytes]:
    """prometheus_client's rendering of the same families: text, and OpenMetrics without
    its closing ``# EOF`` (the endpoint adds that after the series of the moment)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResourceCollector(table))
    om = openmetrics_latest(registry)
    assert om.endswith(b"# EOF\n")
    return generate_latest(registry), om.removesuffix(b"# EOF\n")


def test_kept_bytes_are_prometheus_clients_in_both_formats(store: SqliteStore, table: MetricsTable) -> None:
    for obj in objects():
        store.create(obj)
    kept = ResourceExposition(table).body()
    text, om = reference(table)
    assert canonical(kept) == canonical(text)
    assert canonical(kept) == canonical(om)
    assert len(kept) == len(text)
    assert 'reason="dial tcp: \\"example.com\\" refused\\\\retry\\nnext line, café"' in kept.decode()
    assert kept.count(b"\n# HELP ") + 1 == 8  # every family, with or without series


def test_primed_from_the_store_as_from_the_watch(store: SqliteStore, tmp_path: Path) -> None:
    for obj in objects():
        store.create(obj)
    watched = MetricsTable()
    watched.start(SqliteStore(tmp_path / "empty.db"))
    for obj in store.scan(Certificate):  # what the watch would have delivered
        watched.on_event(_added(obj))
    primed = MetricsTable()
    primed.start(store)
    try:
        assert primed.primed.is_set() and not primed.failure
        assert b"certmanager_certificate_ready_status" in ResourceExposition(primed).body()
        assert primed.certificates == watched.certificates
        assert len(primed.challenges) == len(primed.issuers) == len(primed.cluster_issuers) == 1
    finally:
        primed.stop()
        watched.stop()


def _added(obj: Resource) -> Any:
    from certkeeper.store.base import EventType, WatchEvent

    meta = obj.metadata
    return WatchEvent(EventType.ADDED, type(obj).__name__, meta.namespace, meta.name or "", obj)


def test_a_change_is_rendered_a_delete_drops_and_no_change_rebuilds_nothing(
    store: SqliteStore, table: MetricsTable
) -> None:
    for obj in objects():
        store.create(obj)
    exposition = ResourceExposition(table)
    first = exposition.deflated()
    assert exposition.deflated() is first  # nothing changed: the kept bytes, not a rebuild

    web = store.get(Certificate, "default", "web")
    web.metadata.labels = {"unrelated": "label"}
    store.update(web)  # a watch event that changes no series
    assert exposition.deflated() is first

    web = store.get(Certificate, "default", "web")
    assert web.status is not None
    web.status.not_after = "2027-01-01T00:00:00Z"
    store.update_status(web)
    changed = exposition.body()
    assert canonical(changed) == canonical(reference(table)[0])
    assert 'certmanager_certificate_expiration_timestamp_seconds{issuer_group="",issuer_kind="",' \
           'issuer_name="ca",name="web",namespace="default"} 1.7987616e+09\n' in changed.decode()

    store.delete(Certificate, "default", "web")
    gone = exposition.body()
    assert canonical(gone) == canonical(reference(table)[0])
    assert 'name="web"' not in gone.decode()
    assert 'name="api"' in gone.decode()


def test_a_scan_never_replaces_what_the_watch_delivered_meanwhile(store: SqliteStore) -> None:
    """The table is primed behind the daemon's start: a Certificate read by the scan may
    change before the scan's row is written. The watch's newer row must stay."""
    store.create(certificate("web", "False"))

    class ChangedWhileScanning:
        """The real store; its Certificate changes right after the scan has read it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def scan(self, kind: type[Resource]) -> Iterator[Resource]:
            for obj in store.scan(kind):
                if isinstance(obj, Certificate):
                    newer = store.get(Certificate, "default", "web")
                    newer.status.conditions = certificate("web", "True").status.conditions  # type: ignore[union-attr]
                    store.update_status(newer)  # delivered to the table by the watch now
                yield obj

    table = MetricsTable()
    table.start(ChangedWhileScanning())  # type: ignore[arg-type]
    try:
        assert table.certificates[("default", "web")].ready == "True"
    finally:
        table.stop()


def test_thousands_of_certificates_in_chunks_one_change_remakes_one_chunk(tmp_path: Path) -> None:
    """Past ROWS_PER_CHUNK rows the families are kept in chunks; the joined pieces must
    still be each family's lines, whole, and a change must show in the next answer."""
    table = MetricsTable()
    exposition = ResourceExposition(table)
    kind = exposition._kinds[0][1]  # the Certificates'
    rendered: list[int] = []
    render = kind.render
    kind.render = lambda rows: rendered.append(len(rows)) or render(rows)  # type: ignore[func-returns-value]
    for i in range(1000):
        table.on_event(_added(certificate(f"c{i:04d}", ("True", "False", None)[i % 3])))
    before = exposition.deflated()
    assert canonical(exposition.body()) == canonical(reference(table)[0])
    assert gzip.decompress(gzip_join(before, b"tail\n")) == exposition.body() + b"tail\n"
    assert sum(rendered) == 1000 and len(rendered) == 8  # 1000 rows in 8 chunks
    rendered.clear()
    table.on_event(_added(certificate("c0007", "True", not_after="2030-01-01T00:00:00Z")))
    exposition.deflated()
    assert len(rendered) == 1 and rendered[0] < 1000 // 4  # the changed row's chunk only
    assert canonical(exposition.body()) == canonical(reference(table)[0])
    assert b'name="c0007",namespace="default"} 1.893456e+09' in exposition.body()
    for n in (1000, 3):  # fewer rows: fewer chunks, the same lines
        for i in range(n, 1000):
            table.on_event(_deleted(certificate(f"c{i:04d}")))
        assert canonical(exposition.body()) == canonical(reference(table)[0])


def _deleted(obj: Resource) -> Any:
    from certkeeper.store.base import EventType, WatchEvent

    meta = obj.metadata
    return WatchEvent(EventType.DELETED, type(obj).__name__, meta.namespace, meta.name or "", obj)


def test_crc32_combine_is_zlibs() -> None:
    a, b = os.urandom(1000), os.urandom(777)
    zeros = memoryview(bytes(1000))
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b), zeros) == zlib.crc32(a + b)
    assert crc32_combine(0, zlib.crc32(b), len(b), zeros) == zlib.crc32(b)


def test_gzip_join_is_one_member_holding_both_parts() -> None:
    head = b"".join(f"series_{i} {i}.0\n".encode() for i in range(50_000))
    tail = b"certmanager_clock_time_seconds_gauge 1.7e+09\n# EOF\n"
    body = gzip_join(deflate_head(head), tail)
    one = zlib.decompressobj(wbits=31)  # gzip framing, one member
    assert one.decompress(body) == head + tail
    assert one.eof and one.unused_data == b""
    assert gzip.decompress(body) == head + tail
    assert len(body) < len(head) // 3  # compressed, not stored
