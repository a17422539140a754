"""What the files controller and the renewal-hook controller share: the conditions they
write on a Certificate, the per-Certificate file settings, and who owns a Secret.

Both controllers keep their durable state on the Certificate's status (conditions), so
they work unchanged against any Store, including a Kubernetes API server:

``FilesWritten``
    True once the Secret's files are in place; False with the reason when they are not
    (the readiness controller then reports Ready=False, FilesNotWritten).
``RenewHookPending``
    True from just *before* the files are swapped until the hook has succeeded: reason
    ``FilesChanging`` (the swap may not have happened yet), ``Pending`` (the files are
    swapped, the hook is due), ``HookFailed`` (it failed and is retried with back-off);
    False, ``HookSucceeded``, once it ran. A daemon killed at any point finds it again.
"""

from __future__ import annotations

import grp
from collections.abc import Callable

from ..api.certificate import Certificate, CertificateStatus
from ..api.meta import get_condition, set_condition
from ..api.validation.hostfiles import ANN_SECRETS_GROUP, ANN_SECRETS_MODE, secrets_mode_error
from ..runtime.clock import Clock
from ..store.base import Conflict, Store
from ..store.files import DEFAULT_LAYOUT, FileLayout, FilesError


class InvalidSecretTemplate(FilesError):
    reason = "InvalidSecretTemplate"


def parse_mode(text: str, where: str) -> int:
    """An octal file mode such as ``0640``; only read bits for the group and others."""
    if err := secrets_mode_error(text):
        raise InvalidSecretTemplate(f"{where}: {err}")
    return int(text.strip(), 8)


def parse_group(text: str, where: str) -> int:
    """A group name or a numeric gid that exists on this host."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise InvalidSecretTemplate(f"{where}: group {value!r} does not exist on this host") from None


def layout_for(cert: Certificate | None, default: FileLayout = DEFAULT_LAYOUT) -> FileLayout:
    """The daemon's defaults, overridden by the Certificate's secretTemplate annotations."""
    if cert is None or cert.spec.secret_template is None:
        return default
    ann = cert.spec.secret_template.annotations or {}
    base = "spec.secretTemplate.annotations"
    mode = default.mode
    gid = default.gid
    if ANN_SECRETS_MODE in ann:
        mode = parse_mode(ann[ANN_SECRETS_MODE], f"{base}[{ANN_SECRETS_MODE}]")
    if ANN_SECRETS_GROUP in ann:
        gid = parse_group(ann[ANN_SECRETS_GROUP], f"{base}[{ANN_SECRETS_GROUP}]")
    return FileLayout(mode=mode, gid=gid)


def layout_key(cert: Certificate) -> tuple[str | None, str | None]:
    """The parts of a Certificate the file layout depends on."""
    ann = (cert.spec.secret_template.annotations or {}) if cert.spec.secret_template else {}
    return ann.get(ANN_SECRETS_MODE), ann.get(ANN_SECRETS_GROUP)


def condition_of(cert: Certificate, ctype: str) -> tuple[str, str, str] | None:
    cond = get_condition(cert.status.conditions if cert.status else None, ctype)
    if cond is None:
        return None
    return cond.status, cond.reason or "", cond.message or ""


def write_conditions(
    store: Store,
    clock: Clock,
    cert: Certificate,
    change: Callable[[Certificate], list[tuple[str, str, str, str]] | None],
    attempts: int = 5,
) -> Certificate | None:
    """Apply ``change`` (the conditions to set, as (type, status, reason, message), or None
    to give up) to the freshest Certificate, retrying on a conflict with another
    controller's write. Returns what was stored, or None if nothing had to be."""
    current: Certificate | None = cert
    for _ in range(attempts):
        if current is None:
            return None
        wanted = change(current)
        if not wanted:
            return None
        status = current.status or CertificateStatus()
        before = list(status.conditions or [])
        conds = before
        for ctype, st, reason, message in wanted:
            conds = set_condition(conds, ctype, st, reason, message, clock.now(), current.metadata.generation)
        if conds == before:
            return None
        status.conditions = conds
        current.status = status
        try:
            return store.update_status(current)
        except Conflict:
            current = store.try_get(Certificate, cert.namespace, cert.name)
    raise Conflict(f"Certificate {cert.namespace}/{cert.name} kept changing while its conditions were written")
