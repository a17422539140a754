"""docs/dns01-providers.md: every example is a valid issuer for cert-manager's API, and
together they cover every provider of cert-manager's dns01 schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from certkeeper.acme.dns01 import get_provider_factory
from certkeeper.api.acme import ACMEChallengeSolverDNS01
from certkeeper.api.issuer import ClusterIssuer
from certkeeper.api.validation import validate

DOC = Path(__file__).resolve().parent.parent / "docs" / "dns01-providers.md"


def _issuers() -> list[ClusterIssuer]:
    out = []
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S):
        doc: Any = yaml.safe_load(block)
        if isinstance(doc, list):  # a solvers fragment
            doc = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "doc"},
                   "spec": {"acme": {"server": "https://acme.example/directory",
                                     "privateKeySecretRef": {"name": "account"}, "solvers": doc}}}
        out.append(ClusterIssuer.from_dict(doc))
    return out


def test_every_example_is_valid_and_every_provider_has_one() -> None:
    issuers = _issuers()
    covered = set()
    for issuer in issuers:
        assert validate(issuer) == [], issuer.to_dict()
        assert issuer.spec.acme is not None
        for solver in issuer.spec.acme.solvers or []:
            assert solver.dns01 is not None
            for name, info in type(solver.dns01).model_fields.items():
                if getattr(solver.dns01, name) is not None and name not in ("cname_strategy", "nameservers"):
                    covered.add(info.alias or name)
                    get_provider_factory(info.alias or name)
    every = {info.alias or name for name, info in ACMEChallengeSolverDNS01.model_fields.items()
             if name not in ("cname_strategy", "nameservers")}
    assert covered == every
