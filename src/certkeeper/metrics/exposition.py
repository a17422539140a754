"""The resource series kept as compressed exposition bytes, rebuilt only after a change.

prometheus_client renders every series of every scrape through a Metric and a Sample
object, sorting and escaping labels each time: 0.8 s of CPU at 10,000 Certificates, for
text that changes only when a Certificate does. Here the families are rendered again only
when some row changed since the last scrape (with templates, not objects: about 60 ms at
10,000), and only their deflate is kept: 12 MB of text at 10,000 Certificates are 0.35 MB
compressed, so the daemon's memory does not grow by the size of the answer. A scrape
with ``Accept-Encoding: gzip`` (Prometheus's) sends those blocks as they are; a plain one
inflates them. What changes on every scrape (the clock, sync counts, the process) is a
few lines that prometheus_client still renders (``server.py``).

The bytes are those prometheus_client writes for the same gauges (sorted label names, its
escaping and float formatting). For gauges its text format and its OpenMetrics format
agree line for line, so one rendering serves both; ``tests/test_metrics_exposition.py``
compares them with prometheus_client's own output.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client.utils import floatToGoString

from .table import CertRow, ChallengeRow, Key, MetricsTable

#: prometheus_client's float format (Go's: 1.7e+09, +Inf), so that the bytes are its own
_go_float: Callable[[float], str] = floatToGoString

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


def _label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return _escape(value)
    return value


def _flag(status: str, wanted: str) -> str:
    return "1.0" if status == wanted else "0.0"


def _certificates(rows: list[tuple[Key, CertRow]]) -> list[str]:
    """The five Certificate families. Templates rather than ``sample()``: this is the loop
    that runs over every Certificate; the labels are written once per row, in sorted order
    (condition, issuer_group, issuer_kind, issuer_name, name, namespace)."""
    ready: list[str] = []
    not_after: list[str] = []
    not_before: list[str] = []
    expiration: list[str] = []
    renewal: list[str] = []
    for (ns, name), row in rows:
        labels = (f'issuer_group="{_label(row.issuer_group)}",issuer_kind="{_label(row.issuer_kind)}",'
                  f'issuer_name="{_label(row.issuer_name)}",name="{_label(name)}",namespace="{_label(ns)}"}} ')
        st = row.ready
        ready.append(f'{CERT_READY.name}{{condition="True",{labels}{_flag(st, "True")}\n'
                     f'{CERT_READY.name}{{condition="False",{labels}{_flag(st, "False")}\n'
                     f'{CERT_READY.name}{{condition="Unknown",{labels}{_flag(st, "Unknown")}\n')
        after = _go_float(row.not_after)
        not_after.append(f"{CERT_NOT_AFTER.name}{{{labels}{after}\n")
        not_before.append(f"{CERT_NOT_BEFORE.name}{{{labels}{_go_float(row.not_before)}\n")
        expiration.append(f"{CERT_EXPIRATION.name}{{{labels}{after}\n")
        renewal.append(f"{CERT_RENEWAL.name}{{{labels}{_go_float(row.renewal)}\n")
    return ["".join(ready), "".join(not_after), "".join(not_before), "".join(expiration), "".join(renewal)]


def _issuers(rows: list[tuple[Key, str]]) -> list[str]:
    return ["".join(sample(ISSUER_READY.name, {"name": name, "namespace": ns, "condition": s},
                           1.0 if status == s else 0.0)
                    for (ns, name), status in rows for s in _STATUSES)]


def _cluster_issuers(rows: list[tuple[Key, str]]) -> list[str]:
    return ["".join(sample(CLUSTER_ISSUER_READY.name, {"name": name, "condition": s}, 1.0 if status == s else 0.0)
                    for (_ns, name), status in rows for s in _STATUSES)]


def _challenges(rows: list[tuple[Key, ChallengeRow]]) -> list[str]:
    out: list[str] = []
    for (ns, name), row in rows:
        labels = {"domain": row.domain, "reason": row.reason, "processing": row.processing, "name": name,
                  "namespace": ns, "type": row.type}
        out.extend(sample(CHALLENGE_STATUS.name, {**labels, "status": state}, 1.0 if row.state == state else 0.0)
                   for state in _CHALLENGE_STATES)
    return ["".join(out)]


class Deflated(NamedTuple):
    """Raw deflate blocks ending on a flush (not final), with the CRC-32 and length of what
    they hold: a piece of a gzip member that other pieces can follow."""

    blocks: bytes
    crc: int
    size: int


def deflate_head(data: bytes, level: int = 1) -> Deflated:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return Deflated(c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(data), len(data))


def crc32_combine(crc_a: int, crc_b: int, len_b: int, zeros: memoryview) -> int:
    """The CRC-32 of A then B from theirs (zlib's crc32_combine, which Python does not
    expose). CRC-32 is affine in its starting value: running B from ``crc_a`` instead of
    0 adds what running ``len_b`` zero bytes adds. ``zeros`` holds at least ``len_b``."""
    run = zeros[:len_b]
    return zlib.crc32(run, crc_a) ^ zlib.crc32(run, 0) ^ crc_b


def join_deflated(pieces: list[Deflated]) -> Deflated:
    zeros = memoryview(bytes(max((p.size for p in pieces), default=0)))
    crc, size = 0, 0
    for piece in pieces:
        crc = crc32_combine(crc, piece.crc, piece.size, zeros)
        size += piece.size
    return Deflated(b"".join(p.blocks for p in pieces), crc, size)


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown


def gzip_join(head: Deflated, tail: bytes) -> bytes:
    """One gzip member holding ``head`` then ``tail``, compressing only ``tail``. Deflate
    blocks of independent compressors may follow each other once the first ends on a
    byte boundary (pigz builds its members so); the CRC-32 continues from the head's."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    blocks = c.compress(tail) + c.flush()
    trailer = struct.pack("<II", zlib.crc32(tail, head.crc), (head.size + len(tail)) & 0xFFFFFFFF)
    return _GZIP_HEADER + head.blocks + blocks + trailer


#: rows per chunk of a kind: a change re-renders and re-compresses one chunk, a few ms
ROWS_PER_CHUNK = 128

Render = Callable[[list[tuple[Key, Any]]], list[str]]


class _Kind:
    """One kind's families, kept as deflate pieces per chunk of rows. Rows go to chunks by
    the hash of their key (a series' place in a family does not matter to a scraper), so a
    changed, added or deleted object dirties one chunk, whose pieces alone are made again.
    Pieces end on a full flush: each stands alone and any order of them inflates."""

    def __init__(self, families: tuple[Family, ...], render: Render) -> None:
        self.families = families
        self.render = render
        self.headers = [_deflate_once(f.header()) for f in families]
        self._chunks: list[list[tuple[Key, Any]] | None] = []
        self._pieces: list[list[Deflated]] = []  # [chunk][family]

    def refresh(self, rows: list[tuple[Key, Any]]) -> list[Deflated]:
        """The pieces of every family, header first, in order; renders dirty chunks only."""
        n = 1
        while n * ROWS_PER_CHUNK < len(rows):
            n *= 2
        if n != len(self._chunks):  # regrouped: every chunk is new
            self._chunks = [None] * n
            self._pieces = [[] for _ in range(n)]
        groups: list[list[tuple[Key, Any]]] = [[] for _ in range(n)]
        for item in rows:
            groups[hash(item[0]) % n].append(item)
        compressor = None
        for i, group in enumerate(groups):
            if group != self._chunks[i]:
                compressor = compressor or zlib.compressobj(1, zlib.DEFLATED, -15)
                self._pieces[i] = [_deflate(compressor, text.encode()) for text in self.render(group)]
                self._chunks[i] = group
        out: list[Deflated] = []
        for f, header in enumerate(self.headers):
            out.append(header)
            out.extend(pieces[f] for pieces in self._pieces)
        return out


def _deflate(compressor: Any, data: bytes) -> Deflated:
    return Deflated(compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH), zlib.crc32(data), len(data))


def _deflate_once(data: bytes) -> Deflated:
    return _deflate(zlib.compressobj(1, zlib.DEFLATED, -15), data)


class ResourceExposition:
    """The Certificate, Issuer, ClusterIssuer and Challenge families of the table, kept
    deflated, made again from the chunks that changed when the table's version moved."""

    def __init__(self, table: MetricsTable) -> None:
        self._table = table
        self._kinds: tuple[tuple[dict[Key, Any], _Kind], ...] = (
            (table.certificates,
             _Kind((CERT_READY, CERT_NOT_AFTER, CERT_NOT_BEFORE, CERT_EXPIRATION, CERT_RENEWAL), _certificates)),
            (table.issuers, _Kind((ISSUER_READY,), _issuers)),
            (table.cluster_issuers, _Kind((CLUSTER_ISSUER_READY,), _cluster_issuers)),
            (table.challenges, _Kind((CHALLENGE_STATUS,), _challenges)),
        )
        self._lock = threading.Lock()  # one rebuild at a time; scrapes may overlap
        self._version = -1
        self._pieces: list[Deflated] = []
        self._deflated = deflate_head(b"")

    def deflated(self) -> Deflated:
        """Everything as one run of deflate blocks (a gzip member's head)."""
        with self._lock:
            self._refresh()
            return self._deflated

    def text(self) -> tuple[int, Iterator[bytes]]:
        """The length of the families as text, and the text a piece at a time (inflated
        from what is kept: a plain scrape is the rare one, and never holds it all)."""
        with self._lock:
            self._refresh()
            pieces = self._pieces
        return sum(p.size for p in pieces), (zlib.decompressobj(-15).decompress(p.blocks) for p in pieces)

    def body(self) -> bytes:
        return b"".join(self.text()[1])

    def _refresh(self) -> None:
        version, snapshots = self._table.snapshot_all([rows for rows, _kind in self._kinds], self._version)
        if snapshots is None:
            return
        pieces: list[Deflated] = []
        for (_rows, kind), rows in zip(self._kinds, snapshots, strict=True):
            pieces.extend(kind.refresh(rows))
        self._pieces = pieces
        self._deflated = join_deflated(pieces)
        self._version = version
