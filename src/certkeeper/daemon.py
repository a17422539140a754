"""``certkeeper run``: the controller daemon on a host.

It takes a lease in the store so that a second daemon on the same store waits as a
standby, starts every controller, and stops cleanly on SIGTERM/SIGINT. Work survives any
kill: the state lives in the store and controllers simply pick it up again.
"""

from __future__ import annotations

import dataclasses
import importlib
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .controllers.certificates.issuing import IssuingController
from .controllers.certificates.keymanager import KeyManagerController
from .controllers.certificates.readiness import ReadinessController
from .controllers.certificates.requestmanager import RequestManagerController
from .controllers.certificates.revisions import RevisionManagerController
from .controllers.certificates.trigger import TriggerController
from .controllers.issuers.readiness import IssuerReadinessController
from .controllers.requests.approver import ApproverController
from .controllers.requests.signing import SigningController
from .issuers.base import Signer
from .issuers.ca import CASigner
from .issuers.selfsigned import SelfSignedSigner
from .runtime.clock import Clock, RealClock
from .runtime.controller import Context, Controller, Options
from .runtime.manager import Manager
from .store.base import Store

log = logging.getLogger("certkeeper.daemon")

LEASE_NAME = "certkeeper-controller"


@dataclasses.dataclass
class DaemonOptions:
    secrets_dir: Path | None = None
    on_renew: str | None = None
    cluster_resource_namespace: str = "cert-manager"
    min_backoff: dt.timedelta = dt.timedelta(hours=1)
    max_backoff: dt.timedelta = dt.timedelta(hours=32)
    enable_certificate_owner_ref: bool = False
    http01_address: str | None = ":80"
    http01_webroot: Path | None = None
    acme_http01_solver_nameservers: list[str] = dataclasses.field(default_factory=list)
    dns01_recursive_nameservers: list[str] = dataclasses.field(default_factory=list)
    dns01_recursive_nameservers_only: bool = False
    max_concurrent_challenges: int = 60
    lease_duration: float = 15.0
    #: cert-manager's internal approver; off means every request waits for `certkeeper approve`
    approve_requests: bool = True


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
        from .controllers.files import SecretFilesController  # noqa: PLC0415 - host only

        root = opts.secrets_dir
        hook = opts.on_renew
        factories.append(lambda ctx: SecretFilesController(ctx, root, hook))
    return factories


def build_manager(store: Store, opts: DaemonOptions, clock: Clock | None = None) -> Manager:
    ctx = Context(
        store=store,
        clock=clock or RealClock(),
        options=Options(
            cluster_resource_namespace=opts.cluster_resource_namespace,
            min_backoff=opts.min_backoff,
            max_backoff=opts.max_backoff,
            enable_certificate_owner_ref=opts.enable_certificate_owner_ref,
            extra={"daemon": opts},
        ),
    )
    return Manager(ctx, controller_factories(opts))


def run(store: Store, opts: DaemonOptions, stop: threading.Event) -> int:
    """Block until ``stop`` is set. Returns the exit status."""
    holder = f"{socket.gethostname()}-{os.getpid()}"
    renew_every = opts.lease_duration / 3
    if not store.acquire_lease(LEASE_NAME, holder, opts.lease_duration):
        log.info("another certkeeper daemon holds the lease on this store; waiting as a standby")
        while not stop.wait(renew_every):
            if store.acquire_lease(LEASE_NAME, holder, opts.lease_duration):
                break
        else:
            return 0
    log.info("acquired lease %s as %s; starting controllers", LEASE_NAME, holder)
    manager = build_manager(store, opts)
    manager.start()
    manager.run_workers()
    try:
        while not stop.wait(renew_every):
            if not store.acquire_lease(LEASE_NAME, holder, opts.lease_duration):
                log.error("lost the lease %s; stopping so that only one daemon issues", LEASE_NAME)
                return 1
    finally:
        manager.stop()
        store.release_lease(LEASE_NAME, holder)
        log.info("stopped")
    return 0
