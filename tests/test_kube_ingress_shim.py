"""ingress-shim against the real API server: one Certificate per ``spec.tls`` entry of an
annotated networking.k8s.io/v1 Ingress, every cert-manager annotation translated, a bad
annotation an Event with nothing changed, updates and removals followed, a Certificate
the Ingress does not own never touched."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from certkeeper.api.certificate import Certificate, CertificateSpec
from certkeeper.api.cluster import Ingress
from certkeeper.api.common import IssuerReference
from certkeeper.api.meta import ObjectMeta
from tests.kubecluster import ControlPlane
from tests.shimrig import ShimRig

pytest_plugins = ["tests.kubecluster"]


@pytest.fixture
def rig(kube_cluster: ControlPlane, kube_namespace: str) -> Iterator[ShimRig]:
    r = ShimRig(str(kube_cluster.kubeconfig), kube_namespace)
    yield r
    r.close()


def ingress(name: str, annotations: dict[str, str], tls: list[dict[str, Any]] | None = None,
            labels: dict[str, str] | None = None) -> Ingress:
    return Ingress(
        api_version=Ingress.API_VERSION, kind=Ingress.KIND,
        metadata=ObjectMeta(name=name, annotations=annotations, labels=labels),
        spec={
            "tls": tls if tls is not None else [{"hosts": ["www.example.test"], "secretName": "web-tls"}],
            "rules": [{"host": "www.example.test", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]}}],
        },
    )


ISSUER = {"cert-manager.io/issuer": "ca"}


def test_one_certificate_per_tls_entry_owned_by_the_ingress(rig: ShimRig) -> None:
    ing = rig.create(ingress("web", ISSUER, tls=[
        {"hosts": ["www.example.test", "example.test", "192.0.2.7", "www.example.test"], "secretName": "web-tls"},
        {"hosts": ["api.example.test"], "secretName": "api-tls"},
    ], labels={"app": "web", "applyset.kubernetes.io/part-of": "x"}))
    web, api = rig.cert("web-tls"), rig.cert("api-tls")
    assert web is not None and api is not None
    assert web.spec.dns_names == ["www.example.test", "example.test"]
    assert web.spec.ip_addresses == ["192.0.2.7"]
    assert web.spec.secret_name == "web-tls"
    assert web.spec.issuer_ref == IssuerReference(name="ca", kind="Issuer", group="cert-manager.io")
    assert web.spec.usages == ["digital signature", "key encipherment"]
    assert web.metadata.labels == {"app": "web"}
    ref = web.controller_ref()
    assert ref is not None and (ref.kind, ref.name, ref.uid) == ("Ingress", "web", ing.uid)
    assert api.spec.dns_names == ["api.example.test"]
    assert {e.message for e in rig.events("CreateCertificate")} == {
        'Successfully created Certificate "web-tls"', 'Successfully created Certificate "api-tls"'}


def test_cluster_issuer_kind_and_group(rig: ShimRig) -> None:
    rig.create(ingress("a", {"cert-manager.io/cluster-issuer": "le"}))
    cert = rig.cert("web-tls")
    assert cert is not None and cert.spec.issuer_ref == IssuerReference(
        name="le", kind="ClusterIssuer", group="cert-manager.io")


def test_issuer_kind_and_group_annotations(rig: ShimRig) -> None:
    rig.create(ingress("a", {**ISSUER, "cert-manager.io/issuer-kind": "AWSPCAIssuer",
                             "cert-manager.io/issuer-group": "awspca.cert-manager.io"}))
    cert = rig.cert("web-tls")
    assert cert is not None and cert.spec.issuer_ref == IssuerReference(
        name="ca", kind="AWSPCAIssuer", group="awspca.cert-manager.io")


def test_tls_acme_uses_the_default_issuer(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    r = ShimRig(str(kube_cluster.kubeconfig), kube_namespace, default_issuer_name="le",
                default_issuer_kind="ClusterIssuer")
    try:
        r.create(ingress("off", {"kubernetes.io/tls-acme": "false"}, tls=[{"hosts": ["a.test"], "secretName": "off"}]))
        r.create(ingress("on", {"kubernetes.io/tls-acme": "true"}))
        assert r.cert("off") is None
        cert = r.cert("web-tls")
        assert cert is not None and cert.spec.issuer_ref == IssuerReference(
            name="le", kind="ClusterIssuer", group="cert-manager.io")
    finally:
        r.close()


def test_an_ingress_without_annotations_gets_nothing(rig: ShimRig) -> None:
    rig.create(ingress("plain", {}))
    assert rig.cert("web-tls") is None
    # and kubernetes.io/tls-acme without a default issuer is a BadConfig, not a guess
    rig.create(ingress("acme", {"kubernetes.io/tls-acme": "true"}, tls=[{"hosts": ["a.test"], "secretName": "x"}]))
    assert rig.cert("x") is None
    assert any("no issuer" in (e.message or "") for e in rig.events("BadConfig"))


def _key(cert: Certificate) -> Any:
    return cert.spec.private_key


#: annotation, value, what the Certificate must then carry
GOOD: list[tuple[str, str, Callable[[CertificateSpec], Any], Any]] = [
    ("cert-manager.io/common-name", "www.example.test", lambda s: s.common_name, "www.example.test"),
    ("cert-manager.io/alt-names", "alt1.example.test, alt2.example.test",
     lambda s: s.dns_names, ["www.example.test", "alt1.example.test", "alt2.example.test"]),
    ("cert-manager.io/ip-sans", "10.0.0.1,2001:db8::1", lambda s: s.ip_addresses, ["10.0.0.1", "2001:db8::1"]),
    ("cert-manager.io/uri-sans", "spiffe://example.test/web", lambda s: s.uris, ["spiffe://example.test/web"]),
    ("cert-manager.io/email-sans", "ops@example.test,sec@example.test",
     lambda s: s.email_addresses, ["ops@example.test", "sec@example.test"]),
    ("cert-manager.io/subject-organizations", '"Acme, Inc",Example',
     lambda s: s.subject.organizations, ["Acme, Inc", "Example"]),
    ("cert-manager.io/subject-organizationalunits", "Ops,Web",
     lambda s: s.subject.organizational_units, ["Ops", "Web"]),
    ("cert-manager.io/subject-countries", "DE,FR", lambda s: s.subject.countries, ["DE", "FR"]),
    ("cert-manager.io/subject-provinces", "Bavaria", lambda s: s.subject.provinces, ["Bavaria"]),
    ("cert-manager.io/subject-localities", "Munich,Paris", lambda s: s.subject.localities, ["Munich", "Paris"]),
    ("cert-manager.io/subject-postalcodes", "80331", lambda s: s.subject.postal_codes, ["80331"]),
    ("cert-manager.io/subject-streetaddresses", '"1 Main St, Floor 2"',
     lambda s: s.subject.street_addresses, ["1 Main St, Floor 2"]),
    ("cert-manager.io/subject-serialnumber", "12345", lambda s: s.subject.serial_number, "12345"),
    ("cert-manager.io/duration", "720h", lambda s: s.duration, "720h"),
    ("cert-manager.io/renew-before", "240h", lambda s: s.renew_before, "240h"),
    ("cert-manager.io/renew-before-percentage", "30", lambda s: s.renew_before_percentage, 30),
    ("cert-manager.io/usages", "server auth,client auth", lambda s: s.usages, ["server auth", "client auth"]),
    ("cert-manager.io/revision-history-limit", "3", lambda s: s.revision_history_limit, 3),
    ("cert-manager.io/private-key-algorithm", "ECDSA", lambda s: s.private_key.algorithm, "ECDSA"),
    ("cert-manager.io/private-key-encoding", "PKCS8", lambda s: s.private_key.encoding, "PKCS8"),
    ("cert-manager.io/private-key-size", "4096", lambda s: s.private_key.size, 4096),
    ("cert-manager.io/private-key-rotation-policy", "Never", lambda s: s.private_key.rotation_policy, "Never"),
    ("cert-manager.io/secret-template", json.dumps({"labels": {"team": "web"}, "annotations": {"a": "b"}}),
     lambda s: s.secret_template.to_dict(), {"labels": {"team": "web"}, "annotations": {"a": "b"}}),
]


@pytest.mark.parametrize(("annotation", "value", "read", "expected"), GOOD, ids=[g[0].split("/")[1] for g in GOOD])
def test_annotation_is_carried_to_the_certificate(
    rig: ShimRig, annotation: str, value: str, read: Callable[[CertificateSpec], Any], expected: Any
) -> None:
    rig.create(ingress("web", {**ISSUER, annotation: value}))
    cert = rig.cert("web-tls")
    assert cert is not None, [e.message for e in rig.events()]
    assert read(cert.spec) == expected
    # and nothing else: the rest of the spec is what an unannotated Ingress gives
    baseline = CertificateSpec.model_validate(cert.spec.to_dict())
    plain = CertificateSpec(
        dns_names=["www.example.test"], secret_name="web-tls",
        issuer_ref=IssuerReference(name="ca", kind="Issuer", group="cert-manager.io"),
        usages=["digital signature", "key encipherment"],  # type: ignore[list-item]
    ).to_dict()
    changed = {k for k in {*baseline.to_dict(), *plain} if baseline.to_dict().get(k) != plain.get(k)}
    assert len(changed) == 1, changed


def test_http01_edit_in_place_and_ingress_class(rig: ShimRig) -> None:
    rig.create(ingress("web", {**ISSUER, "acme.cert-manager.io/http01-edit-in-place": "true"}))
    cert = rig.cert("web-tls")
    assert cert is not None
    assert cert.annotations() == {
        "acme.cert-manager.io/http01-override-ingress-name": "web",
        "cert-manager.io/issue-temporary-certificate": "true",
    }
    rig.create(ingress("other", {**ISSUER, "acme.cert-manager.io/http01-ingress-class": "nginx"},
                       tls=[{"hosts": ["b.example.test"], "secretName": "b-tls"}]))
    b = rig.cert("b-tls")
    assert b is not None and b.annotations() == {"acme.cert-manager.io/http01-override-ingress-class": "nginx"}
    rig.create(ingress("third", {**ISSUER, "acme.cert-manager.io/http01-ingress-ingressclassname": "public"},
                       tls=[{"hosts": ["c.example.test"], "secretName": "c-tls"}]))
    third = rig.cert("c-tls")
    assert third is not None
    assert third.annotations() == {"acme.cert-manager.io/http01-override-ingress-ingressclassname": "public"}


def test_extra_certificate_annotations_are_copied(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    r = ShimRig(str(kube_cluster.kubeconfig), kube_namespace, extra_certificate_annotations=["example.test/owner"])
    try:
        r.create(ingress("web", {**ISSUER, "example.test/owner": "team-a", "example.test/other": "x"}))
        cert = r.cert("web-tls")
        assert cert is not None and cert.annotations() == {"example.test/owner": "team-a"}
    finally:
        r.close()


BAD = [
    ("cert-manager.io/common-name", "x" * 65),
    ("cert-manager.io/ip-sans", "10.0.0.300"),
    ("cert-manager.io/email-sans", "not-an-email"),
    ("cert-manager.io/subject-organizations", 'Acme "Inc'),
    ("cert-manager.io/duration", "10m"),
    ("cert-manager.io/duration", "soon"),
    ("cert-manager.io/renew-before", "1m"),
    ("cert-manager.io/renew-before-percentage", "ten"),
    ("cert-manager.io/usages", "server auth,flying"),
    ("cert-manager.io/revision-history-limit", "0"),
    ("cert-manager.io/private-key-algorithm", "DSA"),
    ("cert-manager.io/private-key-encoding", "PEM"),
    ("cert-manager.io/private-key-size", "1024"),
    ("cert-manager.io/private-key-rotation-policy", "Sometimes"),
    ("cert-manager.io/secret-template", '{"labels": ["x"]}'),
    ("cert-manager.io/secret-template", '{"annotations": {"cert-manager.io/issuer-name": "x"}}'),
    ("acme.cert-manager.io/http01-edit-in-place", "yes"),
]


@pytest.mark.parametrize(("annotation", "value"), BAD, ids=[f"{a.split('/')[1]}={v[:12]}" for a, v in BAD])
def test_bad_annotation_is_an_event_and_nothing_changes(rig: ShimRig, annotation: str, value: str) -> None:
    ing = rig.create(ingress("web", {**ISSUER, "cert-manager.io/duration": "2160h"}))
    before = rig.cert("web-tls")
    assert before is not None
    ing = rig.store.get(Ingress, rig.namespace, "web")
    ing.metadata.annotations = {**ISSUER, "cert-manager.io/duration": "2160h", annotation: value}
    # a second tls entry in the same change must not be created either
    ing.spec = {**(ing.spec or {}), "tls": [*(ing.spec or {})["tls"], {"hosts": ["n.example.test"], "secretName": "n"}]}
    rig.update(ing)
    bad = rig.events("BadConfig")
    assert len(bad) == 1, [e.message for e in rig.events()]
    assert bad[0].type == "Warning"
    assert bad[0].involved_object.kind == "Ingress" and bad[0].involved_object.name == "web"
    assert f'"{annotation}"' in (bad[0].message or "")
    after = rig.cert("web-tls")
    assert after is not None and after.metadata.resource_version == before.metadata.resource_version
    assert rig.cert("n") is None


def test_issuer_and_cluster_issuer_together_is_bad_config(rig: ShimRig) -> None:
    rig.create(ingress("web", {**ISSUER, "cert-manager.io/cluster-issuer": "le"}))
    assert rig.cert("web-tls") is None
    [event] = rig.events("BadConfig")
    assert "cert-manager.io/cluster-issuer" in (event.message or "")


def test_entries_without_hosts_or_secret_are_skipped_with_a_warning(rig: ShimRig) -> None:
    rig.create(ingress("web", ISSUER, tls=[
        {"secretName": "nohosts"}, {"hosts": ["a.example.test"]},
        {"hosts": ["ok.example.test"], "secretName": "ok"},
    ]))
    assert rig.cert("nohosts") is None and rig.cert("ok") is not None
    messages = sorted(e.message or "" for e in rig.events("BadConfig"))
    assert any("spec.tls[0].hosts" in m for m in messages) and any("spec.tls[1].secretName" in m for m in messages)


def test_changes_update_and_removed_entries_delete(rig: ShimRig) -> None:
    rig.create(ingress("web", ISSUER, tls=[
        {"hosts": ["www.example.test"], "secretName": "web-tls"},
        {"hosts": ["api.example.test"], "secretName": "api-tls"},
    ]))
    ing = rig.store.get(Ingress, rig.namespace, "web")
    ing.metadata.annotations = {**ISSUER, "cert-manager.io/duration": "720h", "cert-manager.io/subject-countries": "DE"}
    ing.spec = {**(ing.spec or {}), "tls": [{"hosts": ["www.example.test", "new.example.test"], "secretName": "web-tls"}]}
    rig.update(ing)
    web = rig.cert("web-tls")
    assert web is not None
    assert web.spec.dns_names == ["www.example.test", "new.example.test"]
    assert web.spec.duration == "720h" and web.spec.subject is not None and web.spec.subject.countries == ["DE"]
    assert rig.cert("api-tls") is None
    assert [e.message for e in rig.events("DeleteCertificate")] == ['Successfully deleted unrequired Certificate "api-tls"']
    assert [e.message for e in rig.events("UpdateCertificate")] == ['Successfully updated Certificate "web-tls"']


def test_a_certificate_the_ingress_does_not_own_is_never_touched(rig: ShimRig) -> None:
    mine = Certificate.new("web-tls", rig.namespace, spec=CertificateSpec(
        secret_name="web-tls", dns_names=["mine.example.test"], issuer_ref=IssuerReference(name="other")))
    mine = rig.store.create(mine)
    rig.create(ingress("web", ISSUER))
    after = rig.cert("web-tls")
    assert after is not None and after.metadata.resource_version == mine.metadata.resource_version
    assert after.spec.dns_names == ["mine.example.test"]
    # nor deleted when the Ingress stops naming that Secret
    ing = rig.store.get(Ingress, rig.namespace, "web")
    ing.spec = {**(ing.spec or {}), "tls": []}
    rig.update(ing)
    assert rig.cert("web-tls") is not None


def test_deleting_the_ingress_deletes_its_certificates(rig: ShimRig) -> None:
    rig.create(ingress("web", ISSUER))
    assert rig.cert("web-tls") is not None
    rig.store.delete(Ingress, rig.namespace, "web")
    rig.settle()
    # the cluster's garbage collector removes what the Ingress owned
    assert rig.wait_gone("web-tls")
