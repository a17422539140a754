"""The ``Events:`` block of ``kubectl describe`` and ``cmctl status``: what the
controllers did to an object, newest last, repeats folded into one line."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..api import registry
from ..api.times import parse_time
from ..store.base import Store
from .printers import event_source, human_duration
from .reads import list_dicts

Obj = dict[str, Any]

_EVENTS = registry.find("events")


def _at(d: Obj, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) or {}
    return d or None


def events_for(store: Store, obj: Obj) -> list[Obj]:
    """The object's events (``obj`` and the events as JSON), oldest first (kubectl sorts
    them by last time seen). Events of cluster-scoped objects are in ``default``, as
    Kubernetes files them."""
    assert _EVENTS is not None
    name, uid = _at(obj, "metadata", "name") or "", _at(obj, "metadata", "uid")
    out = [
        e for e in list_dicts(store, _EVENTS, _at(obj, "metadata", "namespace") or "default", None)
        if _at(e, "involvedObject", "kind") == obj.get("kind") and (_at(e, "involvedObject", "name") or "") == name
        and (not _at(e, "involvedObject", "uid") or not uid or _at(e, "involvedObject", "uid") == uid)
    ]
    return sorted(out, key=lambda e: e.get("lastTimestamp") or e.get("firstTimestamp")
                  or _at(e, "metadata", "creationTimestamp") or "")


def _since(ts: str | None, now: _dt.datetime) -> str:
    return human_duration(now - parse_time(ts)) if ts else "<unknown>"


def _age(e: Obj, now: _dt.datetime) -> str:
    first = e.get("firstTimestamp") or e.get("eventTime") or _at(e, "metadata", "creationTimestamp")
    count = e.get("count")
    if (count or 1) > 1 and e.get("lastTimestamp"):
        return f"{_since(e['lastTimestamp'], now)} (x{count} over {_since(first, now)})"
    return _since(first, now)


def event_lines(events: list[Obj], now: _dt.datetime, indent: str = "") -> list[str]:
    if not events:
        return [f"{indent}Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]]
    rows += [[e.get("type") or "", e.get("reason") or "", _age(e, now), event_source(e), (e.get("message") or "").strip()]
             for e in events]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{indent}Events:"]
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:4])] + [r[4]]
        lines.append(f"{indent}  " + "  ".join(cells).rstrip())
    return lines
