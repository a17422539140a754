"""``certkeeper status certificate``: cmctl's one-page answer to "why is my certificate
(not) ready?", gathered from the Certificate, its Issuer, its Secret, the current
CertificateRequest and, for ACME, the request's Order and Challenges."""

from __future__ import annotations

import base64
import datetime as _dt
from typing import TYPE_CHECKING, Any

import click

from ..api import constants as c
from ..api import registry
from ..api.times import format_time, parse_time
from ..store import NotFound, Store
from .events import event_lines, events_for
from .reads import at, get_dict, list_dicts, name_of, namespace_of, try_get_dict
from .state import fail, global_options, server_error, state

if TYPE_CHECKING:
    from ..api.meta import Resource

Obj = dict[str, Any]

DEFAULT_MIN_BACKOFF = _dt.timedelta(hours=1)
DEFAULT_MAX_BACKOFF = _dt.timedelta(hours=32)
#: the issuer group that certkeeper itself serves (``api.common.GROUP``)
_GROUP = "cert-manager.io"
_TLS_CERT = "tls.crt"


def _kind(name: str) -> registry.KindName:
    k = registry.find(name)
    assert k is not None, name
    return k


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else line for line in text.rstrip("\n").split("\n")]


def _get_condition(conds: list[Obj] | None, ctype: str) -> Obj | None:
    return next((x for x in conds or [] if x.get("type") == ctype), None)


def _condition_line(cond: Obj) -> str:
    return f"{cond.get('type')}: {cond.get('status')}, Reason: {cond.get('reason') or ''}, Message: {cond.get('message') or ''}"


def _conditions(conds: list[Obj] | None, prefix: str) -> list[str]:
    if not conds:
        return [f"{prefix}No Conditions set"]
    return [prefix + _condition_line(x) for x in conds]


def _revision(cr: Obj) -> int | None:
    try:
        return int((at(cr, "metadata", "annotations") or {}).get(c.ANN_REVISION, ""))
    except ValueError:
        return None


def current_request(store: Store, cert: Obj) -> Obj | None:
    """The request for the next revision (the one being worked on), else the one whose
    certificate is in the Secret: cmctl's choice."""
    owned = list_dicts(store, _kind("certificaterequests"), namespace_of(cert), None, owner_uid=at(cert, "metadata", "uid"))
    revision = at(cert, "status", "revision") or 0
    by_rev = {_revision(cr): cr for cr in owned}
    return by_rev.get(revision + 1) or by_rev.get(revision)


def _issuer(store: Store, cert: Obj) -> Obj | None:
    ref = at(cert, "spec", "issuerRef")
    if ref is None or not ref.get("name") or (ref.get("group") or _GROUP) != "cert-manager.io":
        return None
    if (ref.get("kind") or "Issuer") == "ClusterIssuer":
        return try_get_dict(store, _kind("clusterissuers"), None, ref["name"])
    return try_get_dict(store, _kind("issuers"), namespace_of(cert), ref["name"])


def _issuer_lines(store: Store, cert: Obj) -> list[str]:
    ref = at(cert, "spec", "issuerRef")
    if ref is None:
        return ["Issuer: <none>"]
    issuer = _issuer(store, cert)
    kind = ref.get("kind") or "Issuer"
    lines = ["Issuer:", f"  Name: {ref.get('name')}", f"  Kind: {kind}"]
    if ref.get("group"):
        lines.append(f"  Group: {ref['group']}")
    if issuer is None:
        if (ref.get("group") or _GROUP) != "cert-manager.io":
            lines.append(f"  (an external issuer of group {ref.get('group')}; not inspected)")
        else:
            lines.append(f'  error when finding {kind} "{ref.get("name")}": not found')
        return lines
    lines.append("  Conditions:")
    lines += _conditions(at(issuer, "status", "conditions"), "    ")
    return lines


def _tls_cert(secret: Obj | None) -> bytes | None:
    value = at(secret, "data", _TLS_CERT)
    return None if value is None else base64.b64decode(value)


def _secret_lines(store: Store, cert: Obj) -> list[str]:
    name = at(cert, "spec", "secretName") or ""
    secret = try_get_dict(store, _kind("secrets"), namespace_of(cert), name)
    if secret is None:
        return ["Secret:", f"  Name: {name}", f'  error when finding Secret "{name}": not found']
    lines = ["Secret:", f"  Name: {name}"]
    pem = _tls_cert(secret)
    if not pem:
        return [*lines, "  No certificate in the Secret (tls.crt is empty)"]
    from ..pki.inspect import describe_certificate_pem  # cryptography: only with a certificate to show

    try:
        lines += _indent(describe_certificate_pem(pem), "  ")
    except ValueError as e:
        lines.append(f"  error when parsing 'tls.crt': {e}")
    return lines


def _renewal_source(store: Store, cert: Obj) -> str:
    """Where ``renewalTime`` came from: the ACME server's window or the spec."""
    ari = at(cert, "status", "acme", "ari")
    window = _ari_window(store, cert) if ari is not None else None
    if window is not None:
        text = (f"the ACME server's renewal information (ARI, RFC 9773): a time inside its suggested window "
                f"{format_time(window[0])} .. {format_time(window[1])}")
        if ari is not None and ari.get("explanationURL"):
            text += f" (explanation: {ari['explanationURL']})"
        return text
    spec = cert.get("spec") or {}
    if spec.get("renewBeforePercentage") is not None:
        return f"renewBeforePercentage {spec['renewBeforePercentage']}"
    if spec.get("renewBefore"):
        return f"renewBefore {spec['renewBefore']}"
    return "the default: two thirds through the certificate's lifetime"


def _ari_window(store: Store, cert: Obj) -> tuple[_dt.datetime, _dt.datetime] | None:
    """The ARI window in status, if it belongs to the certificate in the Secret (the
    controllers' own computation, on the Certificate's model)."""
    from ..controllers.certificates.util import ari_window
    from ..pki.chain import parse_certificates
    from ..pki.errors import PKIError

    secret = try_get_dict(store, _kind("secrets"), namespace_of(cert), at(cert, "spec", "secretName") or "")
    try:
        leaf = parse_certificates(_tls_cert(secret) or b"")[0] if secret is not None else None
    except (PKIError, IndexError):
        leaf = None
    if leaf is None:
        return None
    return ari_window(_kind("certificates").load().model_validate(cert), leaf)  # type: ignore[arg-type]


def _files_lines(cert: Obj) -> list[str]:
    """What the host's files controller and hook recorded (nothing without --secrets-dir)."""
    conds = at(cert, "status", "conditions")
    files = _get_condition(conds, c.COND_FILES_WRITTEN)
    hook = _get_condition(conds, c.COND_HOOK_PENDING)
    lines = []
    if files is not None:
        if files.get("status") == "True":
            lines.append(f"Files: {files.get('message') or 'written'}")
        else:
            lines.append(f"Files: not written ({files.get('reason')}): {files.get('message') or ''}")
    if hook is not None:
        if hook.get("status") != "True":
            lines.append(f"Renewal hook: {hook.get('message') or 'ran'}")
        elif hook.get("reason") == c.HOOK_FAILED:
            lines.append(f"Renewal hook: failing, retried with back-off: {hook.get('message') or ''}")
        else:
            lines.append(f"Renewal hook: pending: {hook.get('message') or ''}")
    return lines


def _request_lines(store: Store, cr: Obj | None) -> list[str]:
    if cr is None:
        return ["No CertificateRequest found for this Certificate"]
    status = cr.get("status")
    lines = ["CertificateRequest:", f"  Name: {name_of(cr)}", f"  Namespace: {namespace_of(cr)}", "  Conditions:"]
    lines += _conditions(at(cr, "status", "conditions"), "    ")
    if status and status.get("failureTime"):
        lines.append(f"  Failure Time: {status['failureTime']}")
    return lines


def _acme_lines(store: Store, cr: Obj | None) -> list[str]:
    if cr is None:
        return []
    lines: list[str] = []
    for d in list_dicts(store, _kind("orders"), namespace_of(cr), None, owner_uid=at(cr, "metadata", "uid")):
        st = d.get("status") or {}
        lines += ["Order:", f"  Name: {name_of(d)}", f"  State: {st.get('state', '')}, Reason: {st.get('reason', '')}"]
        authz = st.get("authorizations") or []
        if authz:
            lines.append("  Authorizations:")
            for a in authz:
                lines.append(
                    f"    URL: {a.get('url', '')}, Identifier: {a.get('identifier', '')}, "
                    f"Initial State: {a.get('initialState', '')}, Wildcard: {str(bool(a.get('wildcard'))).lower()}"
                )
        challenges = list_dicts(store, _kind("challenges"), namespace_of(d), None, owner_uid=at(d, "metadata", "uid"))
        if not challenges:
            lines.append("  No Challenges found")
            continue
        lines.append("Challenges:")
        for cd in sorted(challenges, key=name_of):
            spec, cst = cd.get("spec") or {}, cd.get("status") or {}
            lines.append(
                f"- Name: {name_of(cd)}, Type: {spec.get('type', '')}, Token: {spec.get('token', '')}, "
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


def _why_lines(cert: Obj, cr: Obj | None) -> list[str]:
    status = cert.get("status") or {}
    conds = status.get("conditions")
    ready = _get_condition(conds, c.COND_READY)
    if ready is not None and ready.get("status") == "True":
        return []
    lines = ["Not Ready because:"]
    if ready is None:
        lines.append("  the Certificate has no Ready condition yet (is `certkeeper run` running?)")
    else:
        lines.append("  " + _condition_line(ready))
    issuing = _get_condition(conds, c.COND_ISSUING)
    if issuing is not None:
        lines.append("  " + _condition_line(issuing))
    if cr is not None:
        cr_conds = at(cr, "status", "conditions")
        cr_name = name_of(cr)
        for ctype in (c.COND_DENIED, c.COND_INVALID_REQUEST, c.COND_READY):
            cond = _get_condition(cr_conds, ctype)
            if cond is not None and (ctype != c.COND_READY or cond.get("status") != "True"):
                lines.append(f'  CertificateRequest "{cr_name}": ' + _condition_line(cond))
                break
        if _get_condition(cr_conds, c.COND_APPROVED) is None and _get_condition(cr_conds, c.COND_DENIED) is None:
            lines.append(f'  CertificateRequest "{cr_name}" is waiting for approval (certkeeper approve {cr_name})')
    if status.get("lastFailureTime"):
        attempts = status.get("failedIssuanceAttempts") or 0
        lines.append(f"  Last Failure Time: {status['lastFailureTime']}, Failed Issuance Attempts: {attempts}")
        retry = backoff_until(status["lastFailureTime"], attempts)
        if retry is not None:
            lines.append(
                f"  Backing off: next attempt at about {retry.strftime('%Y-%m-%dT%H:%M:%SZ')} with the default "
                f"back-off; `certkeeper renew {name_of(cert)}` retries now"
            )
    return lines


def certificate_status(store: Store, cert: Obj | Resource, now: _dt.datetime | None = None) -> str:
    """``cert`` as JSON (the stored row) or its model."""
    d = cert if isinstance(cert, dict) else cert.to_dict()
    status = d.get("status")
    lines = [
        f"Name: {name_of(d)}",
        f"Namespace: {namespace_of(d)}",
        f"Created at: {at(d, 'metadata', 'creationTimestamp') or ''}",
        "Conditions:",
        *_conditions(at(d, "status", "conditions"), "  "),
    ]
    dns = at(d, "spec", "dnsNames") or []
    lines += ["DNS Names:", *(f"- {n}" for n in dns)] if dns else []
    lines += _issuer_lines(store, d)
    lines += _secret_lines(store, d)
    lines += _files_lines(d)
    if status:
        for label, key in (("Not Before", "notBefore"), ("Not After", "notAfter"), ("Renewal Time", "renewalTime")):
            if status.get(key):
                lines.append(f"{label}: {status[key]}")
        if status.get("renewalTime"):
            lines.append(f"Renewal Time Source: {_renewal_source(store, d)}")
    cr = current_request(store, d)
    lines += _request_lines(store, cr)
    lines += _acme_lines(store, cr)
    lines += _why_lines(d, cr)
    lines += event_lines(events_for(store, d), now or _dt.datetime.now(_dt.UTC))
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
        cert = get_dict(store, _kind("certificates"), st.ns, name)
    except NotFound as e:
        fail(server_error(e))
    click.echo(certificate_status(store, cert), nl=False)
