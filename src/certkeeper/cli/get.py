"""``certkeeper get`` and ``certkeeper describe``: reading objects the way kubectl does."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import click

from ..api.registry import KindName
from ..store import NotFound
from .printers import render
from .reads import get_dict, list_dicts, namespace_in, whole_through_models
from .state import CliState, fail, global_options, resolve_name, server_error, state

OUTPUTS = ("wide", "yaml", "json", "name")


def _models(k: KindName, output: str | None) -> bool:
    return output in ("json", "yaml") and whole_through_models(k)


def split_refs(kind: str, names: tuple[str, ...]) -> tuple[KindName, list[str]]:
    """``get cert foo bar`` and ``get cert/foo cert/bar``: one kind and its names."""
    if "/" not in kind:
        return resolve_name(kind), list(names)
    refs = [kind, *names]
    kinds = {r.partition("/")[0] for r in refs}
    if len(kinds) != 1 or any("/" not in r for r in refs):
        fail("error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form")
    return resolve_name(kinds.pop()), [r.partition("/")[2] for r in refs]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _no_resources(k: KindName, st: CliState, all_namespaces: bool) -> str:
    if all_namespaces or not k.namespaced:
        return "No resources found"
    return f"No resources found in {st.ns} namespace."


@click.command("get")
@click.argument("kind")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", default=None, help=f"Output format: one of {', '.join(OUTPUTS)}.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector (a=b,c!=d).")
@global_options()
def get_cmd(kind: str, names: tuple[str, ...], output: str | None, all_namespaces: bool, selector: str | None) -> None:
    """Display one or many objects (several kinds at once: ``get certs,issuers``)."""
    if output is not None and output not in OUTPUTS:
        fail(f'error: unable to match a printer suitable for the output format "{output}", '
             f"allowed formats are: {','.join(sorted(OUTPUTS))}")
    st = state()
    if "," in kind and "/" not in kind and not names:
        _get_kinds(st, kind.split(","), output, all_namespaces, selector)
        return
    k, wanted = split_refs(kind, names)
    if wanted and all_namespaces:
        fail("error: a resource cannot be retrieved by name across all namespaces")
    if wanted and selector:
        fail("error: name cannot be provided when a selector is specified")
    store = st.store()
    if wanted:
        objs: list[dict[str, Any]] = []
        missing: list[str] = []
        for name in wanted:
            try:
                objs.append(get_dict(store, k, namespace_in(k, st.ns), name, models=_models(k, output)))
            except NotFound as e:
                missing.append(server_error(e))
        if objs:
            text = render(objs, k, output, _now(), single=len(wanted) == 1)
            click.echo(text, nl=False)
        for m in missing:
            click.echo(m, err=True)
        if missing:
            raise click.exceptions.Exit(1)
        return
    namespace = None if all_namespaces else namespace_in(k, st.ns)
    objs = list_dicts(store, k, namespace, selector, models=_models(k, output))
    if not objs and output not in ("json", "yaml"):
        click.echo(_no_resources(k, st, all_namespaces), err=True)
        return
    with_ns = all_namespaces and k.namespaced
    click.echo(render(objs, k, output, _now(), single=False, with_namespace=with_ns), nl=False)


@click.command("describe")
@click.argument("kind")
@click.argument("names", nargs=-1)
@click.option("-A", "--all-namespaces", is_flag=True, help="Describe across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector (a=b,c!=d).")
@global_options()
def describe_cmd(kind: str, names: tuple[str, ...], all_namespaces: bool, selector: str | None) -> None:
    """Show details of objects (all of a kind when no name is given)."""
    from .describe import describe  # Events and every section's printer: this verb only
    from .events import events_for

    st = state()
    k, wanted = split_refs(kind, names)
    store = st.store()
    models = whole_through_models(k)
    if not wanted:
        namespace = None if all_namespaces else namespace_in(k, st.ns)
        objs = list_dicts(store, k, namespace, selector, models=models)
        if not objs:
            click.echo(_no_resources(k, st, all_namespaces), err=True)
        click.echo("\n\n".join(describe(d, k, events_for(store, d), _now()) for d in objs), nl=False)
        return
    failed = False
    texts: list[str] = []
    for name in wanted:
        try:
            d = get_dict(store, k, namespace_in(k, st.ns), name, models=models)
            texts.append(describe(d, k, events_for(store, d), _now()))
        except NotFound as e:
            click.echo(server_error(e), err=True)
            failed = True
    click.echo("\n\n".join(texts), nl=False)
    if failed:
        raise click.exceptions.Exit(1)


def _get_kinds(st: CliState, kinds: list[str], output: str | None, all_namespaces: bool, selector: str | None) -> None:
    """kubectl's ``get a,b``: one table per kind, or one List holding every object."""
    store = st.store()
    groups: list[tuple[KindName, list[dict[str, Any]]]] = []
    for name in kinds:
        k = resolve_name(name)
        namespace = None if all_namespaces else namespace_in(k, st.ns)
        groups.append((k, list_dicts(store, k, namespace, selector, models=_models(k, output))))
    if output in ("json", "yaml"):
        items = [o for _, objs in groups for o in objs]
        click.echo(render(items, groups[0][0], output, _now(), single=False), nl=False)
        return
    shown = [(k, objs) for k, objs in groups if objs]
    if not shown:
        click.echo(_no_resources(groups[0][0], st, all_namespaces), err=True)
        return
    for i, (k, objs) in enumerate(shown):
        if i:
            click.echo("")
        with_ns = all_namespaces and k.namespaced
        click.echo(
            render(objs, k, output, _now(), single=False, with_namespace=with_ns, with_kind=len(kinds) > 1), nl=False
        )
