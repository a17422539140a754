"""Core ``v1`` kinds that certkeeper reads and writes: Secret (and Namespace, accepted)."""

import base64
from typing import ClassVar

from .meta import Resource

TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"
CA_CERT = "ca.crt"
SECRET_TYPE_TLS = "kubernetes.io/tls"


class Secret(Resource):
    """``data`` holds base64 text, as in the Kubernetes API; use get/set for bytes."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Secret"
    PLURAL: ClassVar[str] = "secrets"
    HAS_STATUS: ClassVar[bool] = False

    type: str | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None

    def get(self, key: str) -> bytes | None:
        if self.data is None or key not in self.data:
            return None
        return base64.b64decode(self.data[key])

    def set(self, key: str, value: bytes) -> None:
        if self.data is None:
            self.data = {}
        self.data[key] = base64.b64encode(value).decode("ascii")

    def remove(self, key: str) -> None:
        if self.data is not None:
            self.data.pop(key, None)

    def decoded(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in (self.data or {}).items()}

    def fold_string_data(self) -> None:
        """kubectl apply semantics: stringData entries overwrite data and are not stored."""
        for k, v in (self.string_data or {}).items():
            self.set(k, v.encode())
        self.string_data = None


class Namespace(Resource):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Namespace"
    PLURAL: ClassVar[str] = "namespaces"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ns",)
    NAMESPACED: ClassVar[bool] = False
    HAS_STATUS: ClassVar[bool] = False

    spec: dict[str, object] | None = None
    status: dict[str, object] | None = None
