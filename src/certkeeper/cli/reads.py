"""What the reading verbs read: objects as the JSON dictionaries kubectl prints.

On the host store the rows are the stored JSON, decoded as it is (``list_raw``,
``get_raw``): no model is built and pydantic is not imported, which was most of a ``get``'s
start-up. A store without those reads (a cluster, where each call is a network round trip
that costs more than the models) is read through the models and dumped with ``to_dict``,
the same JSON; the printers and the conditions see dictionaries either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..api.registry import KindName
from ..store import NotFound, Store
from .selector import SelectorError, compile_selector
from .state import fail

Obj = dict[str, Any]


@runtime_checkable
class RawReads(Protocol):
    """A store that hands out its stored JSON (``SqliteStore``)."""

    def list_raw(
        self, key: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> list[Obj]: ...

    def get_raw(self, key: str, namespace: str | None, name: str) -> Obj | None: ...


def at(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...``, or None where a step is missing."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def name_of(d: Obj) -> str:
    return str((d.get("metadata") or {}).get("name") or "")


def namespace_of(d: Obj) -> str | None:
    ns = (d.get("metadata") or {}).get("namespace")
    return None if ns is None else str(ns)


def labels_of(d: Obj) -> dict[str, str]:
    return dict((d.get("metadata") or {}).get("labels") or {})


def namespace_in(k: KindName, namespace: str) -> str | None:
    """The namespace a call on ``k`` is about: none for a cluster-scoped kind."""
    return namespace if k.namespaced else None


def parse_selector(text: str | None, k: KindName) -> tuple[dict[str, str], Callable[[dict[str, str]], bool]]:
    """The equalities the store can filter on and a predicate for the whole selector;
    a selector that does not parse ends the command as the API server's BadRequest does."""
    try:
        return compile_selector(text)
    except SelectorError as e:
        group_version = k.api_version if "/" in k.api_version else f"/{k.api_version}"
        fail(f'Error from server (BadRequest): Unable to find "{group_version}, Resource={k.plural}" that match '
             f'label selector "{text}", field selector "": {e}')


def list_dicts(
    store: Store, k: KindName, namespace: str | None, selector: str | None, models: bool = False,
    owner_uid: str | None = None,
) -> list[Obj]:
    """The objects of ``k`` (in ``namespace``, or all; owned by ``owner_uid`` if given)
    whose labels match, by namespace and name. ``models``: through the models even on the
    host (see ``whole_through_models``)."""
    equal, matches = parse_selector(selector, k)
    if not models and isinstance(store, RawReads):
        found = store.list_raw(k.key, namespace if k.namespaced else None, equal or None, owner_uid)
    else:
        objs = store.list(k.load(), namespace=namespace, labels=equal or None, owner_uid=owner_uid)
        found = [o.to_dict() for o in objs]
    return sorted((d for d in found if matches(labels_of(d))), key=lambda d: (namespace_of(d) or "", name_of(d)))


def _row_namespace(k: KindName, namespace: str | None) -> str | None:
    """Where the store files an object: ``default`` unless told, none if cluster-scoped."""
    return (namespace or "default") if k.namespaced else None


def try_get_dict(store: Store, k: KindName, namespace: str | None, name: str) -> Obj | None:
    if isinstance(store, RawReads):
        return store.get_raw(k.key, _row_namespace(k, namespace), name)
    obj = store.try_get(k.load(), namespace, name)
    return None if obj is None else obj.to_dict()


def get_dict(store: Store, k: KindName, namespace: str | None, name: str, models: bool = False) -> Obj:
    """One object; NotFound with the store's message when it is absent."""
    if not models and isinstance(store, RawReads):
        d = store.get_raw(k.key, _row_namespace(k, namespace), name)
        if d is None:
            raise NotFound(f'{k.resource} "{name}" not found')
        return d
    return store.get(k.load(), namespace, name).to_dict()


def whole_through_models(k: KindName) -> bool:
    """Whether a verb that prints whole objects (``get -o json|yaml``, ``describe``) reads
    ``k`` through the models: only a kind with ``[]byte`` fields, where a row written by an
    older version holds raw PEM that the models print as base64; every other stored row is
    what the models' ``to_dict`` prints (``tests/test_cli_reads.py``). The columns and
    names read no such field."""
    return k.byte_fields


def condition_holds(d: Obj | None, ctype: str, want: str) -> bool:
    """A condition of ``ctype`` with status ``want``, compared case-insensitively (kubectl's wait)."""
    conditions = ((d or {}).get("status") or {}).get("conditions") or []
    return any(
        isinstance(c, dict) and str(c.get("type", "")).lower() == ctype.lower()
        and str(c.get("status", "")).lower() == want.lower()
        for c in conditions
    )
