"""HTTP-01 answered inside a cluster, as cert-manager does (pkg/issuer/acme/http, spec §4.5):
a solver Pod running ``certkeeper acmesolver`` for one token, a Service in front of it, and
a temporary Ingress (or a path added to a named one) or a Gateway API HTTPRoute routing
``/.well-known/acme-challenge/<token>`` of the challenge's name to that Service.

Everything is written through the Store protocol and carries cert-manager's identity
labels (``http-domain``, ``http-token``, ``http01-solver``) and a controller reference to
the Challenge, so a restarted controller finds the objects of a challenge again by label
instead of creating a second set, and CleanUp removes exactly them.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import ipaddress
import zlib
from typing import Any

from ...acme.http01 import CHALLENGE_PATH, http01_self_check
from ...api.acme import (
    ACMEChallengeSolverHTTP01,
    ACMEChallengeSolverHTTP01GatewayHTTPRoute,
    ACMEChallengeSolverHTTP01Ingress,
    Challenge,
    PodTemplate,
)
from ...api.cluster import HTTPRoute, Ingress, Pod, Service
from ...api.meta import ObjectMeta, Resource
from ...runtime.controller import Context
from ...store.base import Forbidden, Invalid, NotFound
from .solvers import SolverFailure

LABEL_DOMAIN = "acme.cert-manager.io/http-domain"
LABEL_TOKEN = "acme.cert-manager.io/http-token"
LABEL_SOLVER = "acme.cert-manager.io/http01-solver"
SOLVER_PORT = 8089
GENERATE_NAME = "cm-acme-http-solver-"
WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


@dataclasses.dataclass(frozen=True)
class SolverPodSettings:
    """cert-manager's --acme-http01-solver-* flags."""

    image: str
    request_cpu: str = "10m"
    request_memory: str = "64Mi"
    limit_cpu: str = "100m"
    limit_memory: str = "64Mi"
    run_as_non_root: bool = True
    extra_labels: tuple[tuple[str, str], ...] = ()
    #: port the self-check dials (where the cluster's ingress answers; 80 in production)
    self_check_port: int = 80
    nameservers: tuple[str, ...] = ()


class SolverObjectsError(SolverFailure):
    """The solver's objects are not as they must be (several Pods for one token ...)."""


def identity_labels(ch: Challenge) -> dict[str, str]:
    """cert-manager's labels: adler32 of the name and of the token, in decimal."""
    return {
        LABEL_DOMAIN: str(zlib.adler32((ch.spec.dns_name or "").encode())),
        LABEL_TOKEN: str(zlib.adler32((ch.spec.token or "").encode())),
        LABEL_SOLVER: "true",
    }


def solver_args(ch: Challenge) -> list[str]:
    return [
        f"--listen-port={SOLVER_PORT}",
        f"--domain={ch.spec.dns_name or ''}",
        f"--token={ch.spec.token or ''}",
        f"--key={ch.spec.key or ''}",
    ]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class ClusterHTTP01Solver:
    def __init__(self, ctx: Context, settings: SolverPodSettings, gateway_api: bool) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.settings = settings
        self.gateway_api = gateway_api

    # ------------------------------------------------------------------ shapes

    def _http01(self, ch: Challenge) -> ACMEChallengeSolverHTTP01:
        solver = ch.spec.solver
        if solver is None or solver.http01 is None:
            raise SolverObjectsError("the challenge has no http01 solver")
        return solver.http01

    def _labels(self, ch: Challenge) -> dict[str, str]:
        return {**dict(self.settings.extra_labels), **identity_labels(ch)}

    def _meta(self, ch: Challenge, labels: dict[str, str], annotations: dict[str, str] | None) -> ObjectMeta:
        return ObjectMeta(
            generate_name=GENERATE_NAME, namespace=ch.namespace, labels=labels,
            annotations=annotations or None, owner_references=[ch.as_owner()],
        )

    def pod(self, ch: Challenge) -> Pod:
        h = self._http01(ch)
        template: PodTemplate | None = (h.ingress or h.gateway_http_route or ACMEChallengeSolverHTTP01Ingress()).pod_template
        s = self.settings
        labels = self._labels(ch)
        annotations = {"sidecar.istio.io/inject": "false", "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
        pod_security: dict[str, Any] = {"runAsNonRoot": s.run_as_non_root, "seccompProfile": {"type": "RuntimeDefault"}}
        container: dict[str, Any] = {
            "name": "acmesolver",
            "image": s.image,
            "imagePullPolicy": "IfNotPresent",
            # the image's entrypoint is the controller; the solver is its acmesolver verb
            "command": ["certkeeper", "acmesolver"],
            "args": solver_args(ch),
            "ports": [{"name": "http", "containerPort": SOLVER_PORT}],
            "resources": {
                "requests": {"cpu": s.request_cpu, "memory": s.request_memory},
                "limits": {"cpu": s.limit_cpu, "memory": s.limit_memory},
            },
            "securityContext": {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        spec: dict[str, Any] = {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "restartPolicy": "OnFailure",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security,
            "containers": [container],
        }
        if template is not None:
            meta = template.metadata
            if meta is not None:
                labels = {**(meta.labels or {}), **labels}  # the identity labels win
                annotations = {**annotations, **(meta.annotations or {})}
            ts = template.spec
            if ts is not None:
                if ts.node_selector:
                    spec["nodeSelector"] = {**spec["nodeSelector"], **ts.node_selector}
                if ts.tolerations:
                    spec["tolerations"] = copy.deepcopy(ts.tolerations)
                if ts.image_pull_secrets:
                    spec["imagePullSecrets"] = [r.to_dict() for r in ts.image_pull_secrets]
                for field, key in (("affinity", "affinity"), ("priority_class_name", "priorityClassName"),
                                   ("service_account_name", "serviceAccountName"),
                                   ("security_context", "securityContext")):
                    value = getattr(ts, field)
                    if value:
                        spec[key] = copy.deepcopy(value)
                if ts.resources is not None:
                    for part in ("requests", "limits"):
                        given = getattr(ts.resources, part)
                        if given:
                            container["resources"][part].update({k: str(v) for k, v in given.items()})
        return Pod(api_version=Pod.API_VERSION, kind=Pod.KIND, metadata=self._meta(ch, labels, annotations), spec=spec)

    def service(self, ch: Challenge) -> Service:
        h = self._http01(ch)
        kind = (h.ingress or h.gateway_http_route or ACMEChallengeSolverHTTP01Ingress()).service_type or "NodePort"
        return Service(
            api_version=Service.API_VERSION, kind=Service.KIND,
            metadata=self._meta(ch, self._labels(ch), {"auth.istio.io/8089": "NONE"}),
            spec={
                "type": kind,
                "ports": [{"name": "http", "port": SOLVER_PORT, "targetPort": SOLVER_PORT}],
                "selector": identity_labels(ch),
            },
        )

    def _path(self, ch: Challenge, service: str) -> dict[str, Any]:
        return {
            "path": CHALLENGE_PATH + (ch.spec.token or ""),
            "pathType": "Exact",
            "backend": {"service": {"name": service, "port": {"number": SOLVER_PORT}}},
        }

    def ingress(self, ch: Challenge, ing: ACMEChallengeSolverHTTP01Ingress, service: str) -> Ingress:
        annotations = {WHITELIST: "0.0.0.0/0,::/0"}
        labels = self._labels(ch)
        if ing.class_:
            annotations[INGRESS_CLASS_ANNOTATION] = ing.class_
        tmeta = ing.ingress_template.metadata if ing.ingress_template else None
        if tmeta is not None:
            if any(k.endswith("whitelist-source-range") for k in tmeta.annotations or {}):
                annotations.pop(WHITELIST)
            annotations = {**annotations, **(tmeta.annotations or {})}
            labels = {**(tmeta.labels or {}), **labels}
        dns = ch.spec.dns_name or ""
        rule: dict[str, Any] = {"http": {"paths": [self._path(ch, service)]}}
        if not _is_ip(dns):
            rule["host"] = dns
        spec: dict[str, Any] = {"rules": [rule]}
        if ing.ingress_class_name:
            spec["ingressClassName"] = ing.ingress_class_name
        return Ingress(api_version=Ingress.API_VERSION, kind=Ingress.KIND,
                       metadata=self._meta(ch, labels, annotations), spec=spec)

    def http_route(self, ch: Challenge, gw: ACMEChallengeSolverHTTP01GatewayHTTPRoute, service: str) -> HTTPRoute:
        dns = ch.spec.dns_name or ""
        spec: dict[str, Any] = {
            "parentRefs": [p.to_dict() for p in gw.parent_refs or []],
            "rules": [{
                "matches": [{"path": {"type": "Exact", "value": CHALLENGE_PATH + (ch.spec.token or "")}}],
                "backendRefs": [{"name": service, "port": SOLVER_PORT}],
            }],
        }
        if not _is_ip(dns):
            spec["hostnames"] = [dns]
        labels = {**(gw.labels or {}), **self._labels(ch)}
        return HTTPRoute(api_version=HTTPRoute.API_VERSION, kind=HTTPRoute.KIND,
                         metadata=self._meta(ch, labels, None), spec=spec)

    # ------------------------------------------------------------------ objects

    def _owned(self, cls: type[Resource], ch: Challenge) -> list[Any]:
        return [o for o in self.store.list(cls, ch.namespace, labels=identity_labels(ch)) if o.is_controlled_by(ch)]

    def _ensure_one(self, cls: type[Resource], ch: Challenge, build: Any) -> Any:
        """The one object of this kind for the challenge: found by its labels, created if
        missing; several (a crash between two creates elsewhere) are all removed and
        created again on the next pass."""
        found = self._owned(cls, ch)
        if len(found) == 1:
            return found[0]
        if found:
            for obj in found:
                self._delete(cls, obj)
            raise SolverObjectsError(f"found {len(found)} solver {cls.PLURAL} for one challenge; removed them")
        return self.store.create(build())

    def _delete(self, cls: type[Resource], obj: Resource) -> None:
        with contextlib.suppress(NotFound):
            self.store.delete(cls, obj.namespace, obj.name)

    def present(self, ch: Challenge) -> None:
        try:
            self._present(ch)
        except (Invalid, Forbidden, NotFound) as e:  # a Conflict is retried by the manager
            raise SolverFailure(str(e)) from e

    def _present(self, ch: Challenge) -> None:
        h = self._http01(ch)
        self._ensure_one(Pod, ch, lambda: self.pod(ch))
        svc = self._ensure_one(Service, ch, lambda: self.service(ch))
        if h.ingress is not None:
            if h.ingress.name:
                self._edit_named_ingress(ch, h.ingress.name, svc.name)
            else:
                ing_cfg = h.ingress
                found = self._owned(Ingress, ch)
                for stale in [i for i in found if not self._routes_to(i, svc.name)]:
                    self._delete(Ingress, stale)  # points at a Service that is gone
                    found.remove(stale)
                if len(found) > 1:
                    for obj in found:
                        self._delete(Ingress, obj)
                    raise SolverObjectsError("found several solver ingresses for one challenge; removed them")
                if not found:
                    self.store.create(self.ingress(ch, ing_cfg, svc.name))
        elif h.gateway_http_route is not None:
            if not self.gateway_api:
                raise SolverObjectsError("gatewayHTTPRoute solvers need the Gateway API (--enable-gateway-api)")
            want = self.http_route(ch, h.gateway_http_route, svc.name)
            found = self._owned(HTTPRoute, ch)
            if not found:
                self.store.create(want)
            else:
                current = found[0]
                if current.spec != want.spec or current.labels() != want.labels():
                    current.spec, current.metadata.labels = want.spec, want.metadata.labels
                    self.store.update(current)
                for extra in found[1:]:
                    self._delete(HTTPRoute, extra)
        else:
            raise SolverObjectsError("the http01 solver has neither ingress nor gatewayHTTPRoute")

    @staticmethod
    def _routes_to(ing: Ingress, service: str) -> bool:
        for rule in (ing.spec or {}).get("rules") or []:
            for path in ((rule.get("http") or {}).get("paths")) or []:
                if ((path.get("backend") or {}).get("service") or {}).get("name") == service:
                    return True
        return False

    def _edit_named_ingress(self, ch: Challenge, name: str, service: str) -> None:
        """Add the challenge's path to the rule for its name (first in the list, so that no
        catch-all path of the site takes it), or a rule of its own."""
        ing = self.store.try_get(Ingress, ch.namespace, name)
        if ing is None:
            raise SolverObjectsError(f'ingress "{ch.namespace}/{name}" not found')
        spec = copy.deepcopy(ing.spec or {})
        rules = spec.setdefault("rules", [])
        host = "" if _is_ip(ch.spec.dns_name or "") else ch.spec.dns_name or ""
        want = self._path(ch, service)
        rule = next((r for r in rules if (r.get("host") or "") == host), None)
        if rule is None:
            rule = {"host": host} if host else {}
            rules.append(rule)
        paths = rule.setdefault("http", {}).setdefault("paths", [])
        if paths and paths[0] == want:
            return
        paths[:] = [want, *(p for p in paths if p.get("path") != want["path"])]
        ing.spec = spec
        self.store.update(ing)

    def check(self, ch: Challenge) -> str | None:
        return http01_self_check(
            ch.spec.dns_name or "", ch.spec.token or "", ch.spec.key or "",
            nameservers=list(self.settings.nameservers) or None, port=self.settings.self_check_port,
        )

    def cleanup(self, ch: Challenge) -> None:
        try:
            self._cleanup(ch)
        except (Invalid, Forbidden) as e:
            raise SolverFailure(str(e)) from e

    def _cleanup(self, ch: Challenge) -> None:
        h = self._http01(ch)
        for cls in (Pod, Service, Ingress, HTTPRoute):
            if cls is HTTPRoute and not self.gateway_api:
                continue
            for obj in self._owned(cls, ch):
                self._delete(cls, obj)
        if h.ingress is not None and h.ingress.name:
            ing = self.store.try_get(Ingress, ch.namespace, h.ingress.name)
            if ing is None:
                return
            spec = copy.deepcopy(ing.spec or {})
            path = CHALLENGE_PATH + (ch.spec.token or "")
            rules = []
            for rule in spec.get("rules") or []:
                paths = (rule.get("http") or {}).get("paths")
                if paths:
                    kept = [p for p in paths if p.get("path") != path]
                    if not kept:
                        continue  # the rule was only the challenge's (an empty one is invalid)
                    rule["http"]["paths"] = kept
                rules.append(rule)
            if rules != (ing.spec or {}).get("rules"):
                spec["rules"] = rules
                ing.spec = spec
                self.store.update(ing)
