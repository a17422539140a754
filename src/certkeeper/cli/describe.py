"""``kubectl describe`` output: the generic describer kubectl uses for custom resources,
with conditions as a table, and kubectl's Secret describer (sizes, never values)."""

from __future__ import annotations

import base64
import datetime as _dt
import re
from typing import Any

from ..api.registry import KindName
from .events import event_lines

_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}
_INDENT = "  "
_TOP_LABEL_WIDTH = 14  # "Annotations:  " : kubectl aligns the header block at this column


def smart_label(field: str) -> str:
    """kubectl's smartLabelFor: ``dnsNames`` -> ``Dns Names``, ``apiVersion`` -> ``API Version``."""
    if any(not (ch.isalpha() or ch == "-") for ch in field):
        return field
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[A-Z]+|-", field)
    out = []
    for p in parts:
        out.append(p.upper() if p.upper() in _ACRONYMS else p[:1].upper() + p[1:])
    return " ".join(out)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _is_scalar(v: Any) -> bool:
    return not isinstance(v, dict | list)


def _map_lines(d: dict[str, Any], level: int) -> list[str]:
    pad = _INDENT * level
    scalars = {k: v for k, v in d.items() if _is_scalar(v)}
    width = max((len(smart_label(k)) for k in scalars), default=0) + 3
    lines: list[str] = []
    for k in sorted(d):
        v = d[k]
        label = smart_label(k) + ":"
        if _is_scalar(v):
            lines.append(f"{pad}{label.ljust(width)}{_scalar(v)}".rstrip())
        elif k == "conditions" and isinstance(v, list) and all(isinstance(c, dict) for c in v):
            lines.append(f"{pad}{label}")
            lines.extend(_conditions_table(v, level + 1))
        else:
            lines.append(f"{pad}{label}")
            lines.extend(_value_lines(v, level + 1))
    return lines


def _value_lines(v: Any, level: int) -> list[str]:
    if isinstance(v, dict):
        return _map_lines(v, level)
    if isinstance(v, list):
        lines: list[str] = []
        for item in v:
            if _is_scalar(item):
                lines.append(f"{_INDENT * level}{_scalar(item)}")
            else:
                lines.extend(_value_lines(item, level))
        return lines
    return [f"{_INDENT * level}{_scalar(v)}"]


_COND_FIELDS = ("type", "status", "reason", "message", "lastTransitionTime", "observedGeneration")


def _conditions_table(conditions: list[dict[str, Any]], level: int) -> list[str]:
    headers = ["Type", "Status", "Reason", "Message", "Last Transition Time", "Observed Generation"]
    rows = [headers, ["----", "------", "------", "-------", "--------------------", "-------------------"]]
    for c in conditions:
        rows.append([_scalar(c[f]) if c.get(f) is not None else "" for f in _COND_FIELDS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    pad = _INDENT * level
    return [pad + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]


def _header(label: str, value: str) -> str:
    return f"{label + ':':<{_TOP_LABEL_WIDTH}}{value}"


def _kv_block(label: str, values: dict[str, str]) -> list[str]:
    if not values:
        return [_header(label, "<none>")]
    items = [f"{k}={v}" if label == "Labels" else f"{k}: {v}" for k, v in sorted(values.items())]
    first, *rest = items
    return [_header(label, first), *(" " * _TOP_LABEL_WIDTH + i for i in rest)]


def describe(
    obj: dict[str, Any], kind: KindName, events: list[dict[str, Any]] | None = None, now: _dt.datetime | None = None
) -> str:
    """``obj`` as JSON: the stored row, or a model's ``to_dict()``."""
    meta = obj.get("metadata") or {}
    lines = [_header("Name", meta.get("name") or "")]
    if kind.namespaced:
        lines.append(_header("Namespace", meta.get("namespace") or ""))
    lines += _kv_block("Labels", meta.get("labels") or {})
    lines += _kv_block("Annotations", meta.get("annotations") or {})
    if kind.kind == "Secret":
        return "\n".join(lines + _secret_body(obj)) + "\n"
    d = dict(obj)
    lines.append(_header("API Version", d.pop("apiVersion")))
    lines.append(_header("Kind", d.pop("kind")))
    rest = {
        k: v
        for k, v in d.pop("metadata", {}).items()
        if k not in ("name", "namespace", "labels", "annotations", "managedFields")
    }
    body: dict[str, Any] = {"metadata": rest, **d} if rest else d
    lines += _map_lines(body, 0)
    lines += event_lines(events or [], now or _dt.datetime.now(_dt.UTC))
    return "\n".join(lines) + "\n"


def _secret_body(secret: dict[str, Any]) -> list[str]:
    lines = ["", f"Type:  {secret.get('type') or 'Opaque'}", "", "Data", "===="]
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    width = max((len(k) for k in data), default=0) + 3
    for k in sorted(data):
        lines.append(f"{k + ':':<{width}}{len(data[k])} bytes")
    return lines
