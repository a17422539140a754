"""gateway-shim against the real API server with the Gateway API CRDs of the pinned release
(tools/gatewayapi/go.mod, read from the Go module): one Certificate per Secret named by a
TLS-terminating listener, with the listeners' hostnames; a bad annotation is an Event and
nothing changes; updates, removed listeners and the Gateway's deletion are followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from certkeeper.api.certificate import Certificate, CertificateSpec
from certkeeper.api.cluster import Gateway, HTTPRoute
from certkeeper.api.common import IssuerReference
from certkeeper.api.meta import ObjectMeta
from tests.kubecluster import ControlPlane
from tests.shimrig import ShimRig

pytest_plugins = ["tests.kubecluster"]

ISSUER = {"cert-manager.io/cluster-issuer": "le"}


@pytest.fixture
def rig(gateway_api: ControlPlane, kube_namespace: str) -> Iterator[ShimRig]:
    r = ShimRig(str(gateway_api.kubeconfig), kube_namespace, enable_gateway_api=True)
    yield r
    r.close()


def listener(name: str, hostname: str | None, secret: str | None, protocol: str = "HTTPS",
             mode: str = "Terminate", port: int = 443) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "port": port, "protocol": protocol}
    if hostname:
        out["hostname"] = hostname
    if protocol in ("HTTPS", "TLS"):
        tls: dict[str, Any] = {"mode": mode}
        if secret:
            tls["certificateRefs"] = [{"kind": "Secret", "name": secret}]
        out["tls"] = tls
    return out


def gateway(annotations: dict[str, str], listeners: list[dict[str, Any]]) -> Gateway:
    return Gateway(
        api_version=Gateway.API_VERSION, kind=Gateway.KIND,
        metadata=ObjectMeta(name="edge", annotations=annotations, labels={"tier": "edge"}),
        spec={"gatewayClassName": "example", "listeners": listeners},
    )


TWO = [
    listener("shop", "shop.example.test", "shop-tls"),
    listener("api", "api.example.test", "api-tls", protocol="TLS", port=8443),
    listener("plain", "shop.example.test", None, protocol="HTTP", port=80),
    listener("through", "pass.example.test", None, protocol="TLS", mode="Passthrough", port=9443),
]


def test_one_certificate_per_listener_secret(rig: ShimRig) -> None:
    gw = rig.create(gateway(ISSUER, TWO))
    certs = {c.name: c for c in rig.store.list(Certificate, rig.namespace)}
    assert set(certs) == {"shop-tls", "api-tls"}
    shop, api = certs["shop-tls"], certs["api-tls"]
    assert shop.spec.dns_names == ["shop.example.test"] and api.spec.dns_names == ["api.example.test"]
    assert shop.spec.issuer_ref == IssuerReference(name="le", kind="ClusterIssuer", group="cert-manager.io")
    assert shop.spec.secret_name == "shop-tls"
    assert shop.metadata.labels == {"tier": "edge"}
    assert shop.is_controlled_by(gw) and api.is_controlled_by(gw)
    # HTTP-01 for these names goes through an HTTPRoute attached to this Gateway
    assert shop.annotations() == {
        "acme.cert-manager.io/http01-parentrefkind": "Gateway", "acme.cert-manager.io/http01-parentrefname": "edge"}


def test_listeners_sharing_a_secret_share_its_certificate(rig: ShimRig) -> None:
    rig.create(gateway(ISSUER, [listener("a", "a.example.test", "both"),
                                listener("b", "b.example.test", "both", port=8443)]))
    cert = rig.cert("both")
    assert cert is not None and cert.spec.dns_names == ["a.example.test", "b.example.test"]


def test_annotations_apply_to_gateways_too(rig: ShimRig) -> None:
    rig.create(gateway({**ISSUER, "cert-manager.io/duration": "720h",
                        "cert-manager.io/private-key-algorithm": "ECDSA",
                        "cert-manager.io/ignore-tls-listeners": "api"}, TWO))
    assert rig.cert("api-tls") is None
    shop = rig.cert("shop-tls")
    assert shop is not None and shop.spec.duration == "720h"
    assert shop.spec.private_key is not None and shop.spec.private_key.algorithm == "ECDSA"


def test_bad_annotation_is_an_event_and_nothing_changes(rig: ShimRig) -> None:
    rig.create(gateway(ISSUER, TWO))
    before = {c.name: c.metadata.resource_version for c in rig.store.list(Certificate, rig.namespace)}
    gw = rig.store.get(Gateway, rig.namespace, "edge")
    gw.metadata.annotations = {**ISSUER, "cert-manager.io/renew-before": "1s"}
    gw.spec = {**(gw.spec or {}), "listeners": [*TWO, listener("new", "new.example.test", "new-tls", port=7443)]}
    rig.update(gw)
    [bad] = rig.events("BadConfig")
    assert bad.involved_object.kind == "Gateway" and '"cert-manager.io/renew-before"' in (bad.message or "")
    after = {c.name: c.metadata.resource_version for c in rig.store.list(Certificate, rig.namespace)}
    assert after == before


def test_updates_removed_listener_and_deletion(rig: ShimRig) -> None:
    rig.create(gateway(ISSUER, TWO))
    gw = rig.store.get(Gateway, rig.namespace, "edge")
    gw.spec = {**(gw.spec or {}), "listeners": [listener("shop", "www.example.test", "shop-tls")]}
    rig.update(gw)
    shop = rig.cert("shop-tls")
    assert shop is not None and shop.spec.dns_names == ["www.example.test"]
    assert rig.cert("api-tls") is None
    assert [e.message for e in rig.events("DeleteCertificate")] == ['Successfully deleted unrequired Certificate "api-tls"']
    rig.store.delete(Gateway, rig.namespace, "edge")
    rig.settle()
    # the cluster's garbage collector removes what the Gateway owned
    assert rig.wait_gone("shop-tls")


def test_a_certificate_the_gateway_does_not_own_is_never_touched(rig: ShimRig) -> None:
    mine = rig.store.create(Certificate.new("shop-tls", rig.namespace, spec=CertificateSpec(
        secret_name="shop-tls", dns_names=["mine.example.test"], issuer_ref=IssuerReference(name="other"))))
    rig.create(gateway(ISSUER, TWO))
    after = rig.cert("shop-tls")
    assert after is not None and after.metadata.resource_version == mine.metadata.resource_version


def test_http_route_solver_objects(gateway_api: ControlPlane, kube_namespace: str) -> None:
    """The HTTPRoute of a gatewayHTTPRoute solver, accepted by the real Gateway API schema,
    and removed with the rest at clean-up."""
    from certkeeper.api.acme import Challenge
    from certkeeper.controllers.acme.podsolver import ClusterHTTP01Solver, SolverPodSettings, identity_labels
    from certkeeper.runtime.clock import RealClock
    from certkeeper.runtime.controller import Context
    from certkeeper.store.kube import open_kube_store

    store = open_kube_store(str(gateway_api.kubeconfig), cached=True, qps=0, namespace=kube_namespace)
    try:
        ch = store.create(Challenge.from_dict({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "ch", "namespace": kube_namespace},
            "spec": {
                "url": "https://acme.example.test/chall/1", "authorizationURL": "https://acme.example.test/authz/1",
                "dnsName": "shop.example.test", "type": "HTTP-01", "token": "tok", "key": "tok.thumb",
                "issuerRef": {"name": "le"},
                "solver": {"http01": {"gatewayHTTPRoute": {
                    "labels": {"route": "acme"},
                    "parentRefs": [{"name": "edge", "kind": "Gateway", "sectionName": "plain"}],
                }}},
            },
        }))
        solver = ClusterHTTP01Solver(Context(store=store, clock=RealClock()), SolverPodSettings(image="img"), True)
        solver.present(ch)
        solver.present(ch)  # idempotent: found again by its labels
        [route] = store.list(HTTPRoute, kube_namespace)
        assert route.labels() == {**identity_labels(ch), "route": "acme"}
        assert route.is_controlled_by(ch)
        spec = route.spec or {}
        assert spec["hostnames"] == ["shop.example.test"]
        assert spec["parentRefs"][0]["name"] == "edge" and spec["parentRefs"][0]["sectionName"] == "plain"
        [rule] = spec["rules"]
        assert rule["matches"][0]["path"] == {"type": "Exact", "value": "/.well-known/acme-challenge/tok"}
        assert rule["backendRefs"][0]["port"] == 8089
        solver.cleanup(ch)
        assert store.list(HTTPRoute, kube_namespace) == []
    finally:
        store.close()
