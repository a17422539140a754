"""Server-side apply for stores without an API server to do it.

What a field manager applied last time is kept where the API server keeps it, in a
``managedFields`` entry of operation ``Apply`` (``f:data``, ``f:metadata.f:labels``,
``f:metadata.f:annotations``, ``f:metadata.f:ownerReferences``), in the API server's own
format: an apply removes the keys its manager applied before and no longer applies,
and keeps everything other people put on the object. Only Secrets are applied so far.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ..api.core import Secret


def owned_fields(secret: Secret, manager: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """(data keys, label keys, annotation keys, owner uids) ``manager`` applied last."""
    for entry in secret.metadata.managed_fields or []:
        if entry.get("manager") == manager and entry.get("operation", "Apply") == "Apply":
            fields = entry.get("fieldsV1") or {}
            meta = fields.get("f:metadata") or {}
            owners = set()
            for k in meta.get("f:ownerReferences") or {}:
                # k:{"uid":"..."}
                if k.startswith("k:"):
                    with contextlib.suppress(ValueError):
                        owners.add(str(json.loads(k[2:]).get("uid")))
            return (
                {k[2:] for k in fields.get("f:data") or {}},
                {k[2:] for k in meta.get("f:labels") or {}},
                {k[2:] for k in meta.get("f:annotations") or {}},
                owners,
            )
    return set(), set(), set(), set()


def _entry(applied: Secret, manager: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "f:labels": {f"f:{k}": {} for k in sorted(applied.labels())},
        "f:annotations": {f"f:{k}": {} for k in sorted(applied.annotations())},
    }
    refs = applied.metadata.owner_references or []
    if refs:
        meta["f:ownerReferences"] = {f"k:{json.dumps({'uid': r.uid})}": {} for r in refs}
    return {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {f"f:{k}": {} for k in sorted(applied.data or {})}, "f:metadata": meta},
    }


def merge_apply(existing: Secret | None, applied: Secret, manager: str) -> Secret:
    """The Secret after ``applied`` (an apply configuration) is applied over ``existing``
    with ``force``: neither argument is modified."""
    if existing is None:
        out = Secret(api_version="v1", kind="Secret", metadata=applied.metadata.model_copy(), type=applied.type)
        prev_data: set[str] = set()
        prev_labels: set[str] = set()
        prev_ann: set[str] = set()
        prev_owners: set[str] = set()
        out.data = {}
    else:
        # a shallow copy with fresh containers: everything changed below is replaced
        out = existing.model_copy()
        out.metadata = existing.metadata.model_copy()
        out.data = dict(existing.data or {})
        prev_data, prev_labels, prev_ann, prev_owners = owned_fields(existing, manager)
        if out.type is None:
            out.type = applied.type
    new_data = applied.data or {}
    data = {k: v for k, v in (out.data or {}).items() if k not in prev_data - set(new_data)}
    data.update(new_data)
    labels = {k: v for k, v in out.labels().items() if k not in prev_labels - set(applied.labels())}
    labels.update(applied.labels())
    annotations = {k: v for k, v in out.annotations().items() if k not in prev_ann - set(applied.annotations())}
    annotations.update(applied.annotations())
    applied_refs = applied.metadata.owner_references or []
    applied_uids = {r.uid for r in applied_refs}
    refs = [
        r
        for r in (existing.metadata.owner_references or [] if existing else [])
        if r.uid not in applied_uids and r.uid not in prev_owners
    ]
    refs.extend(applied_refs)
    out.metadata.labels = labels or None
    out.metadata.annotations = annotations or None
    out.metadata.owner_references = refs or None
    others = [e for e in (existing.metadata.managed_fields or [] if existing else []) if e.get("manager") != manager]
    out.metadata.managed_fields = [*others, _entry(applied, manager)]
    out.data = data or None
    return out
