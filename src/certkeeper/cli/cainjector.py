"""``certkeeper cainjector``: the CA injector in the foreground, leader-elected like ``run``.

Two replicas writing the same ``caBundle`` would only race, so one leads on the
``certkeeper-cainjector`` Lease and a standby takes over when it stops renewing. Losing
the lease ends the process (exit 1), as cert-manager's components do, so the kubelet
restarts it as a standby.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import click

from .logs import configure_logging
from .run import _seconds
from .state import fail, global_options, state

LEASE_NAME = "certkeeper-cainjector"


@click.command("cainjector")
@click.option("--leader-elect", type=click.BOOL, default=True, show_default=True, metavar="BOOL",
              help="Take the leader Lease before acting.")
@click.option("--leader-election-namespace", default="kube-system", show_default=True)
@click.option("--leader-election-lease-duration", "lease_duration", default="60s", show_default=True,
              callback=_seconds)
@click.option("--leader-election-renew-deadline", "renew_deadline", default="40s", show_default=True,
              callback=_seconds)
@click.option("--leader-election-retry-period", "retry_period", default="15s", show_default=True,
              callback=_seconds)
@click.option("--kube-api-qps", type=click.FloatRange(min=0), default=20.0, show_default=True)
@click.option("--kube-api-burst", type=click.IntRange(min=1), default=50, show_default=True)
@global_options()
def cainjector_cmd(**flags: Any) -> None:
    """Inject CA bundles into webhook configurations, CRDs and APIServices until SIGTERM."""
    from ..cainjector.injector import Injector
    from ..runtime.leader import LeaderLease
    from ..store.kube import ConfigError, KubeClient, KubeStore, default_holder, load_config

    st = state()
    configure_logging(st.verbose)
    log = logging.getLogger("certkeeper.cainjector")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            cfg = load_config(st.kubeconfig, st.context)
        except ConfigError as e:
            fail(f"error: {e}")
        client = KubeClient(cfg, qps=flags["kube_api_qps"], burst=flags["kube_api_burst"])
        injector = Injector(client, cfg.ca_data)
        lease: LeaderLease | None = None
        if flags["leader_elect"]:
            store = KubeStore(client, lease_namespace=flags["leader_election_namespace"])
            lease = LeaderLease(store, LEASE_NAME, default_holder(), flags["lease_duration"],
                                flags["renew_deadline"], flags["retry_period"])
            log.info("waiting for lease %s/%s", flags["leader_election_namespace"], LEASE_NAME)
            while not lease.try_acquire():
                if stop.wait(flags["retry_period"]):
                    return
            log.info("acquired lease %s as %s; injecting", LEASE_NAME, lease.holder)
        else:
            log.info("injecting (no leader election)")
        ended = injector.run(stop, lease.still_leading if lease else None, check_every=flags["retry_period"])
        if lease is not None:
            if ended:
                lease.release()
            else:
                log.error("lost lease %s; exiting", LEASE_NAME)
                raise click.exceptions.Exit(1)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
