"""Object metadata, conditions and the resource base class shared by every kind.

Resources are pydantic models whose attribute names are snake_case and whose aliases are
the Kubernetes camelCase field names. Every optional field defaults to ``None`` so that a
manifest round-trips exactly: ``to_dict()`` drops ``None`` and keeps everything the user
wrote, and unknown fields are refused (kubectl's strict field validation) rather than
silently pruned.

The models are also the source of the CRDs' OpenAPI schemas (``certkeeper.api.crds``):
the docstring under a field is its description, ``SCHEMA_REQUIRED`` names the members the
API server requires, and the ``Annotated`` aliases below carry formats and enums. The
models themselves keep such members optional and plain ``str``, so that certkeeper's own
validation reports a missing or wrong value with the webhook's wording and field path.

The API modules do not use ``from __future__ import annotations``: with it every field's
annotation is text that pydantic compiles and evaluates when the class is made, a cost each
command-line call pays for every model it imports.
"""

import ast
import datetime as _dt
import inspect
import textwrap
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from .times import format_time as format_time  # re-exported: every caller imports them from here
from .times import parse_time as parse_time


def enum(*values: str) -> WithJsonSchema:
    """A string the CRD schema restricts to ``values`` (kubebuilder's ``Enum`` marker)."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


#: metav1.Time: RFC 3339 text
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
#: a Go ``[]byte`` that certkeeper keeps as the base64 text it came in (the ones it decodes
#: are :data:`certkeeper.api.bytefield.ByteField`)
Base64 = Annotated[str, WithJsonSchema({"type": "string", "format": "byte"})]
Int32 = Annotated[int, WithJsonSchema({"type": "integer", "format": "int32"})]
Int64 = Annotated[int, WithJsonSchema({"type": "integer", "format": "int64"})]
ConditionStatus = Annotated[str, enum("True", "False", "Unknown")]

#: a list of conditions merges by ``type`` under server-side apply, as in cert-manager's CRDs
CONDITIONS_LIST: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}


_DOCSTRINGS: dict[type, dict[str, str]] = {}


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it, for ``cls`` and its model bases.

    Read from the source only when a JSON schema is asked for (pydantic's
    ``use_attribute_docstrings`` would parse every class at import and slow every command).
    """
    cached = _DOCSTRINGS.get(cls)
    if cached is not None:
        return cached
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Model)) or klass is Model:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for a, b in zip(body, body[1:], strict=False):
            if (
                isinstance(a, ast.AnnAssign)
                and isinstance(a.target, ast.Name)
                and isinstance(b, ast.Expr)
                and isinstance(b.value, ast.Constant)
                and isinstance(b.value.value, str)
            ):
                out[a.target.id] = inspect.cleandoc(b.value.value)
    _DOCSTRINGS[cls] = out
    return out


def _schema_extra(schema: dict[str, Any], cls: type[Any]) -> None:
    """Adds what pydantic does not know to a model's JSON schema: field descriptions and
    the members the CRD requires."""
    docs = attribute_docstrings(cls)
    props = schema.get("properties", {})
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if key in props and name in docs:
            props[key]["description"] = docs[name]
    extra = getattr(cls, "SCHEMA_REQUIRED", ())
    if extra:
        schema["required"] = sorted({*schema.get("required", []), *extra})
    rules = getattr(cls, "SCHEMA_RULES", ())
    if rules:
        schema["x-kubernetes-validations"] = [{"rule": rule, "message": message} for rule, message in rules]


class Model(BaseModel):
    """Base for every API struct: camelCase aliases, strict fields, assignment allowed."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        ser_json_timedelta="iso8601",
        json_schema_extra=_schema_extra,
    )

    #: JSON names of the members the CRD schema requires (the API server refuses an object
    #: without them); see the module docstring for why the fields stay optional
    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ()
    #: CEL rules (rule, message) the API server checks on this object, as cert-manager's CRDs do
    SCHEMA_RULES: ClassVar[tuple[tuple[str, str], ...]] = ()

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


class Condition(Model):
    """A condition of a cert-manager resource (Certificate, CertificateRequest, Issuer)."""

    type: str
    """Type of the condition, e.g. `Ready`, `Issuing`, `Approved`, `Denied` or `InvalidRequest`."""
    status: ConditionStatus
    """Status of the condition, one of (`True`, `False`, `Unknown`)."""
    last_transition_time: Time | None = None
    """The time of the last change of this condition's status."""
    reason: str | None = None
    """A brief machine-readable explanation of the condition's last transition."""
    message: str | None = None
    """A human-readable description of the details of the last transition, complementing reason."""
    observed_generation: Int64 | None = None
    """The `.metadata.generation` the condition was set from; a condition with a lower value
    than the object's generation is out of date."""


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
    """APIVersion defines the versioned schema of this representation of an object.
    Servers should convert recognized schemas to the latest internal value, and
    may reject unrecognized values.
    More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"""
    kind: str | None = None
    """Kind is a string value representing the REST resource this object represents.
    Servers may infer this from the endpoint the client submits requests to.
    Cannot be updated.
    In CamelCase.
    More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"""
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

    def is_controlled_by(self, owner: "Resource") -> bool:
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
