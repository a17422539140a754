"""The Kubernetes backend of the Store protocol against a real API server: the same
semantics the SQLite store gives the controllers (conflicts, generation, status,
finalizers, owner garbage collection, watch), served from watch-fed caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from certkeeper.api import constants as c
from certkeeper.api.certificate import Certificate, CertificateSpec
from certkeeper.api.common import IssuerReference
from certkeeper.api.core import Secret
from certkeeper.api.meta import Condition
from certkeeper.store import AlreadyExists, Conflict, EventType, Invalid, NotFound, WatchEvent
from certkeeper.store.base import Forbidden
from certkeeper.store.kube import KubeStore, open_kube_store
from tests.kubecluster import ControlPlane

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture
def store(kube_cluster: ControlPlane) -> Iterator[KubeStore]:
    s = open_kube_store(str(kube_cluster.kubeconfig), cached=True, qps=0)
    yield s
    s.close()


def cert(ns: str, name: str, secret: str = "", dns: str = "a.example.com") -> Certificate:
    return Certificate.new(
        name,
        ns,
        spec=CertificateSpec(
            secret_name=secret or f"{name}-tls",
            dns_names=[dns],
            issuer_ref=IssuerReference(name="ca", kind="Issuer"),
        ),
    )


def wait_until(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)  # polling the cluster's asynchronous state, with a deadline
    return False


def test_create_get_update_conflict_and_generation(store: KubeStore, kube_namespace: str) -> None:
    created = store.create(cert(kube_namespace, "web"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.generation == 1
    # reads come from the cache, which already holds our own write
    got = store.get(Certificate, kube_namespace, "web")
    assert got.metadata.resource_version == created.metadata.resource_version
    with pytest.raises(AlreadyExists):
        store.create(cert(kube_namespace, "web"))

    got.spec.dns_names = ["b.example.com"]
    updated = store.update(got)
    assert updated.metadata.generation == 2
    assert store.get(Certificate, kube_namespace, "web").spec.dns_names == ["b.example.com"]

    stale = created.model_copy(deep=True)
    stale.spec.dns_names = ["c.example.com"]
    with pytest.raises(Conflict):
        store.update(stale)

    # status through its own call: spec unchanged, generation unchanged
    fresh = store.get(Certificate, kube_namespace, "web")
    from certkeeper.api.certificate import CertificateStatus

    fresh.status = CertificateStatus(conditions=[Condition(type="Ready", status="False", reason="Pending", message="x")])
    with_status = store.update_status(fresh)
    assert with_status.metadata.generation == 2
    assert store.get(Certificate, kube_namespace, "web").status.conditions[0].reason == "Pending"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.get(Certificate, kube_namespace, "nothing")


def test_invalid_names_are_refused_with_the_field(store: KubeStore, kube_namespace: str) -> None:
    with pytest.raises(Invalid) as e:
        store.create(cert(kube_namespace, "Not_Valid"))
    assert any(err.startswith("metadata.name") for err in e.value.errors)


def test_list_by_label_and_owner(store: KubeStore, kube_namespace: str) -> None:
    owner = store.create(cert(kube_namespace, "owner"))
    for i in range(3):
        s = Secret.new(f"key-{i}", kube_namespace, data={"tls.key": "AA=="})
        s.metadata.labels = {c.LABEL_FAO: "true", "pick": "yes" if i < 2 else "no"}
        if i == 0:
            s.metadata.owner_references = [owner.as_owner()]
        store.create(s)
    picked = store.list(Secret, kube_namespace, {"pick": "yes"})
    assert [s.name for s in picked] == ["key-0", "key-1"]
    assert picked[0].get("tls.key") == b"\x00"
    owned = store.list(Secret, kube_namespace, owner_uid=owner.uid)
    assert [s.name for s in owned] == ["key-0"]


def test_unmanaged_secrets_are_cached_as_metadata_and_read_live(store: KubeStore, kube_namespace: str) -> None:
    """cert-manager's SecretsFilteredCaching: only the names of Secrets certkeeper does
    not manage are kept; their data is fetched when a controller asks for it."""
    ca = Secret.new("ca-key-pair", kube_namespace, data={"tls.crt": "Y2E="})
    store.create(ca)
    store.flush()
    meta_informer = store.informers(Secret)[1]
    entry = meta_informer.get(kube_namespace, "ca-key-pair")
    assert entry is not None and entry.partial and '"data"' not in entry.raw
    before = store.client.requests_made
    got = store.get(Secret, kube_namespace, "ca-key-pair")
    assert got.get("tls.crt") == b"ca"
    assert store.client.requests_made == before + 1  # one live GET


def test_watch_delivers_changes_and_deletions(store: KubeStore, kube_namespace: str) -> None:
    seen: list[tuple[EventType, str]] = []
    lock = threading.Lock()

    def handler(ev: WatchEvent) -> None:
        if ev.namespace == kube_namespace:
            with lock:
                seen.append((ev.type, ev.name))

    stop = store.watch(handler)
    try:
        store.create(cert(kube_namespace, "w"))
        store.delete(Certificate, kube_namespace, "w")
        store.flush()
        with lock:
            assert (EventType.ADDED, "w") in seen and (EventType.DELETED, "w") in seen
        assert store.try_get(Certificate, kube_namespace, "w") is None
    finally:
        stop()


def test_finalizers_hold_deletion(store: KubeStore, kube_namespace: str) -> None:
    obj = cert(kube_namespace, "fin")
    obj.metadata.finalizers = ["example.com/hold"]
    store.create(obj)
    store.delete(Certificate, kube_namespace, "fin")
    held = store.get(Certificate, kube_namespace, "fin")
    assert held.metadata.deletion_timestamp
    held.metadata.finalizers = None
    store.update(held)
    store.flush()
    assert store.try_get(Certificate, kube_namespace, "fin") is None


def test_owner_deletion_is_collected_by_the_garbage_collector(store: KubeStore, kube_namespace: str) -> None:
    owner = store.create(cert(kube_namespace, "gc"))
    s = Secret.new("gc-next", kube_namespace, data={"tls.key": "AA=="})
    s.metadata.labels = {c.LABEL_FAO: "true"}
    s.metadata.owner_references = [owner.as_owner()]
    store.create(s)
    store.delete(Certificate, kube_namespace, "gc")
    assert wait_until(lambda: store.try_get(Secret, kube_namespace, "gc-next") is None, 60)


def test_lease_one_holder_at_a_time(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    a = open_kube_store(str(kube_cluster.kubeconfig), lease_namespace=kube_namespace, qps=0)
    b = open_kube_store(str(kube_cluster.kubeconfig), lease_namespace=kube_namespace, qps=0)
    try:
        assert a.acquire_lease("leader", "a", 60)
        assert not b.acquire_lease("leader", "b", 60)
        before = a.client.requests_made
        assert a.acquire_lease("leader", "a", 60)  # renewal: one PUT, no read
        assert a.client.requests_made == before + 1
        a.release_lease("leader", "a")
        assert b.acquire_lease("leader", "b", 60)  # released: taken at once
    finally:
        a.close()
        b.close()


def test_forbidden_names_the_verb_and_resource(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    config = kube_cluster.client_kubeconfig("nobody")
    s = open_kube_store(str(config), qps=0)
    try:
        with pytest.raises(Forbidden) as e:
            s.list(Certificate, kube_namespace)
        assert 'cannot list resource "certificates"' in str(e.value)
        assert 'User "nobody"' in str(e.value)
    finally:
        s.close()
