"""Where an object's CA comes from, by cert-manager's annotations.

- ``cert-manager.io/inject-ca-from: <namespace>/<certificate>``: the ``ca.crt`` of that
  Certificate's Secret, which must say it belongs to it
  (``cert-manager.io/certificate-name``), so a look-alike Secret cannot plant a CA;
- ``cert-manager.io/inject-ca-from-secret: <namespace>/<secret>``: that Secret's
  ``ca.crt``, if the Secret opts in with ``cert-manager.io/allow-direct-injection: "true"``;
- ``cert-manager.io/inject-apiserver-ca: "true"``: the API server's own CA.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from ..store.base import NotFound

FROM_CERTIFICATE = "cert-manager.io/inject-ca-from"
FROM_SECRET = "cert-manager.io/inject-ca-from-secret"
APISERVER_CA = "cert-manager.io/inject-apiserver-ca"
ALLOW_DIRECT_INJECTION = "cert-manager.io/allow-direct-injection"
CERTIFICATE_NAME = "cert-manager.io/certificate-name"
ANNOTATIONS = (FROM_CERTIFICATE, FROM_SECRET, APISERVER_CA)


class NoCA(Exception):
    """The annotation names a source that has no usable CA (yet); the message says why."""


class Client(Protocol):
    def json(self, method: str, path: str, obj: Any = None, **kw: Any) -> Any: ...


def wants_injection(annotations: dict[str, str]) -> bool:
    return any(a in annotations for a in ANNOTATIONS)


def _ref(value: str, annotation: str) -> tuple[str, str]:
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise NoCA(f"{annotation}: {value!r} is not <namespace>/<name>")
    return namespace, name


def _secret_ca(secret: dict[str, Any], where: str) -> bytes:
    data = (secret.get("data") or {}).get("ca.crt")
    if not data:
        raise NoCA(f"Secret {where} has no ca.crt")
    return base64.b64decode(data)


def ca_for(annotations: dict[str, str], client: Client, apiserver_ca: bytes | None) -> bytes:
    """The PEM bundle for an object with these annotations (the first that applies, in
    cert-manager's order); raises NoCA."""
    if FROM_CERTIFICATE in annotations:
        namespace, name = _ref(annotations[FROM_CERTIFICATE], FROM_CERTIFICATE)
        try:
            cert = client.json("GET", f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}")
            secret_name = cert["spec"]["secretName"]
            secret = client.json("GET", f"/api/v1/namespaces/{namespace}/secrets/{secret_name}")
        except NotFound as e:
            raise NoCA(f"{FROM_CERTIFICATE}: {e}") from None
        owner = (secret["metadata"].get("annotations") or {}).get(CERTIFICATE_NAME)
        if owner != name:
            raise NoCA(f"Secret {namespace}/{secret_name} is not the Secret of Certificate {namespace}/{name} "
                       f"({CERTIFICATE_NAME} is {owner!r})")
        return _secret_ca(secret, f"{namespace}/{secret_name}")
    if FROM_SECRET in annotations:
        namespace, name = _ref(annotations[FROM_SECRET], FROM_SECRET)
        try:
            secret = client.json("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except NotFound as e:
            raise NoCA(f"{FROM_SECRET}: {e}") from None
        if (secret["metadata"].get("annotations") or {}).get(ALLOW_DIRECT_INJECTION) != "true":
            raise NoCA(f'Secret {namespace}/{name} does not allow injection ({ALLOW_DIRECT_INJECTION}: "true")')
        return _secret_ca(secret, f"{namespace}/{name}")
    if annotations.get(APISERVER_CA) == "true":
        if not apiserver_ca:
            raise NoCA("the API server's CA is not known (the kubeconfig trusts the system's CAs)")
        return apiserver_ca
    raise NoCA("no injection annotation")
