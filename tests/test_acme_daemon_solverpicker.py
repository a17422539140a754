"""Solver selection precedence (cert-manager's solverpicker, spec §4.3) and the Order
annotation overrides, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from certkeeper.api.acme import ACMEChallengeSolver
from certkeeper.controllers.acme.names import compute_name, dns_safe_prefix, fnv1_32
from certkeeper.controllers.acme.solverpicker import (
    ANN_OVERRIDE_INGRESS_CLASS,
    ANN_OVERRIDE_INGRESS_NAME,
    ANN_PARENT_REF_KIND,
    ANN_PARENT_REF_NAME,
    OfferedChallenge,
    SolverError,
    apply_overrides,
    pick_solver,
)

HTTP = OfferedChallenge("https://ca/chall/h", "tok-h", "http-01")
DNS = OfferedChallenge("https://ca/chall/d", "tok-d", "dns-01")
TLS = OfferedChallenge("https://ca/chall/t", "tok-t", "tls-alpn-01")


def solver(kind: str = "http01", tag: str = "", **selector: Any) -> ACMEChallengeSolver:
    body: dict[str, Any] = (
        {"http01": {"ingress": {"class": tag or "x"}}} if kind == "http01"
        else {"dns01": {"rfc2136": {"nameserver": tag or "127.0.0.1"}}}
    )
    if selector:
        body["selector"] = selector
    return ACMEChallengeSolver.model_validate(body)


def tag_of(pick: Any) -> str:
    s = pick.solver
    return s.http01.ingress.class_ if s.http01 else s.dns01.rfc2136.nameserver


def test_solver_needs_an_offered_challenge_of_its_type() -> None:
    solvers = [solver("dns01", "dns"), solver("http01", "http")]
    pick = pick_solver("a.example.com", [HTTP, TLS], solvers)
    assert pick is not None and tag_of(pick) == "http" and pick.challenge == HTTP
    assert pick_solver("a.example.com", [TLS], solvers) is None
    assert pick_solver("a.example.com", [HTTP], []) is None


def test_first_solver_without_selector_is_the_fallback() -> None:
    pick = pick_solver("a.example.com", [HTTP, DNS], [solver("http01", "first"), solver("dns01", "second")])
    assert pick is not None and tag_of(pick) == "first"


def test_any_matching_selector_beats_no_selector() -> None:
    solvers = [solver("http01", "plain"), solver("dns01", "zone", dnsZones=["example.com"])]
    pick = pick_solver("a.example.com", [HTTP, DNS], solvers)
    assert pick is not None and tag_of(pick) == "zone"


def test_a_selector_with_only_empty_parts_does_not_replace_the_fallback() -> None:
    solvers = [solver("http01", "plain"), solver("dns01", "empty", matchLabels={})]
    pick = pick_solver("a.example.com", [HTTP, DNS], solvers)
    assert pick is not None and tag_of(pick) == "plain"


def test_dns_names_beat_dns_zones_and_labels() -> None:
    solvers = [
        solver("http01", "zone", dnsZones=["a.example.com"]),
        solver("http01", "labels", matchLabels={"team": "a", "env": "prod"}),
        solver("dns01", "name", dnsNames=["a.example.com"]),
    ]
    pick = pick_solver("a.example.com", [HTTP, DNS], solvers, {"team": "a", "env": "prod"})
    assert pick is not None and tag_of(pick) == "name"


def test_longest_zone_wins_and_matches_only_at_label_boundaries() -> None:
    solvers = [
        solver("http01", "short", dnsZones=["example.com"]),
        solver("http01", "long", dnsZones=["sub.example.com"]),
        solver("http01", "suffix-only", dnsZones=["ub.example.com"]),
    ]
    pick = pick_solver("x.sub.example.com", [HTTP], solvers)
    assert pick is not None and tag_of(pick) == "long"
    pick = pick_solver("x.other.example.com", [HTTP], solvers)
    assert pick is not None and tag_of(pick) == "short"
    # "ub.example.com" is not a zone of "x.sub.example.com"
    assert pick_solver("x.sub.example.com", [HTTP], [solvers[2]]) is None


def test_zone_match_beats_label_match_and_more_labels_break_ties() -> None:
    solvers = [
        solver("http01", "one-label", matchLabels={"team": "a"}),
        solver("http01", "two-labels", matchLabels={"team": "a", "env": "prod"}),
        solver("http01", "zone", dnsZones=["example.com"]),
    ]
    labels = {"team": "a", "env": "prod"}
    pick = pick_solver("a.example.com", [HTTP], solvers, labels)
    assert pick is not None and tag_of(pick) == "zone"
    pick = pick_solver("a.example.com", [HTTP], solvers[:2], labels)
    assert pick is not None and tag_of(pick) == "two-labels"


def test_all_sub_selectors_must_match() -> None:
    s = solver("http01", "both", dnsZones=["example.com"], matchLabels={"team": "a"})
    assert pick_solver("a.example.com", [HTTP], [s], {"team": "b"}) is None
    assert pick_solver("a.example.org", [HTTP], [s], {"team": "a"}) is None
    assert pick_solver("a.example.com", [HTTP], [s], {"team": "a"}) is not None


def test_ties_keep_the_earlier_solver() -> None:
    solvers = [solver("http01", "first", dnsZones=["example.com"]), solver("dns01", "second", dnsZones=["example.com"])]
    pick = pick_solver("a.example.com", [HTTP, DNS], solvers)
    assert pick is not None and tag_of(pick) == "first"


def test_wildcard_domain_is_matched_with_its_prefix() -> None:
    solvers = [
        solver("http01", "base", dnsNames=["example.com"]),
        solver("dns01", "wild", dnsNames=["*.example.com"]),
    ]
    pick = pick_solver("*.example.com", [DNS], solvers)
    assert pick is not None and tag_of(pick) == "wild"
    zone = solver("dns01", "zone", dnsZones=["example.com"])
    assert pick_solver("*.example.com", [DNS], [zone]) is not None


def test_ingress_override_annotations() -> None:
    s = solver("http01", "nginx")
    out = apply_overrides(s, {ANN_OVERRIDE_INGRESS_NAME: "my-ingress"}, "default")
    assert out.http01 is not None and out.http01.ingress is not None
    assert out.http01.ingress.name == "my-ingress" and out.http01.ingress.class_ is None
    assert s.http01 is not None and s.http01.ingress is not None and s.http01.ingress.class_ == "nginx"  # copy
    with pytest.raises(SolverError):
        apply_overrides(s, {ANN_OVERRIDE_INGRESS_NAME: "a", ANN_OVERRIDE_INGRESS_CLASS: "b"}, "default")


def test_gateway_parent_ref_annotations() -> None:
    s = ACMEChallengeSolver.model_validate(
        {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw", "kind": "Gateway"}]}}}
    )
    out = apply_overrides(s, {ANN_PARENT_REF_NAME: "other", ANN_PARENT_REF_KIND: "Gateway"}, "apps")
    assert out.http01 is not None and out.http01.gateway_http_route is not None
    refs = out.http01.gateway_http_route.parent_refs or []
    assert [(r.name, r.namespace) for r in refs] == [("gw", None), ("other", "apps")]
    with pytest.raises(SolverError):
        apply_overrides(s, {ANN_PARENT_REF_NAME: "other"}, "apps")


def test_names_are_deterministic_and_dns_safe() -> None:
    assert fnv1_32(b"") == 0x811C9DC5
    assert fnv1_32(b"a") == 0x050C5D7E  # Go: fnv.New32().Write([]byte("a"))
    spec = {"dnsNames": ["a.example.com"]}
    name = compute_name("web-1", spec)
    assert name == compute_name("web-1", dict(spec))
    assert name != compute_name("web-1", {"dnsNames": ["b.example.com"]})
    assert name.startswith("web-1-") and name.removeprefix("web-1-").isdigit()
    long = "x" * 51 + "-" + "y" * 10
    assert dns_safe_prefix(long) == "x" * 51
    assert compute_name(long, spec) != compute_name("x" * 51 + "-" + "z" * 10, spec)
