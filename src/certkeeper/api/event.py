"""Core ``v1`` Event: what the controllers did and why, kept beside the objects.

``kubectl describe`` and ``cmctl status`` show a Certificate's events; they are how a
person learns why it is not Ready without reading the daemon's log. Events are
best-effort and short-lived, as in Kubernetes (kept one hour after they last happened).
"""

from typing import ClassVar

from .meta import Model, Resource

EVENT_NORMAL = "Normal"
EVENT_WARNING = "Warning"


class ObjectReference(Model):
    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class Event(Resource):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Event"
    PLURAL: ClassVar[str] = "events"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ev",)
    HAS_STATUS: ClassVar[bool] = False

    involved_object: ObjectReference = ObjectReference()
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    count: int | None = None
    type: str | None = None
    event_time: str | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
    action: str | None = None
    related: ObjectReference | None = None
    series: dict[str, object] | None = None
