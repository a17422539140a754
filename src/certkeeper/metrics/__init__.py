"""Prometheus metrics of the daemon, named and labelled as cert-manager's controller's."""

from .server import MetricsServer, start_metrics, stop_metrics

__all__ = ["MetricsServer", "start_metrics", "stop_metrics"]
