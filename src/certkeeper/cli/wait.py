"""``certkeeper wait``: block on the store's watch until a condition holds.

The watch is subscribed before the object is read, so a change that lands between the
read and the subscription cannot be missed; there is no sleep-and-poll loop here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..pki.durations import parse_duration
from ..store import NotFound, Store, WatchEvent
from ..store.base import EventType
from .get import split_refs
from .reads import condition_holds, list_dicts, name_of, namespace_in, namespace_of, try_get_dict

if TYPE_CHECKING:
    from ..api.meta import Resource
from .state import fail, global_options, server_error, state

#: whether an object (its JSON; None when it is absent) is what is waited for
Predicate = Callable[[dict[str, Any] | None], bool]

_A_WEEK = 7 * 24 * 3600.0


def condition_predicate(spec: str) -> Predicate:
    """``condition=Ready`` (True), ``condition=Ready=False``, or ``delete``; compared
    case-insensitively like kubectl's wait."""
    if spec == "delete":
        return lambda obj: obj is None
    if not spec.startswith("condition="):
        fail(f"error: unrecognized condition: {spec!r}")
    ctype, _, want = spec[len("condition="):].partition("=")
    return lambda obj: condition_holds(obj, ctype, want or "True")


def wait_for(
    store: Store, cls: type[Resource], namespace: str | None, name: str,
    predicate: Callable[[Resource | None], bool], timeout: float | None,
) -> bool:
    """True once ``predicate`` holds for the object (None when it is absent); ``timeout``
    None waits for ever, 0 only looks once."""
    met = threading.Event()

    def handler(ev: WatchEvent) -> None:
        if type(ev.obj) is not cls or ev.name != name or ev.namespace != namespace:
            return
        if predicate(None if ev.type == EventType.DELETED else ev.obj):
            met.set()

    stop = store.watch(handler)
    try:
        if predicate(store.try_get(cls, namespace, name)):
            return True
        return met.wait(timeout)
    finally:
        stop()


@click.command("wait")
@click.argument("refs", nargs=-1, required=True)
@click.option("--for", "for_", required=True, metavar="condition=TYPE[=STATUS]|delete",
              help="What to wait for, e.g. condition=Ready.")
@click.option("--timeout", default="30s", show_default=True,
              help="Give up after this Go duration (0: check once; negative: a week, as kubectl).")
@click.option("--all", "all_", is_flag=True, help="Every object of the kind in the namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="With --all or -l: in every namespace.")
@click.option("-l", "--selector", default=None, help="Objects whose labels match (a=b,c!=d).")
@global_options()
def wait_cmd(
    refs: tuple[str, ...], for_: str, timeout: str, all_: bool, all_namespaces: bool, selector: str | None
) -> None:
    """Wait for a condition on one or more objects (KIND/NAME, KIND NAME..., or KIND --all)."""
    st = state()
    k, names = split_refs(refs[0], refs[1:])
    store = st.store()
    ns = namespace_in(k, st.ns)
    if names and (all_ or selector):
        fail("error: name cannot be provided when a selector or --all is specified")
    if names:
        targets = [(ns, name) for name in names]
    elif all_ or selector:
        # kubectl resolves the set once, at the start, and waits for each of those objects
        found = list_dicts(store, k, None if all_namespaces else ns, selector)
        if not found:
            fail("error: no matching resources found")
        targets = [(namespace_of(d), name_of(d)) for d in found]
    else:
        fail("error: resource name may not be empty")
    predicate = condition_predicate(for_)
    try:
        limit = parse_duration(timeout).total_seconds()
    except ValueError as e:
        fail(f"error: invalid --timeout {timeout!r}: {e}")
    if limit < 0:
        limit = _A_WEEK
    deadline = time.monotonic() + limit
    for namespace, name in targets:
        current = try_get_dict(store, k, namespace, name)
        if for_ != "delete" and current is None:
            fail(server_error(NotFound(f'{k.resource} "{name}" not found')))
        # what already holds is answered from one read; only a wait watches (and builds models)
        if not predicate(current):
            remaining = max(0.0, deadline - time.monotonic())
            on_model = lambda obj: predicate(None if obj is None else obj.to_dict())  # noqa: E731
            if not wait_for(store, k.load(), namespace, name, on_model, remaining):
                fail(f"error: timed out waiting for the condition on {k.plural}/{name}")
        click.echo(f"{k.qualified}/{name} {'deleted' if for_ == 'delete' else 'condition met'}")
