"""kubectl's output formats: tables with the CRDs' printer columns, json, yaml and name.

The columns are cert-manager's ``+kubebuilder:printcolumn`` markers: ``priority=1``
columns appear only with ``-o wide``. Missing values print empty, as the API server's
table convertor leaves a column with no JSONPath result empty.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.registry import KindName
from ..api.times import parse_time
from .logs import escape_control

Getter = Callable[[dict[str, Any], _dt.datetime], str]


@dataclass(frozen=True)
class Column:
    name: str
    get: Getter
    wide_only: bool = False


def human_duration(d: _dt.timedelta) -> str:
    """k8s.io/apimachinery duration.HumanDuration, the AGE column of kubectl."""
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _path(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def field(*keys: str) -> Getter:
    return lambda d, _now: _text(_path(d, *keys))


def condition(ctype: str, attr: str = "status") -> Getter:
    def get(d: dict[str, Any], _now: _dt.datetime) -> str:
        for c in _path(d, "status", "conditions") or []:
            if isinstance(c, dict) and c.get("type") == ctype:
                return _text(c.get(attr))
        return ""

    return get


def age(d: dict[str, Any], now: _dt.datetime) -> str:
    ts = _path(d, "metadata", "creationTimestamp")
    if not ts:
        return "<unknown>"
    return human_duration(now - parse_time(ts))


def _secret_data(d: dict[str, Any], _now: _dt.datetime) -> str:
    return str(len(d.get("data") or {}))


def _namespace_status(d: dict[str, Any], _now: _dt.datetime) -> str:
    return _text(_path(d, "status", "phase")) or "Active"


AGE = Column("AGE", age)


def _since(*fields: str) -> Getter:
    """Age of the first timestamp present among ``fields`` (events carry one of several)."""

    def get(d: dict[str, Any], now: _dt.datetime) -> str:
        for f in fields:
            ts = d.get(f) or _path(d, "metadata", f)
            if ts:
                return human_duration(now - parse_time(ts))
        return "<unknown>"

    return get


def _event_object(d: dict[str, Any], _now: _dt.datetime) -> str:
    ref = d.get("involvedObject") or {}
    return f"{_text(ref.get('kind')).lower()}/{_text(ref.get('name'))}"


def event_source(d: dict[str, Any], _now: _dt.datetime | None = None) -> str:
    """kubectl's "From": the component, and the host when one is set."""
    component = _path(d, "source", "component") or d.get("reportingComponent") or ""
    host = _path(d, "source", "host") or d.get("reportingInstance") or ""
    return f"{component}, {host}" if host else _text(component)


#: kubectl's own table for core Events: no NAME column unless wide, and NAME last
EVENT_COLUMNS = [
    Column("LAST SEEN", _since("lastTimestamp", "eventTime", "creationTimestamp")),
    Column("TYPE", field("type")),
    Column("REASON", field("reason")),
    Column("OBJECT", _event_object),
    Column("SUBOBJECT", field("involvedObject", "fieldPath"), wide_only=True),
    Column("SOURCE", event_source, wide_only=True),
    Column("MESSAGE", field("message")),
    Column("FIRST SEEN", _since("firstTimestamp", "eventTime", "creationTimestamp"), wide_only=True),
    Column("COUNT", field("count"), wide_only=True),
    Column("NAME", field("metadata", "name"), wide_only=True),
]
READY_STATUS = Column("STATUS", condition("Ready", "message"), wide_only=True)

COLUMNS: dict[str, list[Column]] = {
    "Certificate": [
        Column("READY", condition("Ready")),
        Column("SECRET", field("spec", "secretName")),
        Column("ISSUER", field("spec", "issuerRef", "name"), wide_only=True),
        READY_STATUS,
        Column("EXPIRATION", field("status", "notAfter"), wide_only=True),
        AGE,
    ],
    "CertificateRequest": [
        Column("APPROVED", condition("Approved")),
        Column("DENIED", condition("Denied")),
        Column("READY", condition("Ready")),
        Column("ISSUER", field("spec", "issuerRef", "name")),
        Column("REQUESTER", field("spec", "username")),
        READY_STATUS,
        AGE,
    ],
    "Issuer": [Column("READY", condition("Ready")), READY_STATUS, AGE],
    "ClusterIssuer": [Column("READY", condition("Ready")), READY_STATUS, AGE],
    "Order": [
        Column("STATE", field("status", "state")),
        Column("ISSUER", field("spec", "issuerRef", "name"), wide_only=True),
        Column("REASON", field("status", "reason"), wide_only=True),
        AGE,
    ],
    "Challenge": [
        Column("STATE", field("status", "state")),
        Column("DOMAIN", field("spec", "dnsName")),
        Column("REASON", field("status", "reason"), wide_only=True),
        AGE,
    ],
    "Secret": [Column("TYPE", field("type")), Column("DATA", _secret_data), AGE],
    "Namespace": [Column("STATUS", _namespace_status), AGE],
}


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """kubectl's tabwriter: columns padded to the widest cell plus three spaces. A cell
    keeps to its row: a message with a newline (an issuer's error, a hook's output) or an
    escape sequence shows escaped, as in the log."""
    if not rows:
        return ""
    rows = [[escape_control(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i] + 3) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _name(d: dict[str, Any]) -> str:
    return _text(_path(d, "metadata", "name"))


def table(
    objs: Sequence[dict[str, Any]], kind: KindName, now: _dt.datetime, wide: bool = False,
    with_namespace: bool = False, with_kind: bool = False,
) -> str:
    """``objs`` as JSON (the stored rows, or the models' ``to_dict()``). ``with_kind``: names
    as ``certificate.cert-manager.io/web``, as kubectl prints them when several kinds were
    asked for."""
    named = kind.kind != "Event"
    columns = [c for c in (COLUMNS.get(kind.kind, [AGE]) if named else EVENT_COLUMNS) if wide or not c.wide_only]
    header = (["NAMESPACE"] if with_namespace else []) + (["NAME"] if named else []) + [c.name for c in columns]
    rows = [header]
    for d in objs:
        row = [_text(_path(d, "metadata", "namespace"))] if with_namespace else []
        if named:
            row.append(f"{kind.qualified}/{_name(d)}" if with_kind else _name(d))
        row.extend(c.get(d, now) for c in columns)
        rows.append(row)
    return format_table(rows)


def as_list(objs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's shape for several objects."""
    return {
        "apiVersion": "v1",
        "items": list(objs),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def dump_json(data: Any) -> str:
    """kubectl -o json: four spaces, keys sorted (Go marshals maps sorted)."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def dump_yaml(data: Any) -> str:
    from .yamlout import dump_yaml

    return dump_yaml(data)


def render(
    objs: Sequence[dict[str, Any]],
    kind: KindName,
    output: str | None,
    now: _dt.datetime,
    single: bool,
    with_namespace: bool = False,
    with_kind: bool = False,
) -> str:
    """``single``: the user named exactly one object, so json/yaml print it bare. A
    list for json/yaml may hold several kinds (``get a,b``): ``kind`` is then unused."""
    if output in ("json", "yaml"):
        data: Any = objs[0] if single and len(objs) == 1 else as_list(objs)
        return dump_json(data) if output == "json" else dump_yaml(data)
    if output == "name":
        return "".join(f"{kind.qualified}/{_name(d)}\n" for d in objs)
    return table(objs, kind, now, wide=output == "wide", with_namespace=with_namespace, with_kind=with_kind)
