"""The resource series kept as exposition bytes, rebuilt only from what changed.

prometheus_client renders every series of every scrape through a Metric and a Sample
object, sorting and escaping labels each time: 0.8 s of CPU at 10,000 Certificates, for
text that changes only when a Certificate does. Here each object's lines are rendered
once, when its row changes; the families are joined again only when some row changed
since the last scrape, and the gzip of that join is kept beside it. What changes on every
scrape (the clock, sync counts, the process) is a few lines that prometheus_client still
renders (``server.py``).

The bytes are those prometheus_client writes for the same gauges (sorted label names, its
escaping and float formatting). For gauges its text format and its OpenMetrics format
agree line for line, so one rendering serves both; ``tests/test_metrics_exposition.py``
compares them with prometheus_client's own output.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client.utils import floatToGoString

#: prometheus_client's float format (Go's: 1.7e+09, +Inf), so that the bytes are its own
_go_float: Callable[[float], str] = floatToGoString

from .table import CertRow, ChallengeRow, Key, MetricsTable

_STATUSES = ("True", "False", "Unknown")
_CHALLENGE_STATES = ("ready", "valid", "errored", "expired", "invalid", "processing", "", "pending")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def sample(name: str, labels: dict[str, str], value: float) -> str:
    """One series line as prometheus_client writes it: label names sorted."""
    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{pairs}}} {_go_float(value)}\n"


@dataclass(frozen=True)
class Family:
    """A gauge family: its name and HELP as cert-manager's."""

    name: str
    help: str

    def header(self) -> bytes:
        doc = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {doc}\n# TYPE {self.name} gauge\n".encode()


CERT_READY = Family("certmanager_certificate_ready_status", "The ready status of the certificate.")
CERT_NOT_AFTER = Family(
    "certmanager_certificate_not_after_timestamp_seconds",
    "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.",
)
CERT_NOT_BEFORE = Family(
    "certmanager_certificate_not_before_timestamp_seconds",
    "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.",
)
CERT_EXPIRATION = Family(
    "certmanager_certificate_expiration_timestamp_seconds",
    "The timestamp after which the certificate expires, expressed in Unix Epoch Time.",
)
CERT_RENEWAL = Family(
    "certmanager_certificate_renewal_timestamp_seconds",
    "The timestamp after which the certificate should be renewed, expressed in Unix Epoch Time.",
)
ISSUER_READY = Family("certmanager_issuer_ready_status", "The ready status of the issuer.")
CLUSTER_ISSUER_READY = Family("certmanager_clusterissuer_ready_status", "The ready status of the cluster issuer.")
CHALLENGE_STATUS = Family("certmanager_certificate_challenge_status", "The status of certificate challenges.")


def _certificate(key: Key, row: CertRow) -> tuple[str, ...]:
    ns, name = key
    labels = {"name": name, "namespace": ns, "issuer_name": row.issuer_name, "issuer_kind": row.issuer_kind,
              "issuer_group": row.issuer_group}
    ready = "".join(
        sample(CERT_READY.name, {**labels, "condition": s}, 1.0 if row.ready == s else 0.0) for s in _STATUSES
    )
    return (
        ready,
        sample(CERT_NOT_AFTER.name, labels, row.not_after),
        sample(CERT_NOT_BEFORE.name, labels, row.not_before),
        sample(CERT_EXPIRATION.name, labels, row.not_after),
        sample(CERT_RENEWAL.name, labels, row.renewal),
    )


def _issuer(key: Key, status: str) -> tuple[str, ...]:
    ns, name = key
    return ("".join(sample(ISSUER_READY.name, {"name": name, "namespace": ns, "condition": s},
                           1.0 if status == s else 0.0) for s in _STATUSES),)


def _cluster_issuer(key: Key, status: str) -> tuple[str, ...]:
    return ("".join(sample(CLUSTER_ISSUER_READY.name, {"name": key[1], "condition": s},
                           1.0 if status == s else 0.0) for s in _STATUSES),)


def _challenge(key: Key, row: ChallengeRow) -> tuple[str, ...]:
    ns, name = key
    labels = {"domain": row.domain, "reason": row.reason, "processing": row.processing, "name": name,
              "namespace": ns, "type": row.type}
    return ("".join(sample(CHALLENGE_STATUS.name, {**labels, "status": state}, 1.0 if row.state == state else 0.0)
                    for state in _CHALLENGE_STATES),)


class _Kind:
    """One kind's families and the rendered lines of each of its objects, kept with the
    row they were rendered from so that an unchanged row is never rendered again."""

    def __init__(self, families: tuple[Family, ...], render: Callable[[Key, Any], tuple[str, ...]]) -> None:
        self.families = families
        self.render = render
        self.lines: dict[Key, tuple[Any, tuple[bytes, ...]]] = {}

    def refresh(self, rows: list[tuple[Key, Any]]) -> list[bytes]:
        """The families' bodies for these rows; renders only rows new or changed."""
        kept = self.lines
        fresh: dict[Key, tuple[Any, tuple[bytes, ...]]] = {}
        for key, row in rows:
            entry = kept.get(key)
            if entry is None or entry[0] != row:
                entry = (row, tuple(part.encode() for part in self.render(key, row)))
            fresh[key] = entry
        self.lines = fresh  # deleted objects' lines go with the old dict
        parts = [entry[1] for entry in fresh.values()]
        return [fam.header() + b"".join(p[i] for p in parts) for i, fam in enumerate(self.families)]


class Deflated(NamedTuple):
    """Raw deflate blocks ending on a sync flush (not final), with the CRC-32 and length of
    what they hold: the head of a gzip member that another part can still be added to."""

    blocks: bytes
    crc: int
    size: int


def deflate_head(data: bytes, level: int = 1) -> Deflated:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return Deflated(c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(data), len(data))


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown


def gzip_join(head: Deflated, tail: bytes) -> bytes:
    """One gzip member holding ``head`` then ``tail``, compressing only ``tail``. Deflate
    blocks of independent compressors may follow each other once the first ends on a
    byte boundary (pigz builds its members so); the CRC-32 continues from the head's."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    blocks = c.compress(tail) + c.flush()
    trailer = struct.pack("<II", zlib.crc32(tail, head.crc), (head.size + len(tail)) & 0xFFFFFFFF)
    return _GZIP_HEADER + head.blocks + blocks + trailer


class ResourceExposition:
    """The Certificate, Issuer, ClusterIssuer and Challenge families of the table, as
    bytes (and gzip'd), rebuilt when the table's version moved since the last call."""

    def __init__(self, table: MetricsTable) -> None:
        self._table = table
        self._kinds = (
            (table.certificates,
             _Kind((CERT_READY, CERT_NOT_AFTER, CERT_NOT_BEFORE, CERT_EXPIRATION, CERT_RENEWAL), _certificate)),
            (table.issuers, _Kind((ISSUER_READY,), _issuer)),
            (table.cluster_issuers, _Kind((CLUSTER_ISSUER_READY,), _cluster_issuer)),
            (table.challenges, _Kind((CHALLENGE_STATUS,), _challenge)),
        )
        self._lock = threading.Lock()  # one rebuild at a time; scrapes may overlap
        self._version = -1
        self._body = b""
        self._deflated: Deflated | None = None

    def body(self) -> bytes:
        with self._lock:
            self._refresh()
            return self._body

    def deflated(self) -> Deflated:
        with self._lock:
            self._refresh()
            if self._deflated is None:
                self._deflated = deflate_head(self._body)
            return self._deflated

    def _refresh(self) -> None:
        version, snapshots = self._table.snapshot_all([rows for rows, _kind in self._kinds], self._version)
        if snapshots is None:
            return
        bodies: list[bytes] = []
        for (_rows, kind), rows in zip(self._kinds, snapshots, strict=True):
            bodies.extend(kind.refresh(rows))
        self._body = b"".join(bodies)
        self._deflated = None
        self._version = version
