"""Turn pydantic's decoding errors into the API server's schema errors.

A manifest that does not fit the schema (unknown field, wrong type, missing required
member) is refused by the API server with a field path and a fixed wording; pydantic
reports the same facts as ``loc`` tuples. Converting keeps certkeeper's output in the
one vocabulary users already know from kubectl.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..bytefield import BYTE_FORMAT_ERROR
from .errors import FieldError, format_value, go_quote, invalid, required

#: pydantic error type -> the OpenAPI type the field expects
_EXPECTED_TYPE = {
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "bytes_type": "string",
    "bool_type": "boolean",
    "list_type": "array",
    "tuple_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}

#: loc entries pydantic adds for union members; they are not part of the JSON path
_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def json_type_name(value: Any) -> str:
    """The OpenAPI name of a decoded JSON value's type, as the API server reports it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def loc_to_path(loc: tuple[int | str, ...], root: str = "") -> str:
    """``('spec', 'dnsNames', 0)`` -> ``spec.dnsNames[0]``."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS or "[" in part:
            continue  # union member tag such as 'str' or 'function-after[...]'
        else:
            out = f"{out}.{part}" if out else part
    return out


def field_error_from_details(err: ErrorDetails, root: str = "") -> FieldError:
    path = loc_to_path(tuple(err["loc"]), root)
    etype = err["type"]
    value = err.get("input")
    if etype == "extra_forbidden":
        return invalid(path, value, "field not declared in schema")
    if etype == "missing":
        return required(path)
    if etype == BYTE_FORMAT_ERROR:
        shown = go_quote(value) if isinstance(value, str) else format_value(value)
        return invalid(path, value, f"{path} in body must be of type byte: {shown}")
    expected = _EXPECTED_TYPE.get(etype)
    if expected is not None:
        actual = json_type_name(value)
        return invalid(path, actual, f'{path} in body must be of type {expected}: "{actual}"')
    return invalid(path, value, err["msg"])


def field_errors_from_pydantic(exc: ValidationError, root: str = "") -> list[FieldError]:
    """One FieldError per distinct path (a failed union reports once, not per member)."""
    seen: set[str] = set()
    out: list[FieldError] = []
    for err in exc.errors():
        fe = field_error_from_details(err, root)
        if fe.path in seen:
            continue
        seen.add(fe.path)
        out.append(fe)
    return out
