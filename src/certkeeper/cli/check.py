"""``certkeeper check api``: is the API ready to take cert-manager's resources?

On a cluster this is cmctl's check (and cert-manager's startupapicheck): a Certificate is
created with ``dryRun=All``, which passes through the CRD's schema and every admission
webhook without storing anything, so a missing CRD, a webhook that is not serving or whose
CA is not injected yet all show as "not ready" with the API server's own words. On a host
the store is the API: it is ready once it opens and answers a read.
"""

from __future__ import annotations

import json
import threading
import time

import click

from ..api.certificate import Certificate, CertificateSpec
from ..api.common import IssuerReference
from ..pki.durations import parse_duration
from ..store import NotFound, Store, StoreError
from .state import CliState, fail, global_options, server_error, state

READY = "The cert-manager API is ready"


def _probe() -> Certificate:
    return Certificate.new(
        "cmapichecker", None,
        spec=CertificateSpec(dns_names=["cmapichecker.example.com"], secret_name="cmapichecker",
                             issuer_ref=IssuerReference(name="cmapichecker")),
    )


def api_problem(st: CliState, store: Store) -> str | None:
    """None when the API is ready, else why not."""
    client = getattr(store, "client", None)
    try:
        if client is None:
            store.list(Certificate, st.ns)
            return None
        from ..store.kube.client import GVR  # noqa: PLC0415 - cluster only

        body = _probe().to_dict()
        body["metadata"] = {"generateName": "cmapichecker-", "namespace": st.ns}
        client.request("POST", GVR.of(Certificate).path(st.ns), params={"dryRun": "All"},
                       body=json.dumps(body).encode())
    except NotFound as e:
        return f"the cert-manager CRDs are not installed ({server_error(e)})"
    except StoreError as e:
        return server_error(e)
    return None


@click.group("check")
def check_group() -> None:
    """Check the readiness of cert-manager's API (cmctl's check)."""


@check_group.command("api")
@click.option("--wait", "wait", default="0s", show_default=True, metavar="DURATION",
              help="Keep checking until the API is ready or this long has passed.")
@click.option("--interval", default="5s", show_default=True, metavar="DURATION",
              help="Time between checks with --wait.")
@global_options()
def check_api_cmd(wait: str, interval: str) -> None:
    """Report whether the API (CRDs and webhook on a cluster; the store on a host) is ready."""
    st = state()
    try:
        limit = parse_duration(wait).total_seconds()
        every = parse_duration(interval).total_seconds()
    except ValueError as e:
        fail(f"error: {e}")
    if every <= 0:
        fail("error: --interval must be positive")
    deadline = time.monotonic() + limit
    store = st.store()
    pause = threading.Event()
    while True:
        problem = api_problem(st, store)
        if problem is None:
            click.echo(READY)
            return
        if time.monotonic() >= deadline:
            if limit > 0:
                fail(f"error: timed out after {wait}: Not ready: {problem}")
            fail(f"Not ready: {problem}")
        if st.verbose:
            click.echo(f"Not ready: {problem}", err=True)
        pause.wait(min(every, max(0.0, deadline - time.monotonic())))
