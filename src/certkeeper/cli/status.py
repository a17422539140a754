"""``certkeeper status certificate``: cmctl's one-page answer to "why is my certificate
(not) ready?", gathered from the Certificate, its Issuer, its Secret, the current
CertificateRequest and, for ACME, the request's Order and Challenges."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import click

from ..api import constants as c
from ..api import registry
from ..api.certificate import Certificate, CertificateRequest
from ..api.core import TLS_CERT, Secret
from ..api.issuer import ClusterIssuer, Issuer
from ..api.meta import Condition, Resource, format_time, get_condition, parse_time
from ..store import NotFound, Store
from .events import event_lines, events_for
from .state import fail, global_options, server_error, state

DEFAULT_MIN_BACKOFF = _dt.timedelta(hours=1)
DEFAULT_MAX_BACKOFF = _dt.timedelta(hours=32)


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else line for line in text.rstrip("\n").split("\n")]


def _condition_line(cond: Condition) -> str:
    return f"{cond.type}: {cond.status}, Reason: {cond.reason or ''}, Message: {cond.message or ''}"


def _conditions(conds: list[Condition] | None, prefix: str) -> list[str]:
    if not conds:
        return [f"{prefix}No Conditions set"]
    return [prefix + _condition_line(x) for x in conds]


def _revision(cr: CertificateRequest) -> int | None:
    try:
        return int(cr.annotations().get(c.ANN_REVISION, ""))
    except ValueError:
        return None


def current_request(store: Store, cert: Certificate) -> CertificateRequest | None:
    """The request for the next revision (the one being worked on), else the one whose
    certificate is in the Secret: cmctl's choice."""
    owned = store.list(CertificateRequest, namespace=cert.namespace, owner_uid=cert.uid)
    revision = cert.status.revision if cert.status and cert.status.revision else 0
    by_rev = {_revision(cr): cr for cr in owned}
    return by_rev.get(revision + 1) or by_rev.get(revision)


def _issuer(store: Store, cert: Certificate) -> Resource | None:
    ref = cert.spec.issuer_ref
    if ref is None or not ref.name or ref.group_or_default() != "cert-manager.io":
        return None
    if ref.kind_or_default() == "ClusterIssuer":
        return store.try_get(ClusterIssuer, None, ref.name)
    return store.try_get(Issuer, cert.namespace, ref.name)


def _issuer_lines(store: Store, cert: Certificate) -> list[str]:
    ref = cert.spec.issuer_ref
    if ref is None:
        return ["Issuer: <none>"]
    issuer = _issuer(store, cert)
    lines = ["Issuer:", f"  Name: {ref.name}", f"  Kind: {ref.kind_or_default()}"]
    if ref.group:
        lines.append(f"  Group: {ref.group}")
    if issuer is None:
        kind = ref.kind_or_default()
        if ref.group_or_default() != "cert-manager.io":
            lines.append(f"  (an external issuer of group {ref.group}; not inspected)")
        else:
            lines.append(f'  error when finding {kind} "{ref.name}": not found')
        return lines
    status = getattr(issuer, "status", None)
    lines.append("  Conditions:")
    lines += _conditions(getattr(status, "conditions", None), "    ")
    return lines


def _secret_lines(store: Store, cert: Certificate) -> list[str]:
    name = cert.spec.secret_name or ""
    secret = store.try_get(Secret, cert.namespace, name)
    if secret is None:
        return ["Secret:", f"  Name: {name}", f'  error when finding Secret "{name}": not found']
    lines = ["Secret:", f"  Name: {name}"]
    pem = secret.get(TLS_CERT)
    if not pem:
        return [*lines, "  No certificate in the Secret (tls.crt is empty)"]
    from ..pki.inspect import describe_certificate_pem  # cryptography: only with a certificate to show

    try:
        lines += _indent(describe_certificate_pem(pem), "  ")
    except ValueError as e:
        lines.append(f"  error when parsing 'tls.crt': {e}")
    return lines


def _renewal_source(store: Store, cert: Certificate) -> str:
    """Where ``renewalTime`` came from: the ACME server's window or the spec."""
    ari = cert.status.acme.ari if cert.status and cert.status.acme else None
    window = _ari_window(store, cert) if ari is not None else None
    if window is not None:
        text = (f"the ACME server's renewal information (ARI, RFC 9773): a time inside its suggested window "
                f"{format_time(window[0])} .. {format_time(window[1])}")
        if ari is not None and ari.explanation_url:
            text += f" (explanation: {ari.explanation_url})"
        return text
    spec = cert.spec
    if spec.renew_before_percentage is not None:
        return f"renewBeforePercentage {spec.renew_before_percentage}"
    if spec.renew_before:
        return f"renewBefore {spec.renew_before}"
    return "the default: two thirds through the certificate's lifetime"


def _ari_window(store: Store, cert: Certificate) -> tuple[_dt.datetime, _dt.datetime] | None:
    """The ARI window in status, if it belongs to the certificate in the Secret."""
    from ..controllers.certificates.util import ari_window
    from ..pki.chain import parse_certificates
    from ..pki.errors import PKIError

    secret = store.try_get(Secret, cert.namespace, cert.spec.secret_name or "")
    try:
        leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0] if secret is not None else None
    except (PKIError, IndexError):
        leaf = None
    return ari_window(cert, leaf) if leaf is not None else None


def _files_lines(cert: Certificate) -> list[str]:
    """What the host's files controller and hook recorded (nothing without --secrets-dir)."""
    conds = cert.status.conditions if cert.status else None
    files = get_condition(conds, c.COND_FILES_WRITTEN)
    hook = get_condition(conds, c.COND_HOOK_PENDING)
    lines = []
    if files is not None:
        if files.status == "True":
            lines.append(f"Files: {files.message or 'written'}")
        else:
            lines.append(f"Files: not written ({files.reason}): {files.message or ''}")
    if hook is not None:
        if hook.status != "True":
            lines.append(f"Renewal hook: {hook.message or 'ran'}")
        elif hook.reason == c.HOOK_FAILED:
            lines.append(f"Renewal hook: failing, retried with back-off: {hook.message or ''}")
        else:
            lines.append(f"Renewal hook: pending: {hook.message or ''}")
    return lines


def _request_lines(store: Store, cr: CertificateRequest | None) -> list[str]:
    if cr is None:
        return ["No CertificateRequest found for this Certificate"]
    status = cr.status
    lines = ["CertificateRequest:", f"  Name: {cr.name}", f"  Namespace: {cr.namespace}", "  Conditions:"]
    lines += _conditions(status.conditions if status else None, "    ")
    if status and status.failure_time:
        lines.append(f"  Failure Time: {status.failure_time}")
    return lines


def _acme_lines(store: Store, cr: CertificateRequest | None) -> list[str]:
    order_cls = registry.lookup("order")
    challenge_cls = registry.lookup("challenge")
    if cr is None or order_cls is None:
        return []
    lines: list[str] = []
    for order in store.list(order_cls, namespace=cr.namespace, owner_uid=cr.uid):
        d: dict[str, Any] = order.to_dict()
        st = d.get("status") or {}
        lines += ["Order:", f"  Name: {order.name}", f"  State: {st.get('state', '')}, Reason: {st.get('reason', '')}"]
        authz = st.get("authorizations") or []
        if authz:
            lines.append("  Authorizations:")
            for a in authz:
                lines.append(
                    f"    URL: {a.get('url', '')}, Identifier: {a.get('identifier', '')}, "
                    f"Initial State: {a.get('initialState', '')}, Wildcard: {str(bool(a.get('wildcard'))).lower()}"
                )
        if challenge_cls is None:
            continue
        challenges = store.list(challenge_cls, namespace=order.namespace, owner_uid=order.uid)
        if not challenges:
            lines.append("  No Challenges found")
            continue
        lines.append("Challenges:")
        for ch in sorted(challenges, key=lambda x: x.name):
            cd = ch.to_dict()
            spec, cst = cd.get("spec") or {}, cd.get("status") or {}
            lines.append(
                f"- Name: {ch.name}, Type: {spec.get('type', '')}, Token: {spec.get('token', '')}, "
                f"Domain: {spec.get('dnsName', '')}, State: {cst.get('state', '')}, "
                f"Reason: {cst.get('reason', '')}, Processing: {str(bool(cst.get('processing'))).lower()}, "
                f"Presented: {str(bool(cst.get('presented'))).lower()}"
            )
    return lines


def backoff_until(last_failure: str | None, attempts: int | None) -> _dt.datetime | None:
    """When the trigger retries with the default back-off (1h doubling, at most 32h)."""
    if not last_failure:
        return None
    n = attempts if attempts and attempts > 0 else 1
    delay = min(DEFAULT_MIN_BACKOFF * (1 << (n - 1)), DEFAULT_MAX_BACKOFF)
    return parse_time(last_failure) + delay


def _why_lines(cert: Certificate, cr: CertificateRequest | None) -> list[str]:
    status = cert.status
    conds = status.conditions if status else None
    ready = get_condition(conds, c.COND_READY)
    if ready is not None and ready.status == "True":
        return []
    lines = ["Not Ready because:"]
    if ready is None:
        lines.append("  the Certificate has no Ready condition yet (is `certkeeper run` running?)")
    else:
        lines.append("  " + _condition_line(ready))
    issuing = get_condition(conds, c.COND_ISSUING)
    if issuing is not None:
        lines.append("  " + _condition_line(issuing))
    if cr is not None:
        cr_conds = cr.status.conditions if cr.status else None
        for ctype in (c.COND_DENIED, c.COND_INVALID_REQUEST, c.COND_READY):
            cond = get_condition(cr_conds, ctype)
            if cond is not None and (ctype != c.COND_READY or cond.status != "True"):
                lines.append(f'  CertificateRequest "{cr.name}": ' + _condition_line(cond))
                break
        if get_condition(cr_conds, c.COND_APPROVED) is None and get_condition(cr_conds, c.COND_DENIED) is None:
            lines.append(f'  CertificateRequest "{cr.name}" is waiting for approval (certkeeper approve {cr.name})')
    if status and status.last_failure_time:
        attempts = status.failed_issuance_attempts or 0
        lines.append(f"  Last Failure Time: {status.last_failure_time}, Failed Issuance Attempts: {attempts}")
        retry = backoff_until(status.last_failure_time, attempts)
        if retry is not None:
            lines.append(
                f"  Backing off: next attempt at about {retry.strftime('%Y-%m-%dT%H:%M:%SZ')} with the default "
                f"back-off; `certkeeper renew {cert.name}` retries now"
            )
    return lines


def certificate_status(store: Store, cert: Certificate, now: _dt.datetime | None = None) -> str:
    status = cert.status
    lines = [
        f"Name: {cert.name}",
        f"Namespace: {cert.namespace}",
        f"Created at: {cert.metadata.creation_timestamp or ''}",
        "Conditions:",
        *_conditions(status.conditions if status else None, "  "),
    ]
    dns = cert.spec.dns_names or []
    lines += ["DNS Names:", *(f"- {n}" for n in dns)] if dns else []
    lines += _issuer_lines(store, cert)
    lines += _secret_lines(store, cert)
    lines += _files_lines(cert)
    if status:
        for label, value in (
            ("Not Before", status.not_before),
            ("Not After", status.not_after),
            ("Renewal Time", status.renewal_time),
        ):
            if value:
                lines.append(f"{label}: {value}")
        if status.renewal_time:
            lines.append(f"Renewal Time Source: {_renewal_source(store, cert)}")
    cr = current_request(store, cert)
    lines += _request_lines(store, cr)
    lines += _acme_lines(store, cr)
    lines += _why_lines(cert, cr)
    lines += event_lines(events_for(store, cert.to_dict()), now or _dt.datetime.now(_dt.UTC))
    return "\n".join(lines) + "\n"


@click.group("status")
@global_options()
def status_group() -> None:
    """Aggregated status of an object (cmctl status)."""


@status_group.command("certificate")
@click.argument("name")
@global_options()
def status_certificate_cmd(name: str) -> None:
    """Everything about a Certificate: conditions, issuer, Secret, request, ACME order."""
    st = state()
    store = st.store()
    try:
        cert = store.get(Certificate, st.ns, name)
    except NotFound as e:
        fail(server_error(e))
    click.echo(certificate_status(store, cert), nl=False)
