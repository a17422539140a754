"""cmctl's write verbs: ``renew``, ``approve`` and ``deny``.

All three write only the status (update_status), as cmctl does, and re-read on a
resourceVersion conflict since the daemon may be writing the same object.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TypeVar

import click

from ..api import constants as c
from ..api.certificate import Certificate, CertificateRequest, CertificateRequestStatus, CertificateStatus
from ..api.meta import Resource, get_condition, set_condition
from ..store import Conflict, NotFound, Store, StoreError
from .reads import list_dicts, name_of, namespace_of
from .state import fail, global_options, resolve_name, server_error, state

R = TypeVar("R", bound=Resource)

RENEW_MESSAGE = "Certificate re-issuance manually triggered"
DEFAULT_REASON = "KubectlCertManager"
APPROVE_MESSAGE = 'manually approved by "cmctl"'
DENY_MESSAGE = 'manually denied by "cmctl"'
_RETRIES = 5


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def update_status_with(store: Store, cls: type[R], namespace: str | None, name: str, change: Callable[[R], None]) -> R:
    """Read, change, write the status; again on a conflict. ``change`` may raise to refuse."""
    for _ in range(_RETRIES):
        obj = store.get(cls, namespace, name)
        change(obj)
        try:
            return store.update_status(obj)
        except Conflict:
            continue
    raise Conflict(f'{cls.KIND} "{namespace}/{name}" kept changing; try again')


def trigger_renewal(cert: Certificate, now: _dt.datetime) -> None:
    status = cert.status or CertificateStatus()
    status.conditions = set_condition(
        status.conditions, c.COND_ISSUING, "True", c.MANUALLY_TRIGGERED, RENEW_MESSAGE, now,
        observed_generation=cert.metadata.generation,
    )
    cert.status = status


@click.command("renew")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Renew every Certificate in the namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="With --all: in every namespace.")
@click.option("-l", "--selector", default=None, help="Renew the Certificates matching this label selector.")
@global_options()
def renew_cmd(names: tuple[str, ...], all_: bool, all_namespaces: bool, selector: str | None) -> None:
    """Mark Certificates for manual renewal (Issuing=True, bypassing the failure back-off)."""
    st = state()
    if names and (all_ or selector):
        fail("error: cannot specify Certificate names in conjunction with label selectors or --all flag")
    if not names and not (all_ or selector):
        fail("error: please supply one or more Certificate resource names, a label selector or use the --all flag")
    if all_namespaces and not (all_ or selector):
        fail("error: --all-namespaces requires --all or a label selector")
    store = st.store()
    targets: list[tuple[str | None, str]]
    if names:
        targets = [(st.ns, n) for n in names]
    else:
        ns = None if all_namespaces else st.ns
        found = list_dicts(store, resolve_name("certificates"), ns, selector)
        targets = [(namespace_of(d), name_of(d)) for d in found]
    failed = False
    for ns_, name in targets:
        try:
            update_status_with(store, Certificate, ns_, name, lambda cert: trigger_renewal(cert, _now()))
        except StoreError as e:
            click.echo(f"error: failed to trigger issuance of Certificate {ns_}/{name}: {server_error(e)}", err=True)
            failed = True
            continue
        click.echo(f"Manually triggered issuance of Certificate {ns_}/{name}")
    if failed:
        raise click.exceptions.Exit(1)


class Refused(Exception):
    pass


def _decide(ctype: str, reason: str, message: str) -> Callable[[CertificateRequest], None]:
    def change(cr: CertificateRequest) -> None:
        status = cr.status or CertificateRequestStatus()
        if get_condition(status.conditions, c.COND_APPROVED) is not None:
            raise Refused(f'CertificateRequest "{cr.namespace}/{cr.name}" is already approved')
        if get_condition(status.conditions, c.COND_DENIED) is not None:
            raise Refused(f'CertificateRequest "{cr.namespace}/{cr.name}" is already denied')
        status.conditions = set_condition(status.conditions, ctype, "True", reason, message, _now())
        cr.status = status

    return change


def _approve_or_deny(name: str, ctype: str, reason: str, message: str, done: str) -> None:
    st = state()
    store = st.store()
    try:
        update_status_with(store, CertificateRequest, st.ns, name, _decide(ctype, reason, message))
    except Refused as e:
        fail(f"error: {e}")
    except NotFound as e:
        fail(server_error(e))
    except StoreError as e:
        fail(f"error: failed to update CertificateRequest {st.ns}/{name}: {server_error(e)}")
    click.echo(f"{done} CertificateRequest '{st.ns}/{name}'")


@click.command("approve")
@click.argument("name")
@click.option("--reason", default=DEFAULT_REASON, show_default=True, help="Reason of the Approved condition.")
@click.option("--message", default=APPROVE_MESSAGE, show_default=True, help="Message of the Approved condition.")
@global_options()
def approve_cmd(name: str, reason: str, message: str) -> None:
    """Approve a CertificateRequest (refused if already approved or denied)."""
    _approve_or_deny(name, c.COND_APPROVED, reason, message, "Approved")


@click.command("deny")
@click.argument("name")
@click.option("--reason", default=DEFAULT_REASON, show_default=True, help="Reason of the Denied condition.")
@click.option("--message", default=DENY_MESSAGE, show_default=True, help="Message of the Denied condition.")
@global_options()
def deny_cmd(name: str, reason: str, message: str) -> None:
    """Deny a CertificateRequest (refused if already approved or denied)."""
    _approve_or_deny(name, c.COND_DENIED, reason, message, "Denied")
