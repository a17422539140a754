"""secrets-files: the host-side projection of Certificates' Secrets to files.

A Secret is written to ``DIR/<namespace>/<name>/<key>`` (swapped atomically) when it is
the Secret of a Certificate (the Certificate that names it as ``spec.secretName``, not
whatever its annotations claim) or when it matches ``--secrets-selector``. Nothing else
reaches the folder servers read: CA keys of issuers, ACME account keys and TSIG secrets
stay in the store.

Before the files of a Certificate's Secret are swapped, ``RenewHookPending`` is recorded
on the Certificate (a committed store write), so the hook (run by ``secrets-hook``) is
never lost to a kill between the swap and the hook. The outcome of every projection is
``FilesWritten`` on the Certificate: a read-only folder, a full disk, a planted link or a
folder certkeeper did not create are shown there (and make Ready False), not only logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..api import constants as c
from ..api.certificate import Certificate
from ..api.constants import (
    COND_FILES_WRITTEN,
    COND_HOOK_PENDING,
    FILES_WRITTEN,
    HOOK_DUE,
    HOOK_FAILED,
    HOOK_FILES_CHANGING,
)
from ..api.core import Secret
from ..runtime.controller import Context, Controller, Mapper, Result, same_key
from ..runtime.faults import fault_point
from ..runtime.queue import Key
from ..store.base import EventType, WatchEvent
from ..store.files import DEFAULT_LAYOUT, FileLayout, FilesError, SecretProjector
from .certificates.util import cert_index
from .files_common import (
    condition_of,
    layout_for,
    layout_key,
    parse_group,
    parse_mode,
    write_conditions,
)
from .files_selector import LabelSelector

#: retry of a projection that failed (read-only folder, full disk): 1s doubling to 5m
RETRY_BASE = dt.timedelta(seconds=1)
RETRY_CAP = dt.timedelta(minutes=5)


class SecretFilesController(Controller):
    name = "secrets-files"
    primary = Secret
    backoff_base = dt.timedelta(seconds=1)
    backoff_cap = dt.timedelta(minutes=5)
    pool = "io"

    def __init__(
        self,
        ctx: Context,
        root: Path,
        on_renew: str | None = None,
        selector: LabelSelector | None = None,
        layout: FileLayout = DEFAULT_LAYOUT,
    ) -> None:
        super().__init__(ctx)
        self.projector = SecretProjector(root)
        self.on_renew = on_renew
        self.selector = selector
        self.layout = layout
        self.index = cert_index(ctx)
        self._failures: dict[Key, int] = {}
        self._lock = threading.Lock()
        try:
            self.projector.clean_leftovers()
        except OSError as e:
            self.log.warning("could not clean up %s: %s", root, e)

    # -- wiring ------------------------------------------------------------------
    def watches(self) -> list[tuple[str, Mapper]]:
        seen: dict[Key, int] = {}
        lock = threading.Lock()

        def on_certificate(event: WatchEvent) -> Iterable[Key]:
            """A Certificate matters when the Secret it names or its file settings change
            (not at each status write of the issuance)."""
            self.index.on_certificate(event)
            key = (event.namespace, event.name)
            if event.type == EventType.DELETED or not isinstance(event.obj, Certificate):
                with lock:
                    seen.pop(key, None)
                return []
            cert = event.obj
            secret_name = cert.spec.secret_name
            if not secret_name:
                return []
            hook = condition_of(cert, COND_HOOK_PENDING)
            # a swap recorded but not confirmed (a crash) is finished by the Secret's reconcile
            changing = hook is not None and hook[0] == "True" and hook[1] == HOOK_FILES_CHANGING
            digest = hash((secret_name, layout_key(cert), changing))
            with lock:
                if seen.get(key) == digest:
                    return []
                seen[key] = digest
            return [(event.namespace, secret_name)]

        return [(Secret.KIND, same_key), (Certificate.KIND, on_certificate)]

    # -- reconcile ---------------------------------------------------------------
    def owner(self, secret: Secret) -> Certificate | None:
        """The Certificate whose Secret this is: one that names it as secretName. Among
        several, the one the Secret's certificate-name annotation names, else the oldest
        (cert-manager's rule); the annotation alone never makes a Secret a Certificate's."""
        ns = secret.namespace
        claimants = []
        for name in self.index.certificates_naming(ns, secret.name):
            cert = self.store.try_get(Certificate, ns, name)
            if cert is not None and cert.spec.secret_name == secret.name:
                claimants.append(cert)
        if not claimants:
            return None
        named = secret.annotations().get(c.ANN_CERTIFICATE_NAME)
        for cert in claimants:
            if cert.name == named:
                return cert
        return min(claimants, key=lambda x: (x.metadata.creation_timestamp or "", x.name))

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        namespace = ns or ""
        secret = self.store.try_get(Secret, ns, name)
        if secret is None:
            return self._remove(namespace, name, "its Secret was deleted")
        if secret.labels().get(c.LABEL_NEXT_PRIVATE_KEY) == "true":
            return None  # a key waiting for its certificate is nobody's business yet
        owner = self.owner(secret)
        if owner is None and not (self.selector is not None and self.selector.matches(secret.labels())):
            return self._unselected(secret)
        try:
            layout = layout_for(owner, self.layout)
            # reading the folder twice is only worth it when a hook depends on the answer
            if owner is not None and self.on_renew and self.projector.needs_swap(secret, layout):
                # durable before the swap: a kill from here on still runs the hook once
                owner = self._mark_hook_pending(owner) or owner
                fault_point("files-hook-recorded")
            self.projector.project(secret, layout)
        except (FilesError, OSError) as e:
            return self._failed(key, secret, owner, e)
        with self._lock:
            self._failures.pop(key, None)
        if owner is not None:
            self._written(owner, secret)
        return None

    # -- outcomes ----------------------------------------------------------------
    def _mark_hook_pending(self, cert: Certificate) -> Certificate | None:
        folder = self.projector.folder(cert.namespace or "", cert.spec.secret_name or "")
        message = f"the files in {folder} are being replaced; the on-renew hook runs after that"
        return write_conditions(self.store, self.clock, cert,
                                lambda _c: [(COND_HOOK_PENDING, "True", HOOK_FILES_CHANGING, message)])

    def _written(self, cert: Certificate, secret: Secret) -> None:
        folder = self.projector.folder(cert.namespace or "", secret.name)
        hook_configured = bool(self.on_renew)

        def change(current: Certificate) -> list[tuple[str, str, str, str]] | None:
            out = [(COND_FILES_WRITTEN, "True", FILES_WRITTEN, f"the Secret's files are written to {folder}")]
            hook = condition_of(current, COND_HOOK_PENDING)
            if hook is not None and hook[0] == "True" and hook[1] == HOOK_FILES_CHANGING:
                if hook_configured:
                    out.append((COND_HOOK_PENDING, "True", HOOK_DUE,
                                f"the files in {folder} changed (Secret resourceVersion "
                                f"{secret.metadata.resource_version}); the on-renew hook is due"))
                else:
                    out.append((COND_HOOK_PENDING, "False", "NoHook", "no --on-renew command is configured"))
            elif hook is not None and hook[0] == "True" and hook[1] in (HOOK_DUE, HOOK_FAILED) and not hook_configured:
                out.append((COND_HOOK_PENDING, "False", "NoHook", "no --on-renew command is configured"))
            return out

        hook = condition_of(cert, COND_HOOK_PENDING)
        if hook is not None and hook[1] == HOOK_FILES_CHANGING:
            fault_point("files-before-hook-due")
        stored = write_conditions(self.store, self.clock, cert, change)
        old = condition_of(cert, COND_FILES_WRITTEN)
        if old is not None and old[0] == "False" and stored is not None:
            self.recorder.event(cert, "Normal", "FilesWritten", f"the Secret's files are written to {folder}")

    def _failed(self, key: Key, secret: Secret, owner: Certificate | None, err: FilesError | OSError) -> Result:
        if isinstance(err, FilesError):
            reason, detail = err.reason, str(err)
        else:
            reason = "WriteFailed"
            detail = f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")
        message = f"the Secret's files are not written: {detail}"
        with self._lock:
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
        delay = min(RETRY_BASE * (1 << min(n - 1, 20)), RETRY_CAP)
        target: Certificate | Secret = owner if owner is not None else secret
        self.log.warning("%s %s/%s: %s (attempt %d; retrying in %ss)", target.KIND, target.namespace, target.name,
                         message, n, int(delay.total_seconds()))
        if owner is not None:
            before = condition_of(owner, COND_FILES_WRITTEN)
            write_conditions(self.store, self.clock, owner,
                             lambda _cert: [(COND_FILES_WRITTEN, "False", reason, message)])
            if before is None or before[:2] != ("False", reason):
                self.recorder.event(owner, "Warning", "FilesNotWritten", message)
        elif n == 1:
            self.recorder.event(secret, "Warning", "FilesNotWritten", message)
        return Result(requeue_after=delay)

    def _unselected(self, secret: Secret) -> Result | None:
        """A Secret that is not to be on disk. A folder of ours from before (an earlier
        version wrote every Secret) goes, unless the Secret was a Certificate's: then the
        Certificate was deleted and its Secret kept, and the server keeps its files."""
        namespace = secret.namespace or ""
        if secret.annotations().get(c.ANN_CERTIFICATE_NAME):
            return None
        return self._remove(namespace, secret.name, "it is not the Secret of a Certificate (see --secrets-selector)")

    def _remove(self, namespace: str, name: str, why: str) -> Result | None:
        """Remove a Secret's folder if it is ours. A folder that cannot be removed now (a
        read-only file system) is retried: a deleted Secret's key must not stay on disk."""
        key = (namespace or None, name)
        try:
            if self.projector.exists(namespace, name) and self.projector.remove(namespace, name):
                self.log.info("removed the files of Secret %s/%s: %s", namespace, name, why)
        except ValueError as e:  # not ours (ForeignFolder), or a name that is no path
            self.log.warning("Secret %s/%s: %s", namespace, name, e)
        except OSError as e:
            with self._lock:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
            delay = min(RETRY_BASE * (1 << min(n - 1, 20)), RETRY_CAP)
            self.log.warning("Secret %s/%s: its files could not be removed: %s (attempt %d; retrying in %ss)",
                             namespace, name, e, n, int(delay.total_seconds()))
            return Result(requeue_after=delay)
        with self._lock:
            self._failures.pop(key, None)
        return None


@dataclasses.dataclass(frozen=True)
class FilesSettings:
    """The daemon's files and hook flags, checked."""

    root: Path
    on_renew: str | None = None
    on_renew_timeout: float = 300.0
    selector: LabelSelector | None = None
    layout: FileLayout = DEFAULT_LAYOUT

    @classmethod
    def from_flags(
        cls,
        root: Path,
        on_renew: str | None,
        on_renew_timeout: float,
        selector: str | None,
        group: str | None,
        mode: str | None,
    ) -> FilesSettings:
        """Raises ValueError naming the flag that is wrong."""
        file_mode = parse_mode(mode, "--secrets-mode") if mode else DEFAULT_LAYOUT.mode
        gid = parse_group(group, "--secrets-group") if group else None
        if on_renew is not None and ("\0" in on_renew or not on_renew.strip()):
            raise ValueError("--on-renew: the command is empty or holds a NUL character")
        if on_renew_timeout <= 0:
            raise ValueError("--on-renew-timeout must be positive")
        try:
            parsed = LabelSelector.parse(selector) if selector else None
        except ValueError as e:
            raise ValueError(f"--secrets-selector: {e}") from None
        return cls(root, on_renew, on_renew_timeout, parsed, FileLayout(mode=file_mode, gid=gid))

    def check(self) -> list[str]:
        """The start-up check: the folder is usable (FilesError says why not); returns
        warnings."""
        return SecretProjector(self.root).check_root()

    def factories(self) -> list[Callable[[Context], Controller]]:
        from .files_hook import RenewHookController  # noqa: PLC0415 - only with a hook

        out: list[Callable[[Context], Controller]] = [
            lambda ctx: SecretFilesController(ctx, self.root, self.on_renew, self.selector, self.layout)
        ]
        if self.on_renew:
            command = self.on_renew
            out.append(lambda ctx: RenewHookController(ctx, self.root, command, self.on_renew_timeout))
        return out
