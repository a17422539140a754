"""Reference types shared by cert-manager's API groups (pkg/apis/meta/v1)."""

from __future__ import annotations

from .meta import Model

GROUP = "cert-manager.io"
ACME_GROUP = "acme.cert-manager.io"


class IssuerReference(Model):
    name: str | None = None
    kind: str | None = None
    group: str | None = None

    def kind_or_default(self) -> str:
        return self.kind or "Issuer"

    def group_or_default(self) -> str:
        return self.group or GROUP

    def same_issuer(self, other: IssuerReference) -> bool:
        """Empty kind/group equal their defaults, as cert-manager compares them."""
        return (
            self.name == other.name
            and self.kind_or_default() == other.kind_or_default()
            and self.group_or_default() == other.group_or_default()
        )


class LocalObjectReference(Model):
    name: str | None = None


class SecretKeySelector(Model):
    name: str | None = None
    key: str | None = None
