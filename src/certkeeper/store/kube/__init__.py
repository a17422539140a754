"""The Kubernetes backend of the Store protocol: the same controllers against a real API
server, with watch-fed caches, Leases and Events (``docs/kubernetes.md``)."""

from __future__ import annotations

from ...runtime.clock import Clock
from .client import KubeClient
from .config import ClusterConfig, ConfigError, load_config
from .store import KubeStore, default_holder

__all__ = ["ClusterConfig", "ConfigError", "KubeClient", "KubeStore", "default_holder", "load_config", "open_kube_store"]


def open_kube_store(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    cached: bool = False,
    clock: Clock | None = None,
    namespace: str | None = None,
    lease_namespace: str = "kube-system",
    qps: float = 20.0,
    burst: int = 50,
) -> KubeStore:
    """A store on the cluster that kubectl would use with the same flags."""
    cfg = load_config(kubeconfig, context)
    client = KubeClient(cfg, qps=qps, burst=burst)
    return KubeStore(client, clock=clock, cached=cached, namespace=namespace, lease_namespace=lease_namespace)
