"""The work queue serves work in flight first (tickets), and the manager gives every step
of one issuance the ticket of its Certificate, so a batch flows through as a pipeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from pathlib import Path

from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.meta import ObjectMeta, OwnerReference, get_condition
from certkeeper.runtime.clock import FakeClock
from certkeeper.runtime.lineage import Lineage
from certkeeper.runtime.queue import WorkQueue, next_ticket
from certkeeper.store.base import EventType, WatchEvent

from .harness import CA_SETUP, Harness, leaf_certificate


def drain(q: WorkQueue) -> list[Hashable]:
    out = []
    while (item := q.try_get()) is not None:
        out.append(item)
        q.done(item)
    return out


def test_lower_ticket_first_and_fifo_without_one() -> None:
    old, new = next_ticket(), next_ticket()
    q = WorkQueue(FakeClock())
    q.add("plain-1")
    q.add("new-work", new)
    q.add("old-work", old)
    q.add("plain-2")
    # the two ticketed items were ticketed before the plain ones were added
    assert drain(q) == ["old-work", "new-work", "plain-1", "plain-2"]


def test_a_queued_item_takes_the_lower_ticket_once() -> None:
    q = WorkQueue(FakeClock())
    q.add("a")
    q.add("b")
    early = next_ticket() - 1000  # older than both
    q.add("b", early)
    q.add("b", early + 5)  # a higher ticket never moves it back
    assert drain(q) == ["b", "a"]
    assert q.ready_len() == 0


def test_own_ticket_wins_and_survives_a_reconcile_in_progress() -> None:
    mine = next_ticket()
    q = WorkQueue(FakeClock(), ticket_of=lambda item: mine if item == "chain" else None)
    q.add("other")
    q.add("chain", ticket=None)
    assert q.try_get() == "chain"  # its own (older) ticket puts it before "other"
    q.add("chain")  # changed while being reconciled: comes back after done, still first
    q.done("chain")
    assert drain(q) == ["chain", "other"]


def test_a_timer_fires_with_the_items_own_ticket() -> None:
    clock = FakeClock()
    mine = next_ticket()
    q = WorkQueue(clock, ticket_of=lambda item: mine if item == "poll" else None)
    q.add_after("poll", dt.timedelta(seconds=1))
    q.add("later")
    clock.advance(dt.timedelta(seconds=2))
    assert drain(q) == ["poll", "later"]


def _event(obj: Certificate | CertificateRequest, type_: EventType = EventType.ADDED) -> WatchEvent:
    return WatchEvent(type_, obj.KIND, obj.namespace, obj.name, obj)


def _cert(name: str) -> Certificate:
    return Certificate(metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}"))


def _request(name: str, owner: Certificate) -> CertificateRequest:
    ref = OwnerReference(apiVersion="cert-manager.io/v1", kind="Certificate", name=owner.name,
                         uid=owner.uid or "", controller=True)
    return CertificateRequest(metadata=ObjectMeta(name=name, namespace="ns", ownerReferences=[ref]))


def test_lineage_inherits_the_owners_ticket_and_forgets() -> None:
    lineage = Lineage(["Certificate", "CertificateRequest"], limit=3)
    first, second = _cert("first"), _cert("second")
    t1 = lineage.observe(_event(first))
    t2 = lineage.observe(_event(second))
    assert t1 is not None and t2 is not None and t1 < t2
    assert lineage.observe(_event(_request("first-1", first))) == t1
    assert lineage.ticket("CertificateRequest", ("ns", "first-1")) == t1
    assert lineage.observe(_event(first, EventType.MODIFIED)) == t1  # stable across updates
    # a deletion forgets the object; past the limit the oldest entry goes
    lineage.observe(_event(second, EventType.DELETED))
    assert lineage.ticket("Certificate", ("ns", "second")) is None
    lineage.observe(_event(_cert("third")))
    lineage.observe(_event(_cert("fourth")))
    assert len(lineage) == 3
    assert lineage.ticket("Certificate", ("ns", "first")) is None
    # a kind no controller reconciles gets no ticket
    assert Lineage(["Order"]).observe(_event(first)) is None


def test_a_batch_is_issued_one_certificate_after_another(tmp_path: Path) -> None:
    """Five Certificates applied at once: each is Ready before the next one's request is
    even created (first in, first out over all keys issued them in lockstep: every
    request created before any certificate was Ready)."""
    h = Harness(tmp_path)
    try:
        h.apply(CA_SETUP)
        h.settle()
        seen: list[tuple[str, str]] = []

        def record(event: WatchEvent) -> None:
            obj = event.obj
            if isinstance(obj, CertificateRequest) and event.type == EventType.ADDED:
                seen.append(("request", obj.annotations().get("cert-manager.io/certificate-name", "")))
            if isinstance(obj, Certificate) and obj.status is not None:
                ready = get_condition(obj.status.conditions, "Ready")
                if ready is not None and ready.status == "True" and ("ready", obj.name) not in seen:
                    seen.append(("ready", obj.name))

        stop = h.store.watch(record)
        names = [f"web-{i}" for i in range(5)]
        for name in names:
            h.apply(leaf_certificate(name))
        h.settle()
        stop()
        assert [n for kind, n in seen if kind == "ready"] == names
        for before, after in zip(names, names[1:], strict=False):
            assert seen.index(("ready", before)) < seen.index(("request", after)), seen
    finally:
        h.close()
