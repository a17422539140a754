"""Which of an issuer's solvers answers one authorization (cert-manager's solverpicker, §4.3).

A pure function of the authorization, the issuer's solvers and the Order's labels and
annotations, so that its precedence rules are tested without a server: the most specific
selector wins (dnsNames, then the longest dnsZones match, then matchLabels), a solver
without selector is only the fallback, and ties keep the earlier solver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ...api.acme import (
    CHALLENGE_DNS01,
    CHALLENGE_HTTP01,
    ACMEChallengeSolver,
    CertificateDNSNameSelector,
    ParentReference,
)

ANN_OVERRIDE_INGRESS_NAME = "acme.cert-manager.io/http01-override-ingress-name"
ANN_OVERRIDE_INGRESS_CLASS = "acme.cert-manager.io/http01-override-ingress-class"
ANN_OVERRIDE_INGRESS_CLASS_NAME = "acme.cert-manager.io/http01-override-ingress-ingressclassname"
ANN_PARENT_REF_NAME = "acme.cert-manager.io/http01-parentrefname"
ANN_PARENT_REF_KIND = "acme.cert-manager.io/http01-parentrefkind"
ANN_PARENT_REF_NAMESPACE = "acme.cert-manager.io/http01-parentrefnamespace"

#: ACME challenge type (as the server names it) → Challenge ``spec.type``
ACME_TYPES = {"http-01": CHALLENGE_HTTP01, "dns-01": CHALLENGE_DNS01}


class SolverError(Exception):
    """The Order's annotations cannot be applied to the picked solver."""


@dataclasses.dataclass(frozen=True)
class OfferedChallenge:
    """One challenge an authorization offers (``type`` as the server spells it)."""

    url: str
    token: str
    type: str


@dataclasses.dataclass(frozen=True)
class Pick:
    solver: ACMEChallengeSolver
    challenge: OfferedChallenge


@dataclasses.dataclass(frozen=True)
class _Score:
    dns_names: int
    dns_zones: int
    labels: int

    def beats(self, other: _Score) -> bool:
        if self.dns_names != other.dns_names:
            return self.dns_names > other.dns_names
        if self.dns_zones != other.dns_zones:
            return self.dns_zones > other.dns_zones
        return self.labels > other.labels


def solver_type(solver: ACMEChallengeSolver) -> str | None:
    """``http-01`` / ``dns-01`` for a solver, None if it configures neither."""
    if solver.http01 is not None:
        return "http-01"
    if solver.dns01 is not None:
        return "dns-01"
    return None


def _zone_labels(domain: str, zone: str) -> int:
    """Labels of ``zone`` if ``domain`` lies in it at a label boundary, else 0."""
    domain, zone = domain.lower().rstrip("."), zone.lower().rstrip(".")
    if domain == zone or domain.endswith("." + zone):
        return len(zone.split("."))
    return 0


def score_selector(
    selector: CertificateDNSNameSelector, domain: str, labels: Mapping[str, str]
) -> _Score | None:
    """None when any sub-selector rejects the domain; an empty sub-selector matches with 0."""
    match_labels = selector.match_labels or {}
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return None
    names = 0
    if selector.dns_names:
        if domain not in selector.dns_names:
            return None
        names = 1
    zones = 0
    if selector.dns_zones:
        zones = max((_zone_labels(domain, z) for z in selector.dns_zones), default=0)
        if zones == 0:
            return None
    return _Score(names, zones, len(match_labels))


def pick_solver(
    domain: str,
    offered: Sequence[OfferedChallenge],
    solvers: Sequence[ACMEChallengeSolver],
    labels: Mapping[str, str] | None = None,
) -> Pick | None:
    """The solver for ``domain`` (``*.``-prefixed for a wildcard authorization) among the
    challenge types the authorization ``offered``; None when no solver fits."""
    labels = labels or {}
    picked: Pick | None = None
    best: _Score | None = None
    for solver in solvers:
        kind = solver_type(solver)
        challenge = next((c for c in offered if c.type == kind), None)
        if challenge is None:
            continue
        if solver.selector is None:
            if picked is None:
                picked, best = Pick(solver, challenge), _Score(0, 0, 0)
            continue
        score = score_selector(solver.selector, domain, labels)
        if score is None:
            continue
        if picked is None or best is None or score.beats(best):
            picked, best = Pick(solver, challenge), score
    return picked


def apply_overrides(
    solver: ACMEChallengeSolver, annotations: Mapping[str, str], namespace: str | None
) -> ACMEChallengeSolver:
    """A copy of ``solver`` with the Order's HTTP-01 override annotations applied."""
    out = solver.model_copy(deep=True)
    http01 = out.http01
    if http01 is None:
        return out
    if http01.ingress is not None:
        overrides = [
            (field, annotations[ann])
            for field, ann in (
                ("name", ANN_OVERRIDE_INGRESS_NAME),
                ("class_", ANN_OVERRIDE_INGRESS_CLASS),
                ("ingress_class_name", ANN_OVERRIDE_INGRESS_CLASS_NAME),
            )
            if ann in annotations
        ]
        if len(overrides) > 1:
            raise SolverError(
                "only one of the ingress override annotations may be set on a Certificate"
            )
        if overrides:
            http01.ingress.name = http01.ingress.class_ = http01.ingress.ingress_class_name = None
            setattr(http01.ingress, overrides[0][0], overrides[0][1])
    route = http01.gateway_http_route
    if route is not None:
        name, kind = annotations.get(ANN_PARENT_REF_NAME), annotations.get(ANN_PARENT_REF_KIND)
        if (name is None) != (kind is None):
            raise SolverError(
                f"both {ANN_PARENT_REF_NAME} and {ANN_PARENT_REF_KIND} must be set, or neither"
            )
        if name is not None and kind is not None:
            ref = ParentReference(
                name=name, kind=kind, namespace=annotations.get(ANN_PARENT_REF_NAMESPACE, namespace)
            )
            refs = list(route.parent_refs or [])
            for i, existing in enumerate(refs):
                if existing.name == name and existing.kind == kind:
                    refs[i] = ref
                    break
            else:
                refs.append(ref)
            route.parent_refs = refs
        if not route.parent_refs:
            raise SolverError("the gatewayHTTPRoute solver has no parentRefs")
    return out
