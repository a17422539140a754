"""The AdmissionReview envelope: reading a request, writing a response.

Anything the API server (or anyone else) sends is decoded defensively: a body that is not
JSON, not an AdmissionReview or lacks its request gets a denied response naming what is
wrong, never an exception, so one bad caller cannot take the webhook down.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "admission.k8s.io/v1"


class BadReview(ValueError):
    """The body is not a usable AdmissionReview; the message says why."""


@dataclass(frozen=True)
class UserInfo:
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> UserInfo:
        if not isinstance(data, dict):
            return cls()
        groups = data.get("groups") or []
        extra = data.get("extra") or {}
        return cls(
            username=str(data.get("username") or ""),
            uid=str(data.get("uid") or ""),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
            extra={str(k): [str(x) for x in v] for k, v in extra.items() if isinstance(v, list)}
            if isinstance(extra, dict)
            else {},
        )


@dataclass(frozen=True)
class AdmissionRequest:
    uid: str
    group: str
    version: str
    kind: str
    operation: str
    sub_resource: str
    namespace: str
    name: str
    user: UserInfo
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def parse_review(body: bytes) -> AdmissionRequest:
    """Decode an AdmissionReview; raise BadReview with a message a person can act on."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadReview(f"the request body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadReview("the request body is not an AdmissionReview object")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "AdmissionReview":
        raise BadReview(
            f"expected apiVersion {API_VERSION} kind AdmissionReview, "
            f"got apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}"
        )
    req = doc.get("request")
    if not isinstance(req, dict):
        raise BadReview("the AdmissionReview has no request")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("request.uid is missing")
    gvk = req.get("kind")
    if not isinstance(gvk, dict) or not isinstance(gvk.get("kind"), str):
        raise BadReview("request.kind is missing")
    obj, old = req.get("object"), req.get("oldObject")
    for what, value in (("request.object", obj), ("request.oldObject", old)):
        if value is not None and not isinstance(value, dict):
            raise BadReview(f"{what} is not an object")
    return AdmissionRequest(
        uid=uid,
        group=str(gvk.get("group") or ""),
        version=str(gvk.get("version") or ""),
        kind=gvk["kind"],
        operation=str(req.get("operation") or ""),
        sub_resource=str(req.get("subResource") or ""),
        namespace=str(req.get("namespace") or ""),
        name=str(req.get("name") or ""),
        user=UserInfo.parse(req.get("userInfo")),
        object=obj,
        old_object=old,
    )


def request_uid(body: bytes) -> str:
    """The request's uid when it can be found at all: a denial must echo it."""
    try:
        uid = json.loads(body)["request"]["uid"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return ""
    return uid if isinstance(uid, str) else ""


def allowed(uid: str, *, patch: list[dict[str, Any]] | None = None, warnings: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    if warnings:
        response["warnings"] = warnings
    return _envelope(response)


def denied(uid: str, message: str, code: int = 403, reason: str = "Forbidden") -> dict[str, Any]:
    status = {"status": "Failure", "code": code, "reason": reason, "message": message}
    return _envelope({"uid": uid, "allowed": False, "status": status})


def _envelope(response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def aggregate(messages: list[str]) -> str:
    """apimachinery's ``utilerrors.NewAggregate(...).Error()``: one message bare, several in brackets."""
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"
