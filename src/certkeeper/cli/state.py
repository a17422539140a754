"""What every verb shares: the global options, the opened store and kubectl-style errors.

kubectl accepts ``-n`` and friends before or after the verb; click only knows options
where they are declared, so the same options are declared on the group and on every
verb, and both write into one ``CliState`` (the later, more specific one wins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..api import registry
from ..api.meta import Resource
from ..store import NotFound, Store, StoreError, default_store_path, open_store
from ..store.base import AlreadyExists, Conflict, Invalid
from ..store.sqlite import resource_name
from .logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESPACE = "default"


@dataclasses.dataclass
class CliState:
    store_url: str | None = None
    namespace: str | None = None
    verbose: int = 0
    #: a store given by the caller (an embedding program, a test) is used and left open
    _store: Store | None = None
    _owns_store: bool = False

    @property
    def ns(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    def store(self) -> Store:
        """Opened on first use, so that ``version`` or ``--help`` never create a file."""
        if self._store is None:
            url = self.store_url or str(default_store_path())
            try:
                self._store = open_store(url)
                self._owns_store = True
            except (ValueError, OSError) as e:
                fail(f"cannot open store {url}: {e}")
        return self._store

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None


def state() -> CliState:
    return click.get_current_context().ensure_object(CliState)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value == 0:
            return
        st = ctx.ensure_object(CliState)
        if attr == "verbose":
            st.verbose = max(st.verbose, int(value))
            configure_logging(st.verbose)
        else:
            setattr(st, attr, value)

    return callback


def global_options(envvar: bool = False) -> Callable[[F], F]:
    """``--store``, ``-n`` and ``-v``. Only the group reads ``CERTKEEPER_STORE``: if every
    verb did, the environment would override a ``--store`` written before the verb."""

    def decorate(f: F) -> F:
        f = click.option(
            "-v", "--verbose", count=True, expose_value=False, callback=_setter("verbose"),
            help="More log output (repeatable).",
        )(f)
        f = click.option(
            "-n", "--namespace", default=None, expose_value=False, callback=_setter("namespace"),
            metavar="NAMESPACE", help="The namespace (default: default).",
        )(f)
        f = click.option(
            "--store", default=None, expose_value=False, callback=_setter("store_url"),
            envvar="CERTKEEPER_STORE" if envvar else None, metavar="URL",
            help="The store: sqlite:///path or a file path (env CERTKEEPER_STORE).",
        )(f)
        return f

    return decorate


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    raise click.exceptions.Exit(code)


def server_error(e: StoreError) -> str:
    """How kubectl renders an API error: ``Error from server (NotFound): ...``."""
    reason = {
        NotFound: "NotFound",
        AlreadyExists: "AlreadyExists",
        Conflict: "Conflict",
        Invalid: "Invalid",
    }.get(type(e), "InternalError")
    return f"Error from server ({reason}): {e}"


def resolve_kind(name: str) -> type[Resource]:
    cls = registry.lookup(name)
    if cls is None:
        fail(f'error: the server doesn\'t have a resource type "{name}"')
    return cls


def namespace_for(cls: type[Resource], namespace: str) -> str | None:
    return namespace if cls.NAMESPACED else None


def qualified(cls: type[Resource]) -> str:
    """``certificate.cert-manager.io`` (singular): how kubectl names a kind in results."""
    group = cls.API_VERSION.rpartition("/")[0]
    singular = cls.KIND.lower()
    return f"{singular}.{group}" if group else singular


def object_ref(obj: Resource) -> str:
    """``certificate.cert-manager.io/foo`` (``-o name`` and apply results)."""
    return f"{qualified(type(obj))}/{obj.name}"


def plural_ref(cls: type[Resource]) -> str:
    return resource_name(cls)

