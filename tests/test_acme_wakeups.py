"""When the ACME controllers ask the server again, and which changes wake them.

The poll schedule: first looks soon, then doubling to a cap, a Retry-After as a lower
bound, and a key woken early told how long its next look still is. The mappers: an Order
is woken by a Challenge only when the Challenge's outcome changed, a request by its Order
only when the Order's state did, and the scheduler only by Challenges that wait for a
slot or free one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from certkeeper.api.acme import Challenge, ChallengeStatus, Order, OrderStatus
from certkeeper.api.meta import ObjectMeta, OwnerReference
from certkeeper.controllers.acme.common import PollSchedule
from certkeeper.controllers.acme.orders import OrderController
from certkeeper.controllers.acme.scheduler import SCHEDULER_KEY, ChallengeScheduler
from certkeeper.controllers.requests.signing import SigningController
from certkeeper.runtime.clock import FakeClock
from certkeeper.runtime.controller import Context, Mapper
from certkeeper.store.base import EventType, WatchEvent
from certkeeper.store.sqlite import SqliteStore


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_poll_schedule_doubles_to_its_cap_and_honours_retry_after() -> None:
    clock = Ticking()
    polls = PollSchedule(0.02, 0.1, monotonic=clock)
    key = ("ns", "a")
    assert [polls.next(key).total_seconds() for _ in range(5)] == [0.02, 0.04, 0.08, 0.1, 0.1]
    assert polls.next(key, retry_after=3.0) == dt.timedelta(seconds=3)  # never before Retry-After
    polls.reset(key)
    assert polls.next(key) == dt.timedelta(seconds=0.02)
    assert polls.next(("ns", "b")) == dt.timedelta(seconds=0.02)  # per key


def test_a_key_woken_before_its_look_is_told_to_wait() -> None:
    clock = Ticking()
    polls = PollSchedule(0.02, 2.0, monotonic=clock)
    key = ("ns", "a")
    assert polls.early(key) is None  # nothing scheduled: look now
    polls.next(key, retry_after=5.0)
    clock.now += 1.0  # woken by an event a second later
    left = polls.early(key)
    assert left is not None and abs(left.total_seconds() - 4.0) < 1e-6
    clock.now += 4.0
    assert polls.early(key) is None
    polls.next(key)
    polls.reset(key)
    assert polls.early(key) is None


def _owner(kind: str, name: str) -> list[OwnerReference]:
    api = "acme.cert-manager.io/v1" if kind == "Order" else "cert-manager.io/v1"
    return [OwnerReference(apiVersion=api, kind=kind, name=name, uid=f"uid-{name}", controller=True)]


def _challenge(state: str | None, processing: bool = True) -> Challenge:
    return Challenge(metadata=ObjectMeta(name="ch", namespace="ns", ownerReferences=_owner("Order", "order")),
                     status=ChallengeStatus(state=state, processing=processing))


def _order(state: str | None, certificate: bytes | None = None) -> Order:
    return Order(metadata=ObjectMeta(name="order", namespace="ns", ownerReferences=_owner("CertificateRequest", "cr")),
                 status=OrderStatus(state=state, certificate=certificate))


def _event(obj: Challenge | Order, type_: EventType = EventType.MODIFIED) -> WatchEvent:
    return WatchEvent(type_, obj.KIND, obj.namespace, obj.name, obj)


def _mapper(controller: object, kind: str) -> Mapper:
    return next(m for k, m in controller.watches() if k == kind)  # type: ignore[attr-defined]


def test_an_order_is_woken_only_when_a_challenges_outcome_changes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        mapper = _mapper(OrderController(Context(store, FakeClock())), "Challenge")
        woken = [list(mapper(_event(ch, t))) for ch, t in [
            (_challenge(None, processing=False), EventType.ADDED),  # new: not final
            (_challenge(None), EventType.MODIFIED),                  # scheduled
            (_challenge("pending"), EventType.MODIFIED),             # presented
            (_challenge("processing"), EventType.MODIFIED),          # accepted
            (_challenge("valid"), EventType.MODIFIED),               # final: the Order decides
            (_challenge("valid", processing=False), EventType.MODIFIED),  # clean-up writes
            (_challenge("valid", processing=False), EventType.DELETED),
        ]]
        order = [("ns", "order")]
        assert woken == [order, [], [], [], order, [], order]
    finally:
        store.close()


def test_a_request_is_woken_only_when_its_orders_state_changes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        mapper = _mapper(SigningController(Context(store, FakeClock()), {}), "Order")
        woken = [list(mapper(_event(o))) for o in [
            _order(None), _order("pending"), _order("pending"), _order("processing"),
            _order("valid", b"CERT"), _order("valid", b"CERT"),
        ]]
        cr = [("ns", "cr")]
        # a finished Order is forgotten once told: a later event of it is told again
        assert woken == [cr, cr, [], cr, cr, cr]
    finally:
        store.close()


def test_the_scheduler_is_woken_by_challenges_that_wait_or_free_a_slot(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        mapper = _mapper(ChallengeScheduler(Context(store, FakeClock()), 60), "Challenge")
        assert list(mapper(_event(_challenge(None, processing=False), EventType.ADDED))) == [SCHEDULER_KEY]
        assert list(mapper(_event(_challenge("pending")))) == []  # processing: no slot changes
        assert list(mapper(_event(_challenge("valid")))) == []
        assert list(mapper(_event(_challenge("valid", processing=False)))) == [SCHEDULER_KEY]  # slot freed
        assert list(mapper(_event(_challenge("valid"), EventType.DELETED))) == [SCHEDULER_KEY]
    finally:
        store.close()
