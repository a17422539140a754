"""Custom collectors: series computed at scrape time from the table and the manager, so
nothing is updated on the controllers' path and deleted objects simply stop appearing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..runtime.manager import Manager
from .table import MetricsTable

_STATUSES = ("True", "False", "Unknown")
_CHALLENGE_STATES = ("ready", "valid", "errored", "expired", "invalid", "processing", "", "pending")
_CERT_LABELS = ["name", "namespace", "issuer_name", "issuer_kind", "issuer_group"]


def _counter(name: str, documentation: str) -> Metric:
    """A counter under cert-manager's exact name. The Go client exposes these without a
    ``_total`` suffix, and rules written for cert-manager name them so; prometheus_client
    appends ``_total`` to every counter, so they are typed untyped (same series, same
    name; ``rate()`` works on them alike)."""
    return Metric(name, documentation, "unknown")


class ClockCollector(Collector):
    """The daemon's clock as cert-manager exposes it: a gauge and the deprecated counter."""

    def __init__(self, manager: Manager) -> None:
        self._clock = manager.ctx.clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now().timestamp()
        counter = _counter(
            "certmanager_clock_time_seconds",
            "DEPRECATED: use clock_time_seconds_gauge instead. The clock time given in seconds (from 1970/01/01 UTC).",
        )
        counter.add_sample("certmanager_clock_time_seconds", {}, now)
        yield counter
        yield GaugeMetricFamily(
            "certmanager_clock_time_seconds_gauge",
            "The clock time given in seconds (from 1970/01/01 UTC).",
            value=now,
        )


class ControllerCollector(Collector):
    """Sync and error counts the manager already keeps, read when scraped."""

    def __init__(self, manager: Manager) -> None:
        self._manager = manager

    def collect(self) -> Iterator[Metric]:
        calls = _counter("certmanager_controller_sync_call_count", "The number of sync() calls made by a controller.")
        errors = _counter(
            "certmanager_controller_sync_error_count", "The number of errors encountered during controller sync().",
        )
        for name, n in sorted(dict(self._manager.sync_counts).items()):
            calls.add_sample(calls.name, {"controller": name}, n)
        for name, n in sorted(dict(self._manager.error_counts).items()):
            errors.add_sample(errors.name, {"controller": name}, n)
        yield calls
        yield errors


def api_requests_made(store: Any) -> int | None:
    """How many requests the store's Kubernetes client has sent, or None on a store that
    talks to no API server (the host's SQLite)."""
    made = getattr(getattr(store, "client", None), "requests_made", None)
    return made if isinstance(made, int) else None


class ApiRequestCollector(Collector):
    """Every request this process sent to the Kubernetes API server, watches and lists
    included: what shows that an idle controller does not poll (its rate is then the
    watches' renewals and the Lease's)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        made = api_requests_made(self._store)
        if made is not None:
            yield CounterMetricFamily(
                "certkeeper_kubernetes_api_requests",
                "Requests sent to the Kubernetes API server by this process (watches and lists included).",
                value=made,
            )


class ResourceCollector(Collector):
    """Certificate, Issuer, ClusterIssuer and Challenge series from the table, through
    prometheus_client's objects: what the endpoint rendered on every scrape before it kept
    these families as bytes (``exposition.py``). Not served any more; kept, written
    independently, as the reference the kept bytes are compared with
    (``tests/test_metrics_exposition.py``) and as ``bench/metrics_scrape.py``'s baseline."""

    def __init__(self, table: MetricsTable) -> None:
        self._table = table

    def collect(self) -> Iterator[Metric]:
        yield from self._certificates()
        yield from self._issuers()
        yield self._challenges()

    def _certificates(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "certmanager_certificate_ready_status", "The ready status of the certificate.",
            labels=["name", "namespace", "condition", "issuer_name", "issuer_kind", "issuer_group"],
        )
        families = {
            "not_after": GaugeMetricFamily(
                "certmanager_certificate_not_after_timestamp_seconds",
                "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.",
                labels=_CERT_LABELS),
            "not_before": GaugeMetricFamily(
                "certmanager_certificate_not_before_timestamp_seconds",
                "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.",
                labels=_CERT_LABELS),
            "expiration": GaugeMetricFamily(
                "certmanager_certificate_expiration_timestamp_seconds",
                "The timestamp after which the certificate expires, expressed in Unix Epoch Time.",
                labels=_CERT_LABELS),
            "renewal": GaugeMetricFamily(
                "certmanager_certificate_renewal_timestamp_seconds",
                "The timestamp after which the certificate should be renewed, expressed in Unix Epoch Time.",
                labels=_CERT_LABELS),
        }
        for (ns, name), row in self._table.snapshot(self._table.certificates):
            ref = [row.issuer_name, row.issuer_kind, row.issuer_group]
            for status in _STATUSES:
                ready.add_metric([name, ns, status, *ref], 1.0 if row.ready == status else 0.0)
            labels = [name, ns, *ref]
            families["not_after"].add_metric(labels, row.not_after)
            families["not_before"].add_metric(labels, row.not_before)
            families["expiration"].add_metric(labels, row.not_after)
            families["renewal"].add_metric(labels, row.renewal)
        yield ready
        yield from families.values()

    def _issuers(self) -> Iterator[Metric]:
        iss = GaugeMetricFamily(
            "certmanager_issuer_ready_status", "The ready status of the issuer.",
            labels=["name", "namespace", "condition"],
        )
        for (ns, name), status in self._table.snapshot(self._table.issuers):
            for s in _STATUSES:
                iss.add_metric([name, ns, s], 1.0 if status == s else 0.0)
        ciss = GaugeMetricFamily(
            "certmanager_clusterissuer_ready_status", "The ready status of the cluster issuer.",
            labels=["name", "condition"],
        )
        for (_ns, name), status in self._table.snapshot(self._table.cluster_issuers):
            for s in _STATUSES:
                ciss.add_metric([name, s], 1.0 if status == s else 0.0)
        yield iss
        yield ciss

    def _challenges(self) -> Metric:
        fam = GaugeMetricFamily(
            "certmanager_certificate_challenge_status", "The status of certificate challenges.",
            labels=["status", "domain", "reason", "processing", "name", "namespace", "type"],
        )
        for (ns, name), row in self._table.snapshot(self._table.challenges):
            for state in _CHALLENGE_STATES:
                fam.add_metric(
                    [state, row.domain, row.reason, row.processing, name, ns, row.type],
                    1.0 if row.state == state else 0.0,
                )
        return fam
