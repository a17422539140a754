"""HTTP-01 in a cluster, end to end against the real control plane and Pebble: an annotated
Ingress becomes a Certificate, its ACME challenge gets a solver Pod, Service and Ingress
of cert-manager's shape, ``certkeeper acmesolver`` answers with the Pod's own arguments,
the certificate is issued, and the three objects are removed. A controller restarted in
the middle of the challenge finds its objects again.

No kubelet runs in the test control plane, so the Pod is created and never started: the
test runs the Pod's program itself, as a local process, on the address Pebble's
validation and the self-check resolve the name to (BIND answers 127.0.0.1).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certkeeper.api.acme import Challenge
from certkeeper.api.certificate import Certificate
from certkeeper.api.cluster import Ingress, Pod, Service
from certkeeper.api.meta import ObjectMeta
from certkeeper.controllers.acme.podsolver import LABEL_SOLVER, identity_labels
from tests.kubecluster import ControlPlane
from tests.peers import BindServer, PebbleServer
from tests.test_acme_daemon_support import LiveDaemon, acme_issuer, assert_chains_to, sans, unique

pytest_plugins = ["tests.peers", "tests.kubecluster"]
pytestmark = pytest.mark.peers

SOLVER = {"http01": {"ingress": {
    "ingressClassName": "nginx",
    "podTemplate": {"metadata": {"labels": {"team": "web"}},
                    "spec": {"nodeSelector": {"pool": "edge"}, "resources": {"limits": {"memory": "128Mi"}}}},
    "ingressTemplate": {"metadata": {"annotations": {"example.test/note": "solver"}}},
}}}


def start_daemon(plane: ControlPlane, pebble: PebbleServer, bind: BindServer, tmp: Path) -> LiveDaemon:
    return LiveDaemon(
        tmp, plane, http01_address=None, http01_solver_pods=True, ingress_shim=True,
        acme_http01_solver_image="registry.example.test/certkeeper:test",
        http01_self_check_port=pebble.http_port, acme_http01_solver_nameservers=[bind.address],
    )


@pytest.fixture
def daemon(kube_cluster: ControlPlane, pebble: PebbleServer, bind: BindServer, tmp_path: Path) -> Iterator[LiveDaemon]:
    d = start_daemon(kube_cluster, pebble, bind, tmp_path)
    try:
        yield d
    finally:
        d.close()


def solver_objects(d: LiveDaemon, ns: str) -> dict[str, list[Any]]:
    sel = {LABEL_SOLVER: "true"}
    return {cls.KIND: d.store.list(cls, ns, labels=sel) for cls in (Pod, Service, Ingress)}


def annotated_ingress(d: LiveDaemon, ns: str, host: str) -> None:
    d.store.create(Ingress(
        api_version=Ingress.API_VERSION, kind=Ingress.KIND,
        metadata=ObjectMeta(name="shop", namespace=ns, annotations={"cert-manager.io/issuer": "le"}),
        spec={"tls": [{"hosts": [host], "secretName": "shop-tls"}],
              "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                  "service": {"name": "shop", "port": {"number": 80}}}}]}}]},
    ))


def wait_solver_objects(d: LiveDaemon, ns: str) -> dict[str, list[Any]]:
    def complete() -> dict[str, list[Any]] | None:
        objs = solver_objects(d, ns)
        return objs if all(objs.values()) else None

    return d.wait_for(complete, 60, "solver Pod, Service, Ingress")


def run_pod_program(pod: Pod, pebble: PebbleServer) -> subprocess.Popen[bytes]:
    """The Pod's container, run here: its command and arguments, on Pebble's HTTP port."""
    [container] = (pod.spec or {})["containers"]
    assert container["command"] == ["certkeeper", "acmesolver"]
    args = [a for a in container["args"] if not a.startswith("--listen-port=")]
    argv = [sys.executable, "-m", "certkeeper", "acmesolver", f"--listen-port={pebble.http_port}",
            "--listen-host=127.0.0.1", *args]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_annotated_ingress_issued_through_solver_pod_service_and_ingress(
    daemon: LiveDaemon, pebble: PebbleServer, kube_namespace: str
) -> None:
    ns = kube_namespace
    host = f"{unique('shop')}.example.test"
    daemon.apply(acme_issuer("le", pebble, [SOLVER]), namespace=ns)
    annotated_ingress(daemon, ns, host)
    objs = wait_solver_objects(daemon, ns)
    [pod], [svc], [ing] = objs["Pod"], objs["Service"], objs["Ingress"]
    [ch] = daemon.store.list(Challenge, ns)
    ident = identity_labels(ch)
    # the Pod: cert-manager's labels, owner, program and hardening, the template merged in
    assert pod.labels() == {**ident, "team": "web"}
    assert pod.is_controlled_by(ch) and svc.is_controlled_by(ch) and ing.is_controlled_by(ch)
    assert pod.name.startswith("cm-acme-http-solver-")
    spec = pod.spec or {}
    [c] = spec["containers"]
    assert c["image"] == "registry.example.test/certkeeper:test"
    assert c["args"] == ["--listen-port=8089", f"--domain={host}", f"--token={ch.spec.token}", f"--key={ch.spec.key}"]
    assert c["resources"] == {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "edge"}
    assert spec["automountServiceAccountToken"] is False
    # the Service selects exactly that Pod's labels
    assert svc.spec["selector"] == ident and svc.spec["type"] == "NodePort"
    assert [(p["port"], p["targetPort"]) for p in svc.spec["ports"]] == [(8089, 8089)]
    # the Ingress routes the token's path of that name to the Service
    assert ing.spec["ingressClassName"] == "nginx"
    assert ing.annotations()["example.test/note"] == "solver"
    [rule] = ing.spec["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"] == [{
        "path": f"/.well-known/acme-challenge/{ch.spec.token}", "pathType": "Exact",
        "backend": {"service": {"name": svc.name, "port": {"number": 8089}}},
    }]

    proc = run_pod_program(pod, pebble)
    try:
        daemon.wait_ready(Certificate, "shop-tls", ns, timeout=90)
        chain = daemon.chain("shop-tls", ns)
        assert sans(chain[0]) == [host]
        assert_chains_to(chain, pebble.root_pem(0))
        daemon.wait_for(lambda: not any(solver_objects(daemon, ns).values()), 60, "solver objects removed")
    finally:
        proc.terminate()
        proc.wait(10)


def test_restart_mid_challenge_finds_its_solver_objects(
    kube_cluster: ControlPlane, pebble: PebbleServer, bind: BindServer, tmp_path: Path, kube_namespace: str
) -> None:
    ns = kube_namespace
    host = f"{unique('resume')}.example.test"
    first = start_daemon(kube_cluster, pebble, bind, tmp_path)
    try:
        first.apply(acme_issuer("le", pebble, [SOLVER]), namespace=ns)
        annotated_ingress(first, ns, host)
        objs = wait_solver_objects(first, ns)
        # the self-check is failing (nothing answers yet): the challenge is mid-way
        first.wait_for(lambda: any("propagation" in ((c.status.reason if c.status else "") or "")
                                   for c in first.store.list(Challenge, ns)), 60, "self-check failing")
    finally:
        first.close()
    before = {kind: {o.uid for o in found} for kind, found in objs.items()}
    second = start_daemon(kube_cluster, pebble, bind, tmp_path)
    proc = run_pod_program(objs["Pod"][0], pebble)
    try:
        second.wait_ready(Certificate, "shop-tls", ns, timeout=90)
        # no object of the challenge was created a second time
        kinds = {"Pod", "Service", "Ingress"}
        seen = {kind: {e.obj.uid for e in second.events if e.kind == kind and e.obj.namespace == ns
                       and e.obj.labels().get(LABEL_SOLVER) == "true"} for kind in kinds}
        assert seen == before
        second.wait_for(lambda: not any(solver_objects(second, ns).values()), 60, "solver objects removed")
    finally:
        proc.terminate()
        proc.wait(10)
        second.close()


def test_acmesolver_answers_exactly_its_token(tmp_path: Path) -> None:
    from tests.kubecluster import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "certkeeper", "acmesolver", f"--listen-port={port}", "--listen-host=127.0.0.1",
         "--domain=www.example.test", "--token=tok_123", "--key=tok_123.thumb"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def get(path: str, host: str = "www.example.test") -> tuple[int, bytes]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, b""

        import time

        deadline = time.monotonic() + 20
        while True:  # the process needs a moment to listen: poll with a deadline
            try:
                status, body = get("/.well-known/acme-challenge/tok_123")
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        assert (status, body) == (200, b"tok_123.thumb")
        assert get("/.well-known/acme-challenge/tok_123", "www.example.test:8089") == (200, b"tok_123.thumb")
        assert get("/.well-known/acme-challenge/other")[0] == 404
        assert get("/.well-known/acme-challenge/tok_123", "evil.example.test")[0] == 404
        assert get("/healthz")[0] == 200
        assert get("/anything")[0] == 404
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    err = (proc.stderr.read() if proc.stderr else b"").decode()
    assert "tok_123.thumb" not in err  # the key is not logged


def test_named_ingress_edited_in_place_and_restored(kube_cluster: ControlPlane, kube_namespace: str) -> None:
    """A solver with ``name``: the challenge's path goes first in the rule for its name of
    that Ingress (so the site's catch-all does not take it), and clean-up gives the rules back."""
    from certkeeper.controllers.acme.podsolver import ClusterHTTP01Solver, SolverPodSettings
    from certkeeper.runtime.clock import RealClock
    from certkeeper.runtime.controller import Context
    from certkeeper.store.kube import open_kube_store

    ns = kube_namespace
    store = open_kube_store(str(kube_cluster.kubeconfig), cached=True, qps=0, namespace=ns)
    try:
        site = [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]
        original = store.create(Ingress(
            api_version=Ingress.API_VERSION, kind=Ingress.KIND, metadata=ObjectMeta(name="shop", namespace=ns),
            spec={"rules": [{"host": "shop.example.test", "http": {"paths": site}}]},
        ))
        ch = store.create(Challenge.from_dict({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "ch", "namespace": ns},
            "spec": {"url": "https://acme.example.test/c/1", "authorizationURL": "https://acme.example.test/a/1",
                     "dnsName": "shop.example.test", "type": "HTTP-01", "token": "tok", "key": "tok.thumb",
                     "issuerRef": {"name": "le"}, "solver": {"http01": {"ingress": {"name": "shop"}}}},
        }))
        solver = ClusterHTTP01Solver(Context(store=store, clock=RealClock()), SolverPodSettings(image="img"), False)
        solver.present(ch)
        solver.present(ch)
        [svc] = store.list(Service, ns, labels={LABEL_SOLVER: "true"})
        assert store.list(Ingress, ns, labels={LABEL_SOLVER: "true"}) == []  # no Ingress of its own
        edited = store.get(Ingress, ns, "shop")
        [rule] = (edited.spec or {})["rules"]
        assert rule["http"]["paths"] == [{
            "path": "/.well-known/acme-challenge/tok", "pathType": "Exact",
            "backend": {"service": {"name": svc.name, "port": {"number": 8089}}},
        }, *site]
        solver.cleanup(ch)
        assert (store.get(Ingress, ns, "shop").spec or {})["rules"] == (original.spec or {})["rules"]
        assert store.list(Pod, ns, labels={LABEL_SOLVER: "true"}) == []
        assert store.list(Service, ns, labels={LABEL_SOLVER: "true"}) == []
    finally:
        store.close()
