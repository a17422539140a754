"""Writing the certificate Secret the way cert-manager's server-side apply does.

cert-manager applies the Secret with its own field manager, so keys, labels and
annotations it stopped wanting disappear while what other people put on the Secret stays.
Without an API server doing SSA we keep the same bookkeeping ourselves: a managedFields
entry for our manager lists what we applied last time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...api.core import SECRET_TYPE_TLS, Secret
from ...api.meta import ObjectMeta, OwnerReference
from ...store.base import AlreadyExists, Store

MANAGER = "cert-manager-certificates-issuing"


@dataclasses.dataclass
class SecretApply:
    namespace: str
    name: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    owner: OwnerReference | None = None


def _owned(secret: Secret) -> tuple[set[str], set[str], set[str]]:
    for entry in secret.metadata.managed_fields or []:
        if entry.get("manager") == MANAGER:
            fields = entry.get("fieldsV1", {})
            meta = fields.get("f:metadata", {})
            return (
                {k[2:] for k in fields.get("f:data", {})},
                {k[2:] for k in meta.get("f:labels", {})},
                {k[2:] for k in meta.get("f:annotations", {})},
            )
    return set(), set(), set()


def _managed_entry(a: SecretApply) -> dict[str, Any]:
    return {
        "manager": MANAGER,
        "operation": "Apply",
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:data": {f"f:{k}": {} for k in sorted(a.data)},
            "f:metadata": {
                "f:labels": {f"f:{k}": {} for k in sorted(a.labels)},
                "f:annotations": {f"f:{k}": {} for k in sorted(a.annotations)},
            },
        },
    }


def desired_secret(existing: Secret | None, a: SecretApply) -> Secret:
    """The Secret after applying ``a`` over ``existing`` (which is not modified)."""
    if existing is None:
        secret = Secret(
            api_version="v1",
            kind="Secret",
            metadata=ObjectMeta(name=a.name, namespace=a.namespace),
            type=SECRET_TYPE_TLS,
        )
        prev_data: set[str] = set()
        prev_labels: set[str] = set()
        prev_ann: set[str] = set()
    else:
        # a shallow copy with fresh containers: everything changed below is replaced,
        # never mutated in place (a deep copy of a Secret costs more than the rest)
        secret = existing.model_copy()
        secret.metadata = existing.metadata.model_copy()
        secret.data = dict(existing.data or {})
        prev_data, prev_labels, prev_ann = _owned(existing)
    for k in prev_data - set(a.data):
        secret.remove(k)
    for k, v in a.data.items():
        secret.set(k, v)
    labels = {k: v for k, v in secret.labels().items() if k not in prev_labels - set(a.labels)}
    labels.update(a.labels)
    annotations = {k: v for k, v in secret.annotations().items() if k not in prev_ann - set(a.annotations)}
    annotations.update(a.annotations)
    secret.metadata.labels = labels or None
    secret.metadata.annotations = annotations or None
    refs = [r for r in secret.metadata.owner_references or [] if not (a.owner and r.uid == a.owner.uid)]
    if a.owner is not None:
        refs.append(a.owner)
    secret.metadata.owner_references = refs or None
    others = [e for e in secret.metadata.managed_fields or [] if e.get("manager") != MANAGER]
    secret.metadata.managed_fields = [*others, _managed_entry(a)]
    if not secret.data:
        secret.data = None
    return secret


def apply_secret(store: Store, a: SecretApply) -> Secret:
    existing = store.try_get(Secret, a.namespace, a.name)
    secret = desired_secret(existing, a)
    if existing is None:
        try:
            return store.create(secret)
        except AlreadyExists:
            existing = store.get(Secret, a.namespace, a.name)
            secret = desired_secret(existing, a)
    return store.update(secret)
