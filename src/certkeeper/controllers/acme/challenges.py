"""challenges: present, self-check, accept, and clean up one ACME challenge (§4.4).

A Challenge is worked on only once the scheduler has set ``processing``. Nothing here
blocks on the server: after each step the sync returns and looks again after a short,
growing delay (20 ms doubling to 2 s), so a fast CA issues in milliseconds and a slow one
is not hammered. CleanUp runs when the challenge reaches a final state or is deleted,
guarded by the ``acme.cert-manager.io/finalizer`` finalizer.
"""

from __future__ import annotations

import datetime as dt

from ...acme import resources as r
from ...acme.client import AcmeClient
from ...acme.errors import AcmeProtocolError, AcmeRetryableError, AcmeTerminalError
from ...api.acme import CHALLENGE_HTTP01, Challenge, ChallengeStatus, is_final_state
from ...api.meta import format_time, parse_time
from ...pki.durations import format_duration, parse_duration
from ...runtime.controller import Context, Controller, Result
from ...runtime.queue import Key
from . import accounts
from .accounts import AccountNotAvailable
from .common import PollSchedule, account_gone, issuer_for, lost_account
from .orders import FINALIZER
from .solvers import SolverFailure, solver_for

LEGACY_FINALIZER = "finalizer.acme.cert-manager.io"
ACCEPTED = r.PROCESSING
"""``state`` after the challenge was answered: the server is validating."""
ACCEPT_ERROR = "Error accepting challenge"


class ChallengeController(Controller):
    name = "challenges"
    primary = Challenge
    pool = "io"
    backoff_base = dt.timedelta(milliseconds=200)
    backoff_cap = dt.timedelta(minutes=5)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        #: self-check and validation polling
        self.polls = PollSchedule(0.02, 2.0)
        #: a solver that failed (DNS server down ...): try again, less and less often
        self.retries = PollSchedule(0.2, 30.0)

    def _save(self, ch: Challenge) -> Challenge:
        return self.store.update_status(ch)

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        ch = self.store.try_get(Challenge, ns, name)
        if ch is None:
            self.polls.reset(key)
            self.retries.reset(key)
            return None
        if ch.status is None:
            ch.status = ChallengeStatus()
        st = ch.status
        finalizers = ch.metadata.finalizers or []
        if ch.metadata.deletion_timestamp or is_final_state(st.state):
            return self._finish(key, ch)
        if not st.processing:
            return None
        if FINALIZER not in finalizers:
            ch.metadata.finalizers = [f for f in finalizers if f != LEGACY_FINALIZER] + [FINALIZER]
            self.store.update(ch)
            return None
        issuer = issuer_for(self.ctx, ns, ch.spec.issuer_ref)
        if issuer is None or issuer.spec.acme is None:
            return None
        try:
            client = accounts.client_for(self.ctx, issuer)
            return self._sync(key, ch, client)
        except (AcmeRetryableError, AcmeProtocolError, AccountNotAvailable) as e:
            delay = self.retries.next(key, getattr(e, "retry_after", None))
            self.log.warning("challenge %s/%s: %s; retrying in %.1fs", ns, name, e, delay.total_seconds())
            return Result(delay)
        except AcmeTerminalError as e:
            if account_gone(e):
                lost = lost_account(self.ctx, issuer, e)
                self.log.warning("challenge %s/%s: %s", ns, name, lost)
                return Result(self.retries.next(key))
            # cert-manager's handleError: a malformed request means the challenge is gone
            st.state = "expired" if e.code == "malformed" else "errored"
            prefix = ACCEPT_ERROR if st.reason == ACCEPT_ERROR else "Failed to retrieve Order resource"
            st.reason = f"{prefix}: {e}"
            self._save(ch)
            self.recorder.event(ch, "Warning", "Failed", st.reason)
            return None

    def _finish(self, key: Key, ch: Challenge) -> Result | None:
        assert ch.status is not None
        finalizers = ch.metadata.finalizers or []
        if FINALIZER in finalizers or LEGACY_FINALIZER in finalizers:
            try:
                solver_for(self.ctx, ch).cleanup(ch)
            except SolverFailure as e:
                # nothing was presented: nothing to leave behind, do not hold the deletion
                if ch.status.presented:
                    self.recorder.event(ch, "Warning", "CleanUpError", f"Error cleaning up challenge: {e}")
                    ch.status.reason = f"Error cleaning up challenge: {e}"
                    if not ch.metadata.deletion_timestamp:
                        self._save(ch)
                    return Result(self.retries.next(key))
            ch.metadata.finalizers = [f for f in finalizers if f not in (FINALIZER, LEGACY_FINALIZER)] or None
            self.store.update(ch)
            self.polls.reset(key)
            self.retries.reset(key)
            return None
        if ch.metadata.deletion_timestamp:
            return None
        if ch.status.presented or ch.status.processing:
            ch.status.presented = False
            ch.status.processing = False
            self._save(ch)
        return None

    def _sync(self, key: Key, ch: Challenge, client: AcmeClient) -> Result | None:
        st = ch.status
        assert st is not None
        if not st.state:
            authz = client.get_authorization(ch.spec.authorization_url or "")
            found = next((c for c in authz.challenges if c.url == ch.spec.url), None)
            if found is None:
                st.state = "errored"
                st.reason = f"challenge {ch.spec.url} is not part of authorization {authz.url}"
                self._save(ch)
                return None
            st.state = found.status
            if found.error is not None:
                st.reason = str(found.error)
            ch = self._save(ch)
            st = ch.status
            assert st is not None
            if is_final_state(st.state):
                return None  # the update brings us back to clean up
        solver = solver_for(self.ctx, ch)
        # Present is idempotent and re-run on every pass for HTTP-01, as cert-manager
        # does: the built-in responder lives in memory, and a restarted daemon must
        # answer for challenges presented before the restart.
        if not st.presented or ch.spec.type == CHALLENGE_HTTP01:
            try:
                solver.present(ch)
            except SolverFailure as e:
                message = str(e)
                self.recorder.event(ch, "Warning", "PresentError", f"Error presenting challenge: {message}")
                if st.reason != message:
                    st.reason = message
                    self._save(ch)
                return Result(self.retries.next(key))
            self.retries.reset(key)
        if st.state == ACCEPTED:
            return self._wait_authorization(key, ch, client)
        if not st.presented:
            st.presented = True
            st.presented_at = format_time(self.clock.now())
            st.reason = None
            ch = self._save(ch)
            st = ch.status
            assert st is not None
            self.recorder.event(ch, "Normal", "Presented", f"Presented challenge using {ch.spec.type} challenge mechanism")
        waiting = self._not_ready(ch, solver)
        if waiting is not None:
            reason, delay = waiting
            if st.reason != reason:
                st.reason = reason
                self._save(ch)
            return Result(delay if delay is not None else self.polls.next(key))
        self.polls.reset(key)
        try:
            answered = client.answer_challenge(ch.spec.url or "")
        except AcmeTerminalError:
            st.reason = ACCEPT_ERROR
            raise
        st.state = answered.status if answered.status in (r.VALID, r.INVALID) else ACCEPTED
        st.reason = None
        self._save(ch)
        return Result(self.polls.next(key))

    def _not_ready(self, ch: Challenge, solver: object) -> tuple[str, dt.timedelta | None] | None:
        """None when the challenge may be accepted, else (reason, when to look again)."""
        wait = ch.spec.solver.wait_instead_of_self_check if ch.spec.solver else None
        st = ch.status
        assert st is not None
        if wait:
            ready_at = parse_time(st.presented_at or format_time(self.clock.now())) + parse_duration(wait)
            remaining = ready_at - self.clock.now()
            if remaining <= dt.timedelta(0):
                return None
            return (
                f"Waiting {format_duration(remaining)} before accepting {ch.spec.type} challenge without self-check",
                remaining,
            )
        try:
            problem = solver.check(ch)  # type: ignore[attr-defined]
        except SolverFailure as e:
            problem = str(e)
        if problem is None:
            return None
        return f"Waiting for {ch.spec.type} challenge propagation: {problem}", None

    def _wait_authorization(self, key: Key, ch: Challenge, client: AcmeClient) -> Result | None:
        st = ch.status
        assert st is not None
        left = self.polls.early(key) if self.clock.is_real else None
        if left is not None:
            return Result(left)  # woken before the next look (by our own write): keep the schedule
        authz = client.get_authorization(ch.spec.authorization_url or "")
        if not authz.is_final:
            return Result(self.polls.next(key, authz.retry_after))
        self.polls.reset(key)
        if authz.status == r.VALID:
            st.state = r.VALID
            st.reason = "Successfully authorized domain"
            self._save(ch)
            self.recorder.event(
                ch, "Normal", "DomainVerified", f'Domain "{ch.spec.dns_name}" verified with "{ch.spec.type}" validation'
            )
            return None
        detail = str(authz.error) if authz.error else f"authorization is {authz.status}"
        st.state = r.INVALID if authz.status != r.EXPIRED else r.EXPIRED
        st.reason = f"Error accepting authorization: acme: authorization error for {ch.spec.dns_name}: {detail}"
        self._save(ch)
        self.recorder.event(ch, "Warning", "Failed", f"Accepting challenge authorization failed: {st.reason}")
        return None
