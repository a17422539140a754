"""Object metadata, conditions and the resource base class shared by every kind.

Resources are pydantic models whose attribute names are snake_case and whose aliases are
the Kubernetes camelCase field names. Every optional field defaults to ``None`` so that a
manifest round-trips exactly: ``to_dict()`` drops ``None`` and keeps everything the user
wrote, and unknown fields are refused (kubectl's strict field validation) rather than
silently pruned.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base for every API struct: camelCase aliases, strict fields, assignment allowed."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        ser_json_timedelta="iso8601",
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as Kubernetes would serialise it (camelCase, no nulls)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(Model):
    model_config = ConfigDict(extra="allow")


class ObjectMeta(Model):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = None


def format_time(t: _dt.datetime) -> str:
    """RFC 3339 with whole seconds and a ``Z``, as metav1.Time serialises."""
    return t.astimezone(_dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(_dt.UTC)


class Condition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None
    observed_generation: int | None = None


def get_condition(conditions: list[Condition] | None, ctype: str) -> Condition | None:
    for c in conditions or []:
        if c.type == ctype:
            return c
    return None


def set_condition(
    conditions: list[Condition] | None,
    ctype: str,
    status: str,
    reason: str,
    message: str,
    now: _dt.datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """cert-manager's rule: lastTransitionTime moves only when the status changes."""
    out = list(conditions or [])
    for i, c in enumerate(out):
        if c.type == ctype:
            ltt = c.last_transition_time if c.status == status else format_time(now)
            out[i] = Condition(
                type=ctype,
                status=status,
                last_transition_time=ltt or format_time(now),
                reason=reason,
                message=message,
                observed_generation=observed_generation,
            )
            return out
    out.append(
        Condition(
            type=ctype,
            status=status,
            last_transition_time=format_time(now),
            reason=reason,
            message=message,
            observed_generation=observed_generation,
        )
    )
    return out


def remove_condition(conditions: list[Condition] | None, ctype: str) -> list[Condition]:
    return [c for c in conditions or [] if c.type != ctype]


class Resource(Model):
    """A stored object. Subclasses set the class variables that describe their kind."""

    API_VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    NAMESPACED: ClassVar[bool] = True
    #: whether the object has a status subresource (spec and status written separately)
    HAS_STATUS: ClassVar[bool] = True

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @classmethod
    def new(cls, name: str, namespace: str | None = None, **kwargs: Any) -> Self:
        meta = ObjectMeta(name=name, namespace=namespace if cls.NAMESPACED else None)
        return cls(api_version=cls.API_VERSION, kind=cls.KIND, metadata=meta, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["apiVersion"] = self.API_VERSION
        d["kind"] = self.KIND
        # keep apiVersion/kind first, as kubectl prints them
        return {"apiVersion": d.pop("apiVersion"), "kind": d.pop("kind"), **d}

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def uid(self) -> str:
        return self.metadata.uid or ""

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.KIND, self.metadata.namespace, self.metadata.name or "")

    def labels(self) -> dict[str, str]:
        return self.metadata.labels or {}

    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations or {}

    def controller_ref(self) -> OwnerReference | None:
        for ref in self.metadata.owner_references or []:
            if ref.controller:
                return ref
        return None

    def is_controlled_by(self, owner: Resource) -> bool:
        ref = self.controller_ref()
        return ref is not None and ref.uid == owner.uid

    def as_owner(self) -> OwnerReference:
        return OwnerReference(
            api_version=self.API_VERSION,
            kind=self.KIND,
            name=self.name,
            uid=self.uid,
            controller=True,
            block_owner_deletion=True,
        )

    def copy_deep(self) -> Self:
        return self.model_copy(deep=True)
