"""Field errors printed exactly as the Kubernetes API server prints them.

Users of cert-manager read and grep these messages (``spec.secretName: Required value:
must be specified``), so the rendering follows k8s.io/apimachinery/pkg/util/validation/
field: the error type words, which types omit the bad value, and how Go's ``%q``/``%v``
show that value.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ...pki.durations import format_duration


class ErrorType(StrEnum):
    """The words Kubernetes prints for each ``field.ErrorType``."""

    NOT_FOUND = "Not found"
    REQUIRED = "Required value"
    DUPLICATE = "Duplicate value"
    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"
    TOO_MANY = "Too many"
    INTERNAL = "Internal error"


#: types whose rendering never shows the value (as in field.Error.ErrorBody)
_VALUE_OMITTED = {
    ErrorType.REQUIRED,
    ErrorType.FORBIDDEN,
    ErrorType.TOO_LONG,
    ErrorType.INTERNAL,
}


class _Omit:
    """Marker for "no value to print" (Go's ``omitValue``)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def go_quote(s: str) -> str:
    """Go's ``%q`` for the strings that occur in manifests."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_value(value: Any) -> str:
    """How ``ErrorBody`` prints a bad value: strings quoted, scalars bare, durations as Go."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, _dt.timedelta):
        return format_duration(value)
    # Go would print a %#v struct dump; compact JSON is the readable equivalent
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error``: ``path`` is the JSON path such as ``spec.dnsNames[0]``."""

    path: str
    type: str
    value: Any = field(default=OMIT)
    detail: str = ""

    def body(self) -> str:
        if self.type in _VALUE_OMITTED or self.value is OMIT:
            s = str(self.type)
        else:
            s = f"{self.type}: {format_value(self.value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"


# Constructors named after the Go helpers, so the checklists read like cert-manager's.


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, ErrorType.REQUIRED, OMIT, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, ErrorType.INVALID, value, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, ErrorType.FORBIDDEN, OMIT, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, ErrorType.DUPLICATE, value, "")


def not_supported(path: str, value: Any, valid: list[str] | tuple[str, ...]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return FieldError(path, ErrorType.NOT_SUPPORTED, value, detail)


def too_long(path: str, value: Any, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(path, ErrorType.TOO_LONG, value, f"may not be more than {max_length} {unit}")


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, ErrorType.NOT_FOUND, value, "")


def child(path: str, *names: str) -> str:
    """``field.Path.Child``: join with dots (an empty root gives no leading dot)."""
    parts = [path] if path else []
    parts.extend(names)
    return ".".join(parts)


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"
