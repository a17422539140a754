"""Writing the certificate Secret the way cert-manager does: server-side apply under its
own field manager, so that keys, labels and annotations it stopped wanting disappear while
what other people put on the Secret stays (``Store.apply``)."""

from __future__ import annotations

import base64
import dataclasses

from ...api.core import SECRET_TYPE_TLS, Secret
from ...api.meta import ObjectMeta, OwnerReference
from ...store.apply import merge_apply
from ...store.base import Store

MANAGER = "cert-manager-certificates-issuing"


@dataclasses.dataclass
class SecretApply:
    namespace: str
    name: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    owner: OwnerReference | None = None


def apply_configuration(existing: Secret | None, a: SecretApply) -> Secret:
    """The Secret as cert-manager applies it. Its type is set only where it is (or will
    be) ``kubernetes.io/tls``: a type is immutable, and a user's Opaque Secret stays one."""
    keep_type = existing is None or existing.type in (None, SECRET_TYPE_TLS)
    return Secret(
        api_version="v1",
        kind="Secret",
        metadata=ObjectMeta(
            name=a.name,
            namespace=a.namespace,
            labels=dict(a.labels) or None,
            annotations=dict(a.annotations) or None,
            owner_references=[a.owner] if a.owner is not None else None,
        ),
        type=SECRET_TYPE_TLS if keep_type else None,
        data={k: base64.b64encode(v).decode("ascii") for k, v in a.data.items()} or None,
    )


def desired_secret(existing: Secret | None, a: SecretApply) -> Secret:
    """The Secret after applying ``a`` over ``existing`` (which is not modified)."""
    return merge_apply(existing, apply_configuration(existing, a), MANAGER)


def apply_secret(store: Store, a: SecretApply) -> Secret:
    existing = store.try_get(Secret, a.namespace, a.name)
    return store.apply(apply_configuration(existing, a), MANAGER)
