"""Reference types shared by cert-manager's API groups (pkg/apis/meta/v1)."""

from typing import ClassVar

from .meta import Model

GROUP = "cert-manager.io"
ACME_GROUP = "acme.cert-manager.io"


class IssuerReference(Model):
    """A reference to an Issuer or ClusterIssuer by name, kind and API group."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = None
    """Name of the issuer being referred to."""
    kind: str | None = None
    """Kind of the issuer being referred to. Defaults to `Issuer`."""
    group: str | None = None
    """Group of the issuer being referred to. Defaults to `cert-manager.io`."""

    def kind_or_default(self) -> str:
        return self.kind or "Issuer"

    def group_or_default(self) -> str:
        return self.group or GROUP

    def same_issuer(self, other: "IssuerReference") -> bool:
        """Empty kind/group equal their defaults, as cert-manager compares them."""
        return (
            self.name == other.name
            and self.kind_or_default() == other.kind_or_default()
            and self.group_or_default() == other.group_or_default()
        )


class LocalObjectReference(Model):
    """A reference to an object in the same namespace as the referrer."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = None
    """Name of the resource being referred to.
    More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names"""


class SecretKeySelector(Model):
    """A reference to a specific `key` within a Secret resource. In some instances, `key` is
    a required field."""

    SCHEMA_REQUIRED: ClassVar[tuple[str, ...]] = ("name",)

    name: str | None = None
    """Name of the resource being referred to.
    More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names"""
    key: str | None = None
    """The key of the entry in the Secret resource's `data` field to be used. Some instances
    of this field may be defaulted, in others it may be required."""
