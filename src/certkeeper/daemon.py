"""``certkeeper run``: the controller daemon on a host.

It takes a lease in the store so that a second daemon on the same store waits as a
standby, starts every controller, and stops cleanly on SIGTERM/SIGINT. Work survives any
kill: the state lives in the store and controllers simply pick it up again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import datetime as dt
import gc
import importlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .controllers.certificates.issuing import IssuingController
from .controllers.certificates.keymanager import KeyManagerController
from .controllers.certificates.readiness import ReadinessController
from .controllers.certificates.requestmanager import RequestManagerController
from .controllers.certificates.revisions import RevisionManagerController
from .controllers.certificates.trigger import TriggerController
from .controllers.issuers.readiness import IssuerReadinessController
from .controllers.requests.approver import ApproverController
from .controllers.requests.signing import SigningController
from .controllers.shim import factories as shim_factories
from .health import Health, start_health, stop_health
from .issuers.base import Signer
from .issuers.ca import CASigner
from .issuers.selfsigned import SelfSignedSigner
from .metrics import start_metrics, stop_metrics
from .metrics.collectors import api_requests_made
from .runtime.clock import Clock, RealClock
from .runtime.controller import Context, Controller, EventRecorder, Options
from .runtime.events import EventSink
from .runtime.hostlock import HostLock, holder_alive, holder_identity
from .runtime.keypool import SERVICE as KEY_SOURCE
from .runtime.keypool import KeySource, PooledKeys
from .runtime.leader import LeaderLease
from .runtime.manager import Manager
from .store.base import Store
from .store.errors import StoreBroken

log = logging.getLogger("certkeeper.daemon")

LEASE_NAME = "certkeeper-controller"

#: client-go's leader-election watchdog: a leader is not live once its lease has gone
#: unrenewed for the lease duration plus this (cert-manager's default, 20 s)
LEADER_HEALTHZ_TIMEOUT = 20.0


@dataclasses.dataclass
class DaemonOptions:
    secrets_dir: Path | None = None
    on_renew: str | None = None
    #: seconds a hook may run before its process group is killed
    on_renew_timeout: float = 300.0
    #: threads of the hooks' own pool
    on_renew_workers: int = 4
    #: label selector of Secrets written besides those of Certificates
    secrets_selector: str | None = None
    #: group and octal mode of the files (a Certificate may set its own)
    secrets_group: str | None = None
    secrets_mode: str | None = None
    cluster_resource_namespace: str = "cert-manager"
    min_backoff: dt.timedelta = dt.timedelta(hours=1)
    max_backoff: dt.timedelta = dt.timedelta(hours=32)
    enable_certificate_owner_ref: bool = False
    http01_address: str | None = ":80"
    http01_webroot: Path | None = None
    #: port the HTTP-01 self-check connects to (where the ACME server's validation dials);
    #: None: the port of http01_address for the built-in responder, 80 with a webroot
    http01_self_check_port: int | None = None
    acme_http01_solver_nameservers: list[str] = dataclasses.field(default_factory=list)
    dns01_recursive_nameservers: list[str] = dataclasses.field(default_factory=list)
    dns01_recursive_nameservers_only: bool = False
    #: DNS-01 solvers may use the daemon's environment (instance roles ...) when their block
    #: names no credentials: cert-manager's defaults, off for Issuers, on for ClusterIssuers
    issuer_ambient_credentials: bool = False
    cluster_issuer_ambient_credentials: bool = True
    max_concurrent_challenges: int = 60
    #: take the leader lease before acting (off: this daemon always acts)
    leader_elect: bool = True
    #: how long a standby waits on a lease that is not renewed before it takes over
    lease_duration: float = 15.0
    #: how long the leader retries a failing renewal before it stops leading
    lease_renew_deadline: float = 10.0
    #: how often the lease is renewed, or tried by a standby
    lease_retry_period: float = 5.0
    #: threads for controllers that only compute and use the store (one is fastest)
    workers: int = 1
    #: threads for controllers that wait on the network or a hook (ACME, issuers, files)
    io_workers: int = 16
    #: processes that make RSA keys (runtime/keypool.py); None: one per CPU this process
    #: may use; 0: make them in the controllers' thread
    key_processes: int | None = None
    #: cert-manager's internal approver; off means every request waits for `certkeeper approve`
    approve_requests: bool = True
    #: HOST:PORT of the Prometheus endpoint; None, '' or '0' disables it (``certkeeper run``'s
    #: default: 127.0.0.1:9402)
    metrics_listen_address: str | None = None
    #: HOST:PORT of /livez and /readyz for the kubelet's probes; None, '' or '0' disables it
    #: (``certkeeper run``'s default: 127.0.0.1:9403)
    healthz_listen_address: str | None = None
    #: answer HTTP-01 with solver Pods, Services and Ingresses/HTTPRoutes (a cluster)
    #: instead of the built-in responder or the webroot (a host)
    http01_solver_pods: bool = False
    acme_http01_solver_image: str = f"localhost/certkeeper:{__version__}"
    acme_http01_solver_resource_request_cpu: str = "10m"
    acme_http01_solver_resource_request_memory: str = "64Mi"
    acme_http01_solver_resource_limits_cpu: str = "100m"
    acme_http01_solver_resource_limits_memory: str = "64Mi"
    acme_http01_solver_run_as_non_root: bool = True
    #: Certificates from annotated Ingresses (on a cluster; a host keeps no Ingresses)
    ingress_shim: bool = False
    #: the gateway-shim, and HTTPRoutes for gatewayHTTPRoute solvers
    enable_gateway_api: bool = False
    #: the issuer of Ingresses annotated only with an auto-certificate annotation
    default_issuer_name: str = ""
    default_issuer_kind: str = "Issuer"
    default_issuer_group: str = "cert-manager.io"
    auto_certificate_annotations: list[str] = dataclasses.field(default_factory=lambda: ["kubernetes.io/tls-acme"])
    #: annotations copied from an Ingress or Gateway to its Certificates
    extra_certificate_annotations: list[str] = dataclasses.field(default_factory=list)
    #: listener protocols besides HTTPS and TLS that get a Certificate
    gateway_api_extra_protocols: list[str] = dataclasses.field(default_factory=list)


def signers() -> dict[str, Signer]:
    out: dict[str, Signer] = {"selfSigned": SelfSignedSigner(), "ca": CASigner()}
    acme = _optional("certkeeper.issuers.acme", "ACMESigner")
    if acme is not None:
        out["acme"] = acme()
    return out


def _optional(module: str, attr: str) -> Any:
    """A piece that a build may leave out (ACME) is looked up, not imported by name."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def controller_factories(opts: DaemonOptions) -> list[Callable[[Context], Controller]]:
    sig = signers()
    factories: list[Callable[[Context], Controller]] = [
        lambda ctx: IssuerReadinessController(ctx, sig),
        lambda ctx: IssuerReadinessController(ctx, sig, cluster=True),
        TriggerController,
        KeyManagerController,
        RequestManagerController,
        lambda ctx: SigningController(ctx, sig),
        IssuingController,
        ReadinessController,
        RevisionManagerController,
    ]
    if opts.approve_requests:
        factories.append(ApproverController)
    acme_factories = _optional("certkeeper.controllers.acme", "factories")
    if acme_factories is not None:
        factories.extend(acme_factories(opts))
    if opts.secrets_dir is not None:
        factories.extend(files_settings(opts).factories())
    factories.extend(shim_factories(opts))
    return factories


def files_settings(opts: DaemonOptions) -> Any:
    """The files and hook flags, checked (ValueError names the flag); host only."""
    from .controllers.files import FilesSettings  # noqa: PLC0415 - host only

    assert opts.secrets_dir is not None
    return FilesSettings.from_flags(
        opts.secrets_dir, opts.on_renew, opts.on_renew_timeout, opts.secrets_selector,
        opts.secrets_group, opts.secrets_mode,
    )


def build_manager(
    store: Store, opts: DaemonOptions, clock: Clock | None = None, keys: KeySource | None = None
) -> Manager:
    """The controllers on ``store``; new private keys from ``keys`` (None: made inline,
    which is what a test stepping the controllers with ``settle`` wants)."""
    clock = clock or RealClock()
    ctx = Context(
        store=store,
        clock=clock,
        recorder=EventRecorder(sink=EventSink(store, clock)),
        options=Options(
            cluster_resource_namespace=opts.cluster_resource_namespace,
            min_backoff=opts.min_backoff,
            max_backoff=opts.max_backoff,
            enable_certificate_owner_ref=opts.enable_certificate_owner_ref,
            extra={"daemon": opts},
        ),
    )
    if keys is not None:
        ctx.services[KEY_SOURCE] = keys
    return Manager(
        ctx, controller_factories(opts),
        workers={"main": opts.workers, "io": opts.io_workers, "hooks": opts.on_renew_workers},
    )


def release_memory() -> None:
    """Hand back to the system what the start-up sweep freed. Decoding every stored object
    leaves the C heap full of freed JSON buffers that glibc keeps unless asked; an idle
    daemon should hold what it uses, not what it once touched."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to ask
        pass


def _report_initial_sync(manager: Manager, started: float, stop: threading.Event) -> None:
    """Log once when the initial reconcile of everything stored is done: the moment the
    daemon is up to date, which is what start-up time means to a person."""
    while not stop.wait(0.05):
        if manager.idle():
            timers = manager.pending_timers()
            release_memory()
            log.info(
                "initial sync done in %.2fs: %d reconciles, %d timers pending",
                time.monotonic() - started, manager.syncs, timers,
            )
            return


def run(store: Store, opts: DaemonOptions, stop: threading.Event) -> int:
    """Block until ``stop`` is set. Returns the exit status."""
    if opts.secrets_dir is not None:
        try:
            for warning in files_settings(opts).check():
                log.warning("%s", warning)
        except ValueError as e:  # a flag or the folder: nothing would be written
            log.error("%s", e)
            return 2
    lock = HostLock(store)
    renew_every = opts.lease_retry_period
    # the loops below beat at least every renew_every; a few missed beats mean a wedged daemon
    health = Health(stall_after=max(2 * opts.lease_duration, 30.0))
    probes = start_health(health, opts.healthz_listen_address)
    try:
        if not lock.try_acquire():
            log.info("another certkeeper daemon is running on this store; waiting as a standby")
            health.set_ready(True)
            while not stop.wait(min(renew_every, 1.0)):
                health.beat()
                if lock.try_acquire():
                    break
            else:
                lock.release()
                return 0
        try:
            return _run_leader(store, opts, stop, lock, health)
        finally:
            lock.release()
    finally:
        stop_health(probes)


def _run_leader(store: Store, opts: DaemonOptions, stop: threading.Event, lock: HostLock, health: Health) -> int:
    holder = holder_identity()
    renew_every = opts.lease_retry_period
    lease = LeaderLease(
        store, LEASE_NAME, holder, opts.lease_duration, opts.lease_renew_deadline, opts.lease_retry_period,
        exclusive=lock.exclusive_on_host,
    )
    health.set_ready(False, "starting the controllers")
    try:
        if not opts.leader_elect:
            log.info("leader election is off: acting at once")
        else:
            lease.free_dead_holder(lock.previous_holder, holder_alive)
            if not lease.try_acquire():
                log.info("another certkeeper daemon holds the lease %s; waiting as a standby", LEASE_NAME)
                health.set_ready(True)
                while not stop.wait(renew_every):
                    health.beat()
                    if lease.try_acquire():
                        break
                else:
                    return 0
                health.set_ready(False, "starting the controllers")
    except StoreBroken as e:
        log.error("%s; stopping", e)
        return 1
    lock.record(holder)
    if opts.leader_elect:
        log.info("acquired lease %s as %s; starting controllers", LEASE_NAME, holder)
    started = time.monotonic()
    # started on the first RSA key, not now
    keys = PooledKeys(opts.key_processes) if opts.key_processes != 0 else None
    manager = build_manager(store, opts, keys=keys)
    manager.start()
    metrics = start_metrics(manager, opts.metrics_listen_address)
    manager.run_workers()
    log.info(
        "serving in %.2fs: watching the store, %d timers armed; verifying every stored object behind live work",
        time.monotonic() - started, manager.pending_timers(),
    )
    threading.Thread(target=_report_initial_sync, args=(manager, started, stop), daemon=True).start()
    health.set_ready(True)
    if opts.leader_elect and not lease.exclusive:
        health.watch_lease(lease.renewed_at, opts.lease_duration + LEADER_HEALTHZ_TIMEOUT)
    try:
        while not stop.wait(renew_every):
            health.beat()
            if why := lock.lost(holder):
                log.error("%s; stopping so that only one daemon acts on the store", why)
                return 1
            if opts.leader_elect and not lease.still_leading():
                log.error("lost the lease %s; stopping so that only one daemon issues", LEASE_NAME)
                return 1
    finally:
        health.set_ready(False, "stopping")
        health.watch_lease(None, 0)
        stop_metrics(metrics)
        manager.stop()
        if keys is not None:
            keys.close()
            log.info("key workers stopped; they made %d keys", keys.made)
        if opts.leader_elect:
            lease.release()
        made = api_requests_made(store)
        if made is None:
            log.info("stopped")
        else:
            log.info("stopped after %d requests to the Kubernetes API", made)
    return 0
