"""The CustomResourceDefinitions of cert-manager's six kinds, generated from the models.

The models are the one description of the API: what ``certkeeper apply`` accepts on a host
is what the API server accepts in a cluster, because both come from the same classes.
``python -m certkeeper.api.crds deploy/crds`` writes one file per CRD; ``--check`` only
compares, and fails when the files and the models have drifted apart.

The schemas are structural, as the API server requires for ``apiextensions.k8s.io/v1``:
no ``$ref``, every node typed, and ``x-kubernetes-preserve-unknown-fields`` only where the
model itself is free-form (solver Pod affinity/tolerations/securityContext, the webhook
solver's ``config``). Names, short names, categories and printer columns are cert-manager's,
so ``kubectl get certificates`` looks the same with either controller.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .acme import Challenge, Order
from .certificate import Certificate, CertificateRequest
from .issuer import ClusterIssuer, Issuer
from .meta import Resource

KINDS: tuple[type[Resource], ...] = (Certificate, CertificateRequest, Issuer, ClusterIssuer, Order, Challenge)

_READY = '.status.conditions[?(@.type == "Ready")]'
_AGE = {
    "description": "CreationTimestamp is a timestamp representing the server time when this object "
    "was created. It is not guaranteed to be set in happens-before order across separate operations. "
    "Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
    "jsonPath": ".metadata.creationTimestamp",
    "name": "Age",
    "type": "date",
}


def _column(name: str, json_path: str, priority: int = 0) -> dict[str, Any]:
    col: dict[str, Any] = {"jsonPath": json_path, "name": name, "type": "string"}
    if priority:
        col["priority"] = priority
    return col


def _condition(ctype: str, field: str) -> str:
    return f'.status.conditions[?(@.type == "{ctype}")].{field}'


#: cert-manager's columns, in its order (priority 1 shows only with ``-o wide``)
PRINTER_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Certificate": [
        _column("Ready", f"{_READY}.status"),
        _column("Secret", ".spec.secretName"),
        _column("Issuer", ".spec.issuerRef.name", 1),
        _column("Status", f"{_READY}.message", 1),
        _AGE,
    ],
    "CertificateRequest": [
        _column("Approved", _condition("Approved", "status")),
        _column("Denied", _condition("Denied", "status")),
        _column("Ready", f"{_READY}.status"),
        _column("Issuer", ".spec.issuerRef.name"),
        _column("Requester", ".spec.username"),
        _column("Status", f"{_READY}.message", 1),
        _AGE,
    ],
    "Issuer": [_column("Ready", f"{_READY}.status"), _column("Status", f"{_READY}.message", 1), _AGE],
    "ClusterIssuer": [_column("Ready", f"{_READY}.status"), _column("Status", f"{_READY}.message", 1), _AGE],
    "Order": [
        _column("State", ".status.state"),
        _column("Issuer", ".spec.issuerRef.name", 1),
        _column("Reason", ".status.reason", 1),
        _AGE,
    ],
    "Challenge": [
        _column("State", ".status.state"),
        _column("Domain", ".spec.dnsName"),
        _column("Reason", ".status.reason", 1),
        _AGE,
    ],
}

CATEGORIES: dict[str, tuple[str, ...]] = {
    "Order": ("cert-manager", "cert-manager-acme"),
    "Challenge": ("cert-manager", "cert-manager-acme"),
}
DEFAULT_CATEGORIES = ("cert-manager",)

#: value validations copied from the models' JSON schema as they are
_SCALAR_KEYS = frozenset({"type", "format", "enum", "pattern", "maxLength", "minLength", "maximum", "minimum"})
#: keys of pydantic's JSON schema that carry nothing the API server uses
_DROPPED_KEYS = frozenset({"title", "default"})


class SchemaError(ValueError):
    """A model has a shape that no structural schema can express."""


def _structural(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """One node of pydantic's JSON schema as a structural OpenAPI v3 node."""
    node = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    description = node.pop("description", None)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # the field's own description wins over its type's docstring
        description = description or target.get("description")
        out = _structural({**target, **node, "description": None}, defs, path)
    elif "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        members = [m for m in node.pop("anyOf") if m != {"type": "null"}]
        if len(members) != 1:
            raise SchemaError(f"{path}: a union of {members} has no structural schema")
        out = _structural({**members[0], **node, "description": None}, defs, path)
    else:
        out = _node(node, defs, path)
    if description:
        out["description"] = description
    return out


def _node(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCALAR_KEYS or key.startswith("x-kubernetes-") or key == "anyOf":
            out[key] = value
        elif key == "properties":
            if value:
                out[key] = {k: _structural(v, defs, f"{path}.{k}") for k, v in value.items()}
        elif key == "required":
            out[key] = sorted(value)
        elif key == "items":
            out[key] = _structural(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _structural(value, defs, f"{path}{{}}")
            # False (strict models) is what the API server does for declared properties anyway
        elif key == "description":
            continue  # None placeholder from a resolved $ref or union
        else:
            raise SchemaError(f"{path}: no structural equivalent for {key!r}")
    if not node:  # typing.Any: free-form JSON of any type
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif out.get("type") == "array":
        out.setdefault("x-kubernetes-list-type", "atomic")
    elif "type" not in out and not out.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path}: untyped node {node}")
    return out


def openapi_schema(cls: type[Resource]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of a kind."""
    raw = cls.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    schema = _structural(raw, defs, cls.KIND)
    # the API server owns ObjectMeta's schema; a CRD may only say it is an object
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def crd(cls: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of a kind."""
    group, _, version = cls.API_VERSION.rpartition("/")
    names: dict[str, Any] = {
        "categories": list(CATEGORIES.get(cls.KIND, DEFAULT_CATEGORIES)),
        "kind": cls.KIND,
        "listKind": f"{cls.KIND}List",
        "plural": cls.PLURAL,
        "singular": cls.KIND.lower(),
    }
    if cls.SHORT_NAMES:
        names["shortNames"] = list(cls.SHORT_NAMES)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{cls.PLURAL}.{group}", "labels": {"app.kubernetes.io/part-of": "certkeeper"}},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced" if cls.NAMESPACED else "Cluster",
            "versions": [
                {
                    "additionalPrinterColumns": PRINTER_COLUMNS[cls.KIND],
                    "name": version,
                    "schema": {"openAPIV3Schema": openapi_schema(cls)},
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def file_name(cls: type[Resource]) -> str:
    """cert-manager's file names: ``<group>_<plural>.yaml``."""
    return f"{cls.API_VERSION.rpartition('/')[0]}_{cls.PLURAL}.yaml"


class _Dumper(yaml.SafeDumper):
    """Multi-line descriptions as literal blocks, so the files read like controller-gen's."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = "# Generated from the models in src/certkeeper/api by `python -m certkeeper.api.crds deploy/crds`.\n# Do not edit: change the models and generate again.\n"


def render(cls: type[Resource]) -> str:
    """The YAML file of a kind's CRD, as committed under ``deploy/crds/``."""
    body = yaml.dump(crd(cls), Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
    return f"{HEADER}---\n{body}"


def rendered() -> dict[str, str]:
    """File name -> content for every CRD."""
    return {file_name(cls): render(cls) for cls in KINDS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m certkeeper.api.crds", description="Write (or check) the CRDs generated from the models."
    )
    parser.add_argument("dir", nargs="?", type=Path, help="folder for one file per CRD; stdout when omitted")
    parser.add_argument("--check", action="store_true", help="compare with the files in DIR, write nothing")
    args = parser.parse_args(argv)
    files = rendered()
    if args.dir is None:
        sys.stdout.write("".join(files.values()))
        return 0
    if args.check:
        stale = [n for n, text in files.items() if not (args.dir / n).is_file() or (args.dir / n).read_text() != text]
        for name in stale:
            print(f"{args.dir / name}: differs from the models; run python -m certkeeper.api.crds {args.dir}")
        return 1 if stale else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.dir / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
