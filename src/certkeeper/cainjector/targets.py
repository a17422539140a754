"""The four kinds that hold a ``caBundle`` and where in each it goes."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _webhooks(obj: dict[str, Any], bundle: str) -> bool:
    changed = False
    for hook in obj.get("webhooks") or []:
        cc = hook.setdefault("clientConfig", {})
        if cc.get("caBundle") != bundle:
            cc["caBundle"] = bundle
            changed = True
    return changed


def _conversion(obj: dict[str, Any], bundle: str) -> bool:
    conv = (obj.get("spec") or {}).get("conversion") or {}
    if conv.get("strategy") != "Webhook":
        return False  # nothing calls a webhook for this CRD
    cc = conv.setdefault("webhook", {}).setdefault("clientConfig", {})
    if cc.get("caBundle") == bundle:
        return False
    cc["caBundle"] = bundle
    return True


def _apiservice(obj: dict[str, Any], bundle: str) -> bool:
    spec = obj.setdefault("spec", {})
    if spec.get("caBundle") == bundle:
        return False
    spec["caBundle"] = bundle
    spec.pop("insecureSkipTLSVerify", None)  # the API server refuses both at once
    return True


@dataclass(frozen=True)
class Target:
    kind: str
    path: str
    inject: Callable[[dict[str, Any], str], bool]

    def injected(self, obj: dict[str, Any], pem: bytes) -> dict[str, Any] | None:
        """The object with the bundle in place, or None when it is there already."""
        out = copy.deepcopy(obj)
        return out if self.inject(out, base64.b64encode(pem).decode()) else None


TARGETS = (
    Target("ValidatingWebhookConfiguration",
           "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", _webhooks),
    Target("MutatingWebhookConfiguration",
           "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", _webhooks),
    Target("CustomResourceDefinition", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _conversion),
    Target("APIService", "/apis/apiregistration.k8s.io/v1/apiservices", _apiservice),
)
