"""secrets-hook: runs ``--on-renew`` for every Certificate whose files changed.

The work comes from the store, not from the files controller's memory: a Certificate with
``RenewHookPending=True`` (reason ``Pending`` or ``HookFailed``) is due. The condition is
cleared only after the hook exits 0, and only if no newer change was recorded while it
ran, so a hook is run once per change of files even if the daemon is killed at any point
of the swap. (Killed while the hook itself runs, or between its success and the record
of it, the next daemon runs it again: a hook should be safe to repeat, as
``systemctl reload`` is.) A failing hook is retried with back-off (10 s doubling to
10 min), shown on the Certificate and as a Warning event.

Hooks have a pool of their own threads (``--on-renew-workers``) and a timeout
(``--on-renew-timeout``), so slow or hung hooks never hold up issuance, ACME or other
Certificates' files; a stopping daemon stops them (their process groups) first.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path

from ..api.certificate import Certificate
from ..api.constants import COND_HOOK_PENDING, HOOK_DUE, HOOK_FAILED, HOOK_SUCCEEDED
from ..api.meta import format_time
from ..runtime.controller import Context, Controller, Mapper, Result
from ..runtime.queue import Key
from ..store.base import EventType, WatchEvent
from ..store.files import SecretProjector
from ..store.hooks import HookEnvError, HookResult, HookTracker, hook_env, run_hook
from .files_common import (
    condition_of,
    write_conditions,
)

RETRY_BASE = dt.timedelta(seconds=10)
RETRY_CAP = dt.timedelta(minutes=10)
#: characters of a failing hook's output shown on the Certificate and in its event
OUTPUT_SHOWN = 300


def output_tail(result: HookResult) -> str:
    """The end of a hook's output, fit for a condition: one line, no control characters,
    and nothing at all if it printed a private key."""
    text = result.output
    if "PRIVATE KEY" in text:
        return "[output withheld: it contains a private key]"
    tail = " ".join(text.split())[-OUTPUT_SHOWN:]
    return "".join(ch if ch.isprintable() else "?" for ch in tail)


class RenewHookController(Controller):
    name = "secrets-hook"
    primary = Certificate
    pool = "hooks"

    def __init__(self, ctx: Context, root: Path, command: str, timeout: float = 300) -> None:
        super().__init__(ctx)
        self.projector = SecretProjector(root)
        self.command = command
        self.timeout = timeout
        self.tracker = HookTracker()
        #: key -> (failed attempts for the current change, when the next one is due)
        self._attempts: dict[Key, tuple[int, dt.datetime]] = {}
        self._lock = threading.Lock()

    def watches(self) -> list[tuple[str, Mapper]]:
        def on_certificate(event: WatchEvent) -> Iterable[Key]:
            if event.type == EventType.DELETED or not isinstance(event.obj, Certificate):
                with self._lock:
                    self._attempts.pop((event.namespace, event.name), None)
                return []
            hook = condition_of(event.obj, COND_HOOK_PENDING)
            if hook is None or hook[0] != "True" or hook[1] not in (HOOK_DUE, HOOK_FAILED):
                return []
            return [(event.namespace, event.name)]

        return [(Certificate.KIND, on_certificate)]

    def stop(self) -> None:
        n = self.tracker.stop_all()
        if n:
            self.log.info("stopped %d running on-renew hook(s); they run again at the next start", n)

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        cert = self.store.try_get(Certificate, ns, name)
        if cert is None:
            return None
        hook = condition_of(cert, COND_HOOK_PENDING)
        if hook is None or hook[0] != "True" or hook[1] not in (HOOK_DUE, HOOK_FAILED):
            return None
        now = self.clock.now()
        with self._lock:
            if hook[1] == HOOK_DUE:
                self._attempts.pop(key, None)  # a new change: run now, count afresh
            state = self._attempts.get(key)
        if state is not None and now < state[1]:
            return Result(requeue_after=state[1] - now)
        try:
            folder = self.projector.folder(cert.namespace or "", cert.spec.secret_name or "")
            env = hook_env(cert.namespace or "", cert.name, cert.spec.secret_name or "", folder)
        except (HookEnvError, ValueError) as e:
            # nothing to retry until the Certificate changes
            self._record_failure(cert, hook, f"is not run: {e}")
            return None
        result = run_hook(self.command, env, self.timeout, self.tracker)
        if self.tracker.stopping and not result.ok:
            return None  # stopped with the daemon: still pending, run at the next start
        if result.ok:
            with self._lock:
                self._attempts.pop(key, None)
            self.log.info("on-renew hook for %s/%s ran in %.1fs", ns, name, result.duration_seconds)
            message = f"the on-renew hook ran at {format_time(self.clock.now())}"
            # tried hard: a reconcile retried after a conflict would run the hook again
            write_conditions(
                self.store, self.clock, cert,
                lambda cur: [(COND_HOOK_PENDING, "False", HOOK_SUCCEEDED, message)]
                if condition_of(cur, COND_HOOK_PENDING) == hook else None,
                attempts=50,
            )
            return None
        n = (state[0] if state else 0) + 1
        delay = min(RETRY_BASE * (1 << min(n - 1, 20)), RETRY_CAP)
        with self._lock:
            self._attempts[key] = (n, now + delay)
        if result.timed_out:
            what = f"timed out after {self.timeout:g}s; its process group was killed"
        elif result.exit_code is None:
            what = result.error or "could not be started"
        elif result.exit_code < 0:
            what = f"was killed by signal {-result.exit_code}"
        else:
            what = f"exited with status {result.exit_code}"
        tail = output_tail(result)
        self._record_failure(
            cert, hook,
            f"{what} (attempt {n}; next attempt at {format_time(now + delay)})" + (f": {tail}" if tail else ""),
        )
        return Result(requeue_after=delay)

    def _record_failure(self, cert: Certificate, seen: tuple[str, str, str], what: str) -> None:
        message = f"the on-renew hook {what}"
        self.log.warning("on-renew hook for %s/%s %s", cert.namespace, cert.name, what)

        def change(cur: Certificate) -> list[tuple[str, str, str, str]] | None:
            # a newer change of files since the hook started is run on its own
            if condition_of(cur, COND_HOOK_PENDING) != seen:
                return None
            return [(COND_HOOK_PENDING, "True", HOOK_FAILED, message)]

        write_conditions(self.store, self.clock, cert, change)
        self.recorder.event(cert, "Warning", "RenewHookFailed", message)
