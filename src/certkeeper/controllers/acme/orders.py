"""orders: drives one ACME order from creation to a certificate (cert-manager §4.2).

Each sync walks the same decision ladder, so a restart at any point simply continues:
create the order, learn its authorizations, create one Challenge per authorization that
still needs solving, finalize once the server says ``ready``, fetch the chain. Client
errors (4xx, rate limits included) end the Order in ``errored``; network trouble and 5xx
are retried with growing delays by the work queue.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from ...acme import resources as r
from ...acme.client import AcmeClient
from ...acme.errors import AcmeProtocolError, AcmeRetryableError, AcmeTerminalError
from ...api.acme import (
    CHALLENGE_HTTP01,
    ORDER_PENDING,
    ORDER_PROCESSING,
    ORDER_READY,
    ORDER_VALID,
    ACMEAuthorization,
    ACMEChallenge,
    Challenge,
    ChallengeSpec,
    Order,
    OrderStatus,
    is_failure_state,
    is_final_state,
)
from ...api.issuer import Issuer
from ...api.meta import Resource, format_time
from ...pki.durations import parse_duration
from ...runtime.controller import Context, Controller, Mapper, Result, same_key
from ...runtime.mappers import owner_on_change
from ...runtime.queue import Key
from ...store.base import NotFound, WatchEvent
from . import accounts
from .accounts import AccountNotAvailable
from .common import PollSchedule, account_gone, issuer_for, lost_account, refers_to
from .names import compute_name
from .solverpicker import ACME_TYPES, OfferedChallenge, SolverError, apply_overrides, pick_solver

FINALIZER = "acme.cert-manager.io/finalizer"
ISSUANCE_WAITS = (0.005, 0.01, 0.02, 0.04, 0.08)
"""Seconds slept between looks at an order the server is issuing, within the finalize
sync (see ``OrderController._await_issuance``)."""
T = TypeVar("T")


def identifiers(order: Order) -> list[tuple[str, str]]:
    """dnsNames (+ CN if a name) as ``dns``, ipAddresses (+ CN if an IP) as ``ip``, sorted."""
    spec = order.spec
    dns = set(spec.dns_names or [])
    ips = set(spec.ip_addresses or [])
    if spec.common_name:
        try:
            ips.add(str(ipaddress.ip_address(spec.common_name)))
        except ValueError:
            dns.add(spec.common_name)
    return [("dns", d) for d in sorted(dns)] + [("ip", i) for i in sorted(ips)]


def _challenge_outcome(obj: Resource) -> Hashable:
    state = obj.status.state if isinstance(obj, Challenge) and obj.status else None
    return (is_final_state(state), is_failure_state(state))


class _Errored(Exception):
    """A 4xx answer: the Order ends in ``errored`` with this reason."""


class OrderController(Controller):
    name = "orders"
    primary = Order
    pool = "io"
    # network or server trouble: ask again soon, then less often
    backoff_base = dt.timedelta(milliseconds=200)
    backoff_cap = dt.timedelta(minutes=5)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.polls = PollSchedule(0.05, 5.0)
        self.retries = PollSchedule(0.2, 300.0)

    def watches(self) -> list[tuple[str, Mapper]]:
        return [
            ("Order", same_key),
            # the ladder reads of its Challenges only "any failed?" and "all final?"
            ("Challenge", owner_on_change("Order", _challenge_outcome, lambda _: False)),
            ("Issuer", self._orders_for_issuer),
            ("ClusterIssuer", self._orders_for_issuer),
        ]

    def _orders_for_issuer(self, event: WatchEvent) -> Iterable[Key]:
        ns = event.namespace if event.kind == "Issuer" else None
        return [
            (o.namespace, o.name)
            for o in self.store.list(Order, ns)
            if not is_final_state(o.status.state if o.status else None)
            and refers_to(o.spec.issuer_ref, o.namespace, event)
        ]

    # ------------------------------------------------------------------ helpers

    def _save(self, order: Order) -> Order:
        return self.store.update_status(order)

    def _errored(self, order: Order, reason: str) -> None:
        st = order.status
        assert st is not None
        st.state = "errored"
        st.reason = reason
        st.failure_time = format_time(self.clock.now())
        self._save(order)
        self.recorder.event(order, "Warning", "Failed", reason)

    def _owned_challenges(self, order: Order) -> list[Challenge]:
        return self.store.list(Challenge, order.namespace, owner_uid=order.uid)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        order = self.store.try_get(Order, ns, name)
        if order is None or order.metadata.deletion_timestamp:
            self.polls.reset(key)
            return None
        if order.status is None:
            order.status = OrderStatus()
        if is_failure_state(order.status.state):
            self.polls.reset(key)
            return None
        issuer = issuer_for(self.ctx, ns, order.spec.issuer_ref)
        if issuer is None or issuer.spec.acme is None:
            return None  # an Issuer event brings us back
        try:
            client = accounts.client_for(self.ctx, issuer)
            result = self._sync(key, order, issuer, client)
        except _Errored as e:
            self.polls.reset(key)
            self.retries.reset(key)
            self._errored(order, str(e))
            return None
        except AcmeTerminalError as e:
            if not account_gone(e):
                raise
            return self._retry(key, lost_account(self.ctx, issuer, e))
        except (AcmeRetryableError, AcmeProtocolError, AccountNotAvailable) as e:
            return self._retry(key, e)
        self.retries.reset(key)
        return result

    def _retry(self, key: Key, error: Exception) -> Result:
        """Network trouble, 5xx, an account being registered again: one log line and
        another try soon, then less and less often (no traceback for an expected outage)."""
        delay = self.retries.next(key, getattr(error, "retry_after", None))
        self.log.warning("order %s/%s: %s; retrying in %.1fs", key[0], key[1], error, delay.total_seconds())
        return Result(delay)

    def _call(self, prefix: str, issuer: Issuer, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AcmeTerminalError as e:
            if account_gone(e):
                raise lost_account(self.ctx, issuer, e) from e
            raise _Errored(f"{prefix}: {e}") from e

    def _new_order(
        self, client: AcmeClient, ids: list[tuple[str, str]], profile: str | None, not_after: str | None,
        replaces: str | None,
    ) -> r.Order:
        """A refused ``replaces`` (the old certificate was already replaced, or ordered by
        another account) must not cost the renewal: order again without it."""
        try:
            return client.new_order(ids, profile, not_after=not_after, replaces=replaces)
        except AcmeTerminalError as e:
            if not replaces or account_gone(e):
                raise
            self.log.warning("order: the server refused replaces=%s (%s); ordering without it", replaces, e)
            return client.new_order(ids, profile, not_after=not_after)

    @staticmethod
    def _check_profile(client: AcmeClient, profile: str) -> None:
        """A profile the server does not offer would be ignored or refused: fail the Order
        with the names it does offer instead of issuing something else."""
        offered = client.profiles()
        if offered is None:
            raise _Errored(
                f'Failed to create Order: the issuer asks for the ACME profile "{profile}" but the ACME server '
                "offers no profiles (its directory has no meta.profiles); remove spec.acme.profile or use a "
                "server that supports profiles"
            )
        if profile not in offered:
            names = ", ".join(f'"{name}"' for name in sorted(offered))
            raise _Errored(
                f'Failed to create Order: the ACME server does not offer the profile "{profile}"; it offers '
                f"{names}: set spec.acme.profile to one of them"
            )

    def _sync(self, key: Key, order: Order, issuer: Issuer, client: AcmeClient) -> Result | None:
        st = order.status
        assert st is not None
        changed = False
        if not st.url:
            ids = identifiers(order)
            profile = order.spec.profile
            if profile:
                self._check_profile(client, profile)
            not_after = None
            if order.spec.duration:
                # enableDurationFeature: the Certificate's duration as the Order's notAfter
                not_after = format_time(self.clock.now() + parse_duration(order.spec.duration))
            created = self._call(
                "Failed to create Order", issuer,
                lambda: self._new_order(client, ids, profile, not_after, order.spec.replaces),
            )
            st.url, st.finalize_url, st.state = created.url, created.finalize, created.status
            st.authorizations = [ACMEAuthorization(url=u) for u in created.authorizations]
            # stored at once: an error below must not lead to a second order at the server
            order = self._save(order)
            st = order.status
            assert st is not None
        if not st.finalize_url:
            url = st.url or ""
            fetched = self._call("Failed to retrieve Order resource", issuer, lambda: client.get_order(url))
            st.finalize_url, st.state = fetched.finalize, fetched.status
            st.authorizations = [ACMEAuthorization(url=u) for u in fetched.authorizations]
            changed = True
        for authz in st.authorizations or []:
            if authz.identifier is None and authz.url:
                got = self._call(
                    "Failed to fetch authorization", issuer,
                    lambda u=authz.url: client.get_authorization(u),  # type: ignore[misc]
                )
                authz.initial_state = got.status
                authz.identifier = got.identifier.value
                authz.wildcard = got.wildcard
                authz.challenges = [ACMEChallenge(url=ch.url, token=ch.token, type=ch.type) for ch in got.challenges]
                changed = True
        if changed:
            order = self._save(order)
            st = order.status
            assert st is not None
        if st.state == ORDER_VALID:
            if not st.certificate:
                return self._store_certificate(key, order, issuer, client, None)
            for ch in self._owned_challenges(order):
                if not ch.metadata.deletion_timestamp:
                    self._delete_challenge(ch)
            self.polls.reset(key)
            return None
        challenges = self._ensure_challenges(order, issuer, client)
        if challenges is None:
            return None
        if st.state == ORDER_READY:
            return self._finalize(key, order, issuer, client)
        failed = any(is_failure_state(ch.status.state if ch.status else None) for ch in challenges)
        final = all(is_final_state(ch.status.state if ch.status else None) for ch in challenges)
        if not failed and not final and st.state not in (ORDER_PROCESSING,):
            return None  # Challenge events bring us back
        return self._refresh(key, order, issuer, client, challenges)

    def _refresh(
        self, key: Key, order: Order, issuer: Issuer, client: AcmeClient, challenges: list[Challenge]
    ) -> Result | None:
        st = order.status
        assert st is not None and st.url
        left = self.polls.early(key) if self.clock.is_real else None
        if left is not None:
            return Result(left)  # woken before the next look: keep the schedule
        url = st.url
        fetched = self._call("Failed to retrieve Order resource", issuer, lambda: client.get_order(url))
        before = (st.state, st.reason)
        st.state = fetched.status
        if is_failure_state(fetched.status):
            reasons = [ch.status.reason for ch in challenges if ch.status and ch.status.reason
                       and is_failure_state(ch.status.state)]
            st.reason = str(fetched.error) if fetched.error else "; ".join(r for r in reasons if r)
            st.failure_time = format_time(self.clock.now())
            self._save(order)
            self.recorder.event(order, "Warning", "Failed", f'Order is in "{fetched.status}" state: {st.reason}')
            self.polls.reset(key)
            return None
        if fetched.status == ORDER_READY:
            # finalized in this same sync, as cert-manager does: the state the finalize
            # answer gives is the one stored (a crash before it re-reads the order)
            self.polls.reset(key)
            return self._finalize(key, order, issuer, client)
        if fetched.status == ORDER_VALID:
            return self._store_certificate(key, order, issuer, client, fetched)
        if (st.state, st.reason) != before:
            self._save(order)
        # pending (all challenges done, server not yet) or processing: look again soon
        return Result(self.polls.next(key, fetched.retry_after))

    def _finalize(self, key: Key, order: Order, issuer: Issuer, client: AcmeClient) -> Result | None:
        st = order.status
        assert st is not None and st.url
        url = st.url
        csr = order.spec.request or b""
        try:
            done = client.finalize(url, csr, finalize_url=st.finalize_url)
        except AcmeTerminalError as e:
            if account_gone(e):
                raise lost_account(self.ctx, issuer, e) from e
            if e.status == 403:
                again = self._call("Failed to finalize Order", issuer, lambda: client.get_order(url))
                if again.status == ORDER_VALID:
                    return self._store_certificate(key, order, issuer, client, again)
            raise _Errored(f"Failed to finalize Order: {e}") from e
        if done.status == ORDER_PROCESSING and self.clock.is_real:
            done = self._await_issuance(issuer, client, done)
        if done.status == ORDER_VALID and done.certificate:
            return self._store_certificate(key, order, issuer, client, done)
        if is_failure_state(done.status):
            st.state = done.status
            st.reason = str(done.error) if done.error else f"Failed to finalize Order: order is {done.status}"
            st.failure_time = format_time(self.clock.now())
            self._save(order)
            return None
        st.state = done.status
        self._save(order)
        return Result(self.polls.next(key, done.retry_after))

    def _await_issuance(self, issuer: Issuer, client: AcmeClient, order: r.Order) -> r.Order:
        """The server took the CSR and is issuing. cert-manager waits for the certificate
        within the finalize sync; a CA usually issues within milliseconds, so look again
        here after short doubling sleeps (``ISSUANCE_WAITS``, 155 ms in all) before the rest
        is left to the requeue schedule, which saves a status write and a round through the
        queue. A Retry-After longer than the next sleep ends the wait: the requeue honours it."""
        url = order.url
        for pause in ISSUANCE_WAITS:
            if order.status != ORDER_PROCESSING or (order.retry_after or 0.0) > pause:
                break
            time.sleep(pause)
            order = self._call("Failed to retrieve Order resource", issuer, lambda: client.get_order(url))
        return order

    def _store_certificate(
        self, key: Key, order: Order, issuer: Issuer, client: AcmeClient, acme_order: r.Order | None
    ) -> Result | None:
        st = order.status
        assert st is not None and st.url
        url = st.url
        if acme_order is None or not acme_order.certificate:
            acme_order = self._call("Failed to retrieve Order resource", issuer, lambda: client.get_order(url))
        cert_url = acme_order.certificate
        if not cert_url:
            st.state = acme_order.status
            self._save(order)
            return Result(self.polls.next(key, acme_order.retry_after))
        assert issuer.spec.acme is not None
        preferred = issuer.spec.acme.preferred_chain
        chain = self._call(
            "Failed to retrieve certificate", issuer, lambda: client.fetch_certificate(cert_url, preferred or None)
        )
        st.state = ORDER_VALID
        st.certificate = chain.encode()
        st.reason = None
        self._save(order)
        self.recorder.event(order, "Normal", "Complete", "Order completed successfully")
        self.polls.reset(key)
        return None

    # ------------------------------------------------------------------ challenges

    def _delete_challenge(self, ch: Challenge) -> None:
        with contextlib.suppress(NotFound):
            self.store.delete(Challenge, ch.namespace, ch.name)

    def _ensure_challenges(self, order: Order, issuer: Issuer, client: AcmeClient) -> list[Challenge] | None:
        """The Challenges the Order needs, created if missing; None when no solver fits."""
        st = order.status
        assert st is not None and issuer.spec.acme is not None
        solvers = issuer.spec.acme.solvers or []
        wanted: dict[str, ChallengeSpec] = {}
        for authz in st.authorizations or []:
            if authz.initial_state == r.VALID or authz.identifier is None:
                continue
            domain = f"*.{authz.identifier}" if authz.wildcard else authz.identifier
            offered = [OfferedChallenge(c.url or "", c.token or "", c.type or "") for c in authz.challenges or []]
            pick = pick_solver(domain, offered, solvers, order.labels())
            try:
                if pick is None:
                    raise SolverError("no configured challenge solvers can be used for this challenge")
                solver = apply_overrides(pick.solver, order.annotations(), order.namespace)
            except SolverError as e:
                self.recorder.event(
                    order, "Warning", "Solver",
                    f"Failed to determine a valid solver configuration for the set of domains on the Order: {e}",
                )
                return None
            ctype = ACME_TYPES[pick.challenge.type]
            token = pick.challenge.token
            spec = ChallengeSpec(
                url=pick.challenge.url, authorization_url=authz.url, dns_name=authz.identifier,
                wildcard=bool(authz.wildcard), type=ctype, token=token,
                key=client.key_authorization(token) if ctype == CHALLENGE_HTTP01 else client.dns01_value(token),
                solver=solver, issuer_ref=order.spec.issuer_ref,
            )
            wanted[compute_name(order.name, spec.to_dict())] = spec
        existing = {ch.name: ch for ch in self._owned_challenges(order)}
        out = []
        for name, spec in wanted.items():
            if name in existing:
                out.append(existing[name])
                continue
            ch = Challenge.new(name, order.namespace, spec=spec)
            ch.metadata.owner_references = [order.as_owner()]
            ch.metadata.finalizers = [FINALIZER]
            out.append(self.store.create(ch))
            self.recorder.event(
                order, "Normal", "Created", f'Created Challenge resource "{name}" for domain "{spec.dns_name}"'
            )
        for name, ch in existing.items():
            if name not in wanted and not ch.metadata.deletion_timestamp:
                self._delete_challenge(ch)
        return out


__all__ = ["FINALIZER", "ORDER_PENDING", "OrderController", "identifiers"]
