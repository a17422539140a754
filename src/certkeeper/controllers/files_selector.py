"""``--secrets-selector``: which Secrets besides Certificates' are written to files, in
kubectl's equality-based label selector syntax (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
comma-separated, all must hold)."""

from __future__ import annotations

import dataclasses
import re

_KEY = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "exists", "!exists"
    value: str = ""

    def holds(self, labels: dict[str, str]) -> bool:
        if self.op == "=":
            return labels.get(self.key) == self.value
        if self.op == "!=":
            return labels.get(self.key) != self.value
        if self.op == "exists":
            return self.key in labels
        return self.key not in labels


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    text: str
    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Raises ValueError naming the term that is not a requirement."""
        reqs = []
        for raw in text.split(","):
            term = raw.strip()
            if not term:
                raise ValueError(f"{text!r}: empty requirement")
            if "!=" in term:
                key, value = (s.strip() for s in term.split("!=", 1))
                op = "!="
            elif "=" in term:
                key, _, value = term.replace("==", "=", 1).partition("=")
                key, value, op = key.strip(), value.strip(), "="
            elif term.startswith("!"):
                key, value, op = term[1:].strip(), "", "!exists"
            else:
                key, value, op = term, "", "exists"
            if not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
                raise ValueError(f"{text!r}: {term!r} is not a valid label requirement")
            reqs.append(Requirement(key, op, value))
        return cls(text, tuple(reqs))

    def matches(self, labels: dict[str, str]) -> bool:
        return all(r.holds(labels) for r in self.requirements)
