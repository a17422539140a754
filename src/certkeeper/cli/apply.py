"""``certkeeper apply`` and ``certkeeper delete``.

apply loads and validates every document before it writes anything, and writes them all
in one store transaction: a directory of manifests with one typo, or a store that fails
half-way (disk full, corrupt), must not leave half an installation behind. The merge is
kubectl's apply approximated for people who own their manifests: labels, annotations
and everything but ``status`` come from the manifest; status, uid and creation time stay.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import click

from ..api.core import Secret
from ..api.meta import Resource
from ..store import Conflict, NotFound, Store, StoreBroken, StoreError, StoreUnavailable
from ..store.transactions import Transactional
from .get import split_refs
from .state import fail, global_options, namespace_for, object_ref, qualified, server_error, state

if TYPE_CHECKING:
    from ..api.loader import LoadResult

_MANIFEST_ONLY = {"api_version", "kind", "metadata", "status"}
_CONFLICT_RETRIES = 5


def _spec_fields(cls: type[Resource]) -> list[str]:
    """Everything a manifest owns besides metadata: spec, or a Secret's type/data."""
    return [f for f in cls.model_fields if f not in _MANIFEST_ONLY]


def apply_object(store: Store, obj: Resource) -> str:
    """Create or update one object; returns kubectl's verb: created, configured, unchanged."""
    cls = type(obj)
    if isinstance(obj, Secret):
        obj.fold_string_data()
    for _ in range(_CONFLICT_RETRIES):
        existing = store.try_get(cls, obj.namespace, obj.name)
        if existing is None:
            new = obj.copy_deep()
            if cls.HAS_STATUS and hasattr(new, "status"):
                new.status = None  # status belongs to the controllers
            store.create(new)
            return "created"
        merged = existing.copy_deep()
        merged.metadata.labels = obj.metadata.labels
        merged.metadata.annotations = obj.metadata.annotations
        for f in _spec_fields(cls):
            setattr(merged, f, getattr(obj, f))
        try:
            updated = store.update(merged)
        except Conflict:
            continue  # a controller wrote the status meanwhile: merge again
        same = updated.metadata.resource_version == existing.metadata.resource_version
        return "unchanged" if same else "configured"
    raise Conflict(f"{object_ref(obj)}: still conflicting after {_CONFLICT_RETRIES} attempts")


def _namespace_mismatches(result: LoadResult, namespace: str | None) -> list[str]:
    """kubectl refuses a manifest whose namespace differs from an explicit ``-n``."""
    if namespace is None:
        return []
    return [
        f'error: the namespace from the provided object "{o.namespace}" does not match the namespace '
        f'"{namespace}". You must pass \'--namespace={o.namespace}\' to perform this operation.'
        for o in result.objects
        if type(o).NAMESPACED and o.namespace != namespace
    ]


def _load(files: tuple[str, ...]) -> LoadResult:
    from ..api.loader import load_paths  # validation is only needed by the verbs that read manifests

    st = state()
    result = load_paths(list(files), default_namespace=st.ns)
    result.errors.extend(_namespace_mismatches(result, st.namespace))
    for warning in result.unsupported:
        click.echo(f"Warning: {warning}", err=True)
    return result


@click.command("apply")
@click.option("-f", "--filename", "files", multiple=True, required=True, metavar="FILE|DIR|-",
              help="Manifest file, directory of manifests, or - for stdin (repeatable).")
@global_options()
def apply_cmd(files: tuple[str, ...]) -> None:
    """Create or update objects from manifests: all of them, or none if any is invalid."""
    result = _load(files)
    if result.errors:
        for e in result.errors:
            click.echo(e, err=True)
        raise click.exceptions.Exit(1)
    if not result.objects and not result.unsupported:
        fail("error: no objects passed to apply")
    store = state().store(create=True)
    atomic = isinstance(store, Transactional)
    done: list[str] = []
    errors: list[str] = []
    try:
        with _all_or_nothing(store):
            for obj in result.objects:
                try:
                    verb = apply_object(store, obj)
                except (StoreUnavailable, StoreBroken):
                    raise  # the store itself failed: the transaction is undone
                except StoreError as e:
                    errors.append(server_error(e))
                    if not atomic:
                        click.echo(errors[-1], err=True)
                    continue
                done.append(f"{object_ref(obj)} {verb}")
                if not atomic:
                    click.echo(done[-1])
            if errors and atomic:
                raise _Undo
    except _Undo:
        for line in errors:
            click.echo(line, err=True)
        fail(f"error: nothing was applied: {len(errors)} of {len(result.objects)} objects failed")
    except (StoreUnavailable, StoreBroken) as e:
        fail(f"error: {e}; nothing was applied" if atomic else f"error: {e}")
    if atomic:
        for line in done:
            click.echo(line)
    if errors:
        raise click.exceptions.Exit(1)


class _Undo(Exception):
    """Leaves the transaction so that it rolls back."""


def _all_or_nothing(store: Store) -> AbstractContextManager[None]:
    return store.transaction() if isinstance(store, Transactional) else nullcontext()


@click.command("delete")
@click.argument("refs", nargs=-1)
@click.option("-f", "--filename", "files", multiple=True, metavar="FILE|DIR|-",
              help="Delete the objects these manifests describe.")
@global_options()
def delete_cmd(refs: tuple[str, ...], files: tuple[str, ...]) -> None:
    """Delete objects by kind and names, or those in manifests."""
    st = state()
    targets: list[tuple[type[Resource], str | None, str]] = []
    if files:
        if refs:
            fail("error: resource(s) were provided, but no name was specified")
        result = _load(files)
        if result.errors:
            for e in result.errors:
                click.echo(e, err=True)
            raise click.exceptions.Exit(1)
        targets = [(type(o), o.namespace, o.name) for o in result.objects]
    else:
        if not refs:
            fail("error: You must provide one or more resources by argument or filename.")
        k, names = split_refs(refs[0], refs[1:])
        if not names:
            fail("error: resource(s) were provided, but no name was specified")
        cls = k.load()
        targets = [(cls, namespace_for(cls, st.ns), n) for n in names]
    store = st.store()
    failed = False
    for cls, ns, name in targets:
        try:
            store.delete(cls, ns, name)
        except NotFound as e:
            click.echo(server_error(e), err=True)
            failed = True
            continue
        click.echo(f'{qualified(cls)} "{name}" deleted')
    if failed:
        raise click.exceptions.Exit(1)
