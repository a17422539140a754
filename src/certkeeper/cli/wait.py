"""``certkeeper wait``: block on the store's watch until a condition holds.

The watch is subscribed before the object is read, so a change that lands between the
read and the subscription cannot be missed; there is no sleep-and-poll loop here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import click

from ..api.meta import Resource
from ..pki.durations import parse_duration
from ..store import NotFound, Store, WatchEvent
from ..store.base import EventType
from .get import list_objects, split_refs
from .state import fail, global_options, namespace_for, plural_ref, qualified, server_error, state

Predicate = Callable[[Resource | None], bool]

_A_WEEK = 7 * 24 * 3600.0


def condition_predicate(spec: str) -> Predicate:
    """``condition=Ready`` (True), ``condition=Ready=False``, or ``delete``; compared
    case-insensitively like kubectl's wait."""
    if spec == "delete":
        return lambda obj: obj is None
    if not spec.startswith("condition="):
        fail(f"error: unrecognized condition: {spec!r}")
    ctype, _, want = spec[len("condition="):].partition("=")
    want = want or "True"

    def holds(obj: Resource | None) -> bool:
        status = getattr(obj, "status", None) if obj is not None else None
        for c in getattr(status, "conditions", None) or []:
            if c.type.lower() == ctype.lower() and c.status.lower() == want.lower():
                return True
        return False

    return holds


def wait_for(
    store: Store, cls: type[Resource], namespace: str | None, name: str, predicate: Predicate,
    timeout: float | None,
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
    cls, names = split_refs(refs[0], refs[1:])
    store = st.store()
    ns = namespace_for(cls, st.ns)
    if names and (all_ or selector):
        fail("error: name cannot be provided when a selector or --all is specified")
    if names:
        targets = [(ns, name) for name in names]
    elif all_ or selector:
        # kubectl resolves the set once, at the start, and waits for each of those objects
        found = list_objects(store, cls, None if all_namespaces else ns, selector)
        if not found:
            fail("error: no matching resources found")
        targets = [(o.namespace, o.name) for o in found]
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
        if for_ != "delete" and store.try_get(cls, namespace, name) is None:
            fail(server_error(NotFound(f'{plural_ref(cls)} "{name}" not found')))
        remaining = max(0.0, deadline - time.monotonic())
        if not wait_for(store, cls, namespace, name, predicate, remaining):
            fail(f"error: timed out waiting for the condition on {cls.PLURAL}/{name}")
        click.echo(f"{qualified(cls)}/{name} {'deleted' if for_ == 'delete' else 'condition met'}")
