"""``certkeeper run``: the daemon in the foreground, logging to stderr.

SIGTERM and SIGINT only set the stop Event: the daemon finishes what it is doing,
releases its lease and returns 0, so a service manager sees a clean stop.
"""

from __future__ import annotations

import datetime as _dt
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from ..pki.durations import parse_duration
from .logs import configure_logging
from .state import CliState, global_options, state


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> _dt.timedelta:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    seconds = _duration(ctx, param, value).total_seconds()
    if seconds <= 0:
        raise click.BadParameter("must be positive", ctx, param)
    return seconds


def _optional_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else _seconds(ctx, param, value)


def _host_ports(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    for item in items:
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise click.BadParameter(f"{item!r} is not HOST:PORT", ctx, param)
    return items


@click.command("run")
@click.option("--secrets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the Secrets of Certificates as files under DIR/<namespace>/<name>/ "
                   "(a folder of certkeeper's own).")
@click.option("--secrets-selector", default=None, metavar="SELECTOR",
              help="Also write the Secrets matching this label selector (e.g. certkeeper.io/files=true).")
@click.option("--secrets-group", default=None, metavar="GROUP",
              help="Group of the written files (name or gid), e.g. the group a non-root nginx runs as.")
@click.option("--secrets-mode", default=None, metavar="MODE",
              help="Octal mode of the written files (default 0600; e.g. 0640 with --secrets-group).")
@click.option("--on-renew", default=None, metavar="CMD", help="Command run after a Certificate's files change.")
@click.option("--on-renew-timeout", default="5m", show_default=True, callback=_seconds,
              help="How long the hook may run before its process group is killed (Go duration).")
@click.option("--on-renew-workers", type=click.IntRange(min=1), default=4, show_default=True,
              help="Hooks run at the same time, in a pool of their own.")
@click.option("--cluster-resource-namespace", default="cert-manager", show_default=True,
              help="Namespace of the Secrets that ClusterIssuers refer to.")
@click.option("--http01-address", default=":80", show_default=True, metavar="HOST:PORT",
              help="Address of the built-in HTTP-01 responder ('' to disable).")
@click.option("--http01-webroot", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write HTTP-01 tokens under DIR/.well-known/acme-challenge instead.")
@click.option("--acme-http01-solver-nameservers", default=None, callback=_host_ports, metavar="HOST:PORT,...",
              help="Nameservers for the HTTP-01 self check.")
@click.option("--dns01-recursive-nameservers", default=None, callback=_host_ports, metavar="HOST:PORT,...",
              help="Recursive nameservers for DNS-01 propagation checks.")
@click.option("--dns01-recursive-nameservers-only", is_flag=True,
              help="Use only the recursive nameservers for DNS-01 checks.")
@click.option("--issuer-ambient-credentials", type=click.BOOL, default=False, show_default=True,
              help="Let Issuers' DNS-01 solvers use credentials from the daemon's environment.")
@click.option("--cluster-issuer-ambient-credentials", type=click.BOOL, default=True, show_default=True,
              help="Let ClusterIssuers' DNS-01 solvers use credentials from the daemon's environment.")
@click.option("--max-concurrent-challenges", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--certificate-request-minimum-backoff-duration", "min_backoff", default="1h", show_default=True,
              callback=_duration, help="First back-off after a failed issuance (Go duration).")
@click.option("--certificate-request-maximum-backoff-duration", "max_backoff", default="32h", show_default=True,
              callback=_duration, help="Longest back-off after failed issuances (Go duration).")
@click.option("--enable-certificate-owner-ref", is_flag=True,
              help="Make each Certificate the owner of its Secret (deleted with it).")
@click.option("--disable-auto-approval", "approve_requests", is_flag=True, flag_value=False, default=True,
              help="Do not approve CertificateRequests: each waits for `certkeeper approve` or `deny`.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads for the controllers that only compute and use the store.")
@click.option("--io-workers", type=click.IntRange(min=1), default=16, show_default=True,
              help="Threads for the controllers that wait on the network or a hook (ACME, issuers, files).")
@click.option("--key-processes", type=click.IntRange(min=0), default=None,
              help="Processes that make RSA private keys, started on the first one "
                   "(default: one per CPU this process may use; 0: in the controllers' thread).")
@click.option("--metrics-listen-address", default="127.0.0.1:9402", show_default=True, metavar="HOST:PORT",
              help="Serve Prometheus /metrics here (cert-manager's port; 0.0.0.0:9402 to be scraped from "
                   "elsewhere); '' or 0 turns it off.")
@click.option("--healthz-listen-address", default="127.0.0.1:9403", show_default=True, metavar="HOST:PORT",
              help="Serve /livez and /readyz for a kubelet's probes here (cert-manager's port); '' or 0 "
                   "turns it off.")
@click.option("--leader-elect", type=click.BOOL, default=True, show_default=True, metavar="BOOL",
              help="Take the leader Lease before acting, so that one of several replicas acts "
                   "(--leader-elect=false: this one always acts).")
@click.option("--leader-election-namespace", default="kube-system", show_default=True,
              help="Namespace of the leader Lease on a cluster.")
@click.option("--leader-election-lease-duration", "lease_duration", default=None, callback=_optional_seconds,
              metavar="DURATION", help="How long a standby waits before taking over a leader's Lease "
                                       "(default 60s on a cluster, 15s on a host).")
@click.option("--leader-election-renew-deadline", "lease_renew_deadline", default=None,
              callback=_optional_seconds, metavar="DURATION",
              help="How long the leader retries renewing before it gives up leading "
                   "(default 40s on a cluster, 10s on a host).")
@click.option("--leader-election-retry-period", "lease_retry_period", default=None, callback=_optional_seconds,
              metavar="DURATION", help="How often the Lease is renewed or tried "
                                       "(default 15s on a cluster, 5s on a host).")
@click.option("--kube-api-qps", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Requests per second to the Kubernetes API (0: no limit).")
@click.option("--kube-api-burst", type=click.IntRange(min=1), default=50, show_default=True,
              help="Requests above the rate allowed in a burst.")
@click.option("--acme-http01-solver-image", default=None, metavar="IMAGE",
              help="Image of the HTTP-01 solver Pods in a cluster (default: this version's certkeeper image).")
@click.option("--acme-http01-solver-resource-request-cpu", default="10m", show_default=True)
@click.option("--acme-http01-solver-resource-request-memory", default="64Mi", show_default=True)
@click.option("--acme-http01-solver-resource-limits-cpu", default="100m", show_default=True)
@click.option("--acme-http01-solver-resource-limits-memory", default="64Mi", show_default=True)
@click.option("--acme-http01-solver-run-as-non-root", type=click.BOOL, default=True, show_default=True,
              metavar="BOOL", help="Run the solver Pods with runAsNonRoot.")
@click.option("--enable-gateway-api", is_flag=True,
              help="Keep Certificates for annotated Gateways (gateway-shim) and answer gatewayHTTPRoute "
                   "HTTP-01 solvers (needs the Gateway API CRDs).")
@click.option("--default-issuer-name", default="", help="Issuer of Ingresses annotated only with "
                                                          "kubernetes.io/tls-acme (ingress-shim).")
@click.option("--default-issuer-kind", default="Issuer", show_default=True)
@click.option("--default-issuer-group", default="cert-manager.io", show_default=True)
@click.option("--auto-certificate-annotations", default="kubernetes.io/tls-acme", show_default=True,
              callback=lambda _c, _p, v: [x.strip() for x in v.split(",") if x.strip()], metavar="A,...",
              help="Ingress annotations that, when true, ask for a Certificate from the default issuer.")
@click.option("--extra-certificate-annotations", default="", metavar="A,...",
              callback=lambda _c, _p, v: [x.strip() for x in v.split(",") if x.strip()],
              help="Annotations copied from an Ingress or Gateway to its Certificates.")
@click.option("--gateway-api-extra-protocols", default="", metavar="P,...",
              callback=lambda _c, _p, v: [x.strip() for x in v.split(",") if x.strip()],
              help="Listener protocols besides HTTPS and TLS that get a Certificate.")
@global_options()
def run_cmd(**flags: Any) -> None:
    """Run the controllers in the foreground until SIGTERM or SIGINT."""
    st = state()
    configure_logging(st.verbose)
    stop = threading.Event()
    log = logging.getLogger("certkeeper.cli")

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    # before the slow imports: a stop requested while starting is still a clean stop
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = _run(st, stop, flags)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    raise click.exceptions.Exit(code)


def _run(st: CliState, stop: threading.Event, flags: dict[str, Any]) -> int:
    """The flags are named after DaemonOptions' fields, so they pass straight through."""
    # imported here: the controllers are a third of the start-up time of every other verb
    from ..daemon import DaemonOptions, run

    flags["http01_address"] = flags["http01_address"] or None
    qps, burst = flags.pop("kube_api_qps"), flags.pop("kube_api_burst")
    lease_namespace = flags.pop("leader_election_namespace")
    on_cluster = st.on_cluster()
    if on_cluster:
        # cert-manager's --namespace: watch and act in that namespace only
        st.cluster_options = {
            "cached": True, "qps": qps, "burst": burst,
            "lease_namespace": lease_namespace, "namespace": st.namespace,
        }
    # Ingresses are kept only in a cluster: the ingress-shim runs there, as in cert-manager
    flags["ingress_shim"] = on_cluster
    # HTTP-01: solver Pods in a cluster, the built-in responder or a webroot on a host
    flags["http01_solver_pods"] = on_cluster
    if flags["acme_http01_solver_image"] is None:
        flags.pop("acme_http01_solver_image")
    # cert-manager's timings on a cluster; a host's store is local and fails over faster
    defaults = (60.0, 40.0, 15.0) if on_cluster else (15.0, 10.0, 5.0)
    for name, default in zip(("lease_duration", "lease_renew_deadline", "lease_retry_period"), defaults, strict=True):
        if flags[name] is None:
            flags[name] = default
    if flags["secrets_dir"] is None:
        for flag in ("on_renew", "secrets_selector", "secrets_group", "secrets_mode"):
            if flags[flag] is not None:
                raise click.UsageError(f"--{flag.replace('_', '-')} needs --secrets-dir: without it no file is written")
    return run(st.store(create=True), DaemonOptions(**flags), stop)
