"""Who may approve or deny a CertificateRequest: cert-manager's approval admission.

Approving a request is what lets a signer issue it, so it is an authorisation of its own:
the user must be allowed verb ``approve`` on resource ``signers`` of group
``cert-manager.io``, named after the issuer (``issuers.cert-manager.io/<namespace>.<name>``,
``clusterissuers.cert-manager.io/<name>``, or the ``<plural>.<group>/*`` wildcard). Only
the API server's authorisers know the answer, so the webhook asks it with a
SubjectAccessReview; an external issuer's kind is resolved through API discovery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..store.base import NotFound, StoreError
from .review import UserInfo

CERT_MANAGER_GROUP = "cert-manager.io"
_BUILTIN = {"Issuer": ("issuers", True), "ClusterIssuer": ("clusterissuers", False)}
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
#: how long discovery remembers that a kind does not exist (cert-manager: 30 s)
NEGATIVE_CACHE_SECONDS = 30.0


class SignerUnknown(Exception):
    """The issuerRef names a kind the API server does not serve."""


class Authorizer(Protocol):
    def signer(self, group: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of an issuer kind; raises SignerUnknown."""
        ...

    def allowed(self, user: UserInfo, signer_names: list[str]) -> bool:
        """Whether ``user`` may ``approve`` any of these ``signers``."""
        ...


def signer_names(plural: str, group: str, namespaced: bool, namespace: str, name: str) -> list[str]:
    """The wildcard first, then the issuer's own name, as cert-manager asks."""
    base = f"{plural}.{group}"
    own = f"{base}/{namespace}.{name}" if namespaced else f"{base}/{name}"
    return [f"{base}/*", own]


class Client(Protocol):
    def json(self, method: str, path: str, obj: Any = None, **kw: Any) -> Any: ...


@dataclass
class _Miss:
    until: float


class SubjectAccessReviewer:
    """The Authorizer on a real API server (needs ``create`` on subjectaccessreviews and
    discovery, which every authenticated user has)."""

    def __init__(self, client: Client, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._monotonic = monotonic
        self._kinds: dict[tuple[str, str], tuple[str, bool] | _Miss] = {}
        self._lock = threading.Lock()

    def signer(self, group: str, kind: str) -> tuple[str, bool]:
        if group == CERT_MANAGER_GROUP and kind in _BUILTIN:
            return _BUILTIN[kind]
        key = (group, kind)
        with self._lock:
            hit = self._kinds.get(key)
        if isinstance(hit, tuple):
            return hit
        if isinstance(hit, _Miss) and hit.until > self._monotonic():
            raise SignerUnknown(f"{kind}.{group}")
        found = self._discover(group, kind)
        with self._lock:
            self._kinds[key] = found if found else _Miss(self._monotonic() + NEGATIVE_CACHE_SECONDS)
        if found is None:
            raise SignerUnknown(f"{kind}.{group}")
        return found

    def _discover(self, group: str, kind: str) -> tuple[str, bool] | None:
        try:
            api_group = self.client.json("GET", f"/apis/{group}")
            version = (api_group.get("preferredVersion") or {}).get("version")
            if not version:
                return None
            resources = self.client.json("GET", f"/apis/{group}/{version}").get("resources", [])
        except NotFound:
            return None
        for r in resources:
            if r.get("kind") == kind and "/" not in r.get("name", "/"):
                return str(r["name"]), bool(r.get("namespaced"))
        return None

    def allowed(self, user: UserInfo, signer_names: list[str]) -> bool:
        for name in signer_names:
            spec: dict[str, Any] = {
                "user": user.username,
                "groups": list(user.groups),
                "resourceAttributes": {
                    "group": CERT_MANAGER_GROUP,
                    "resource": "signers",
                    "verb": "approve",
                    "name": name,
                },
            }
            if user.uid:
                spec["uid"] = user.uid
            if user.extra:
                spec["extra"] = user.extra
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
            result = self.client.json("POST", SAR_PATH, review)
            if (result.get("status") or {}).get("allowed"):
                return True
        return False


__all__ = ["Authorizer", "SignerUnknown", "StoreError", "SubjectAccessReviewer", "signer_names"]
