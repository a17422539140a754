"""What every verb shares: the global options, the opened store and kubectl-style errors.

kubectl accepts ``-n`` and friends before or after the verb; click only knows options
where they are declared, so the same options are declared on the group and on every
verb, and both write into one ``CliState`` (the later, more specific one wins).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..api import registry
from ..pki.durations import parse_duration
from ..store import NotFound, Store, StoreError, default_store_path, open_store
from ..store.base import AlreadyExists, Conflict, Forbidden, Invalid
from ..store.errors import StoreBroken, StoreMissing, StoreUnavailable
from .logs import configure_logging

if TYPE_CHECKING:  # the models are imported by the verbs that read objects, not by ``--help``
    from ..api.meta import Resource

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESPACE = "default"
#: how long a store call waits for another process's lock unless --request-timeout says
DEFAULT_REQUEST_TIMEOUT = 30.0


@dataclasses.dataclass
class CliState:
    store_url: str | None = None
    namespace: str | None = None
    verbose: int = 0
    #: seconds a store call waits for the lock; 0 waits without end (kubectl's meaning)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: kubectl's --kubeconfig and --context: the store is that cluster's API server
    kubeconfig: str | None = None
    context: str | None = None
    #: how ``run`` wants a cluster store opened (caches, rate limits, where its Lease is)
    cluster_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: a store given by the caller (an embedding program, a test) is used and left open
    _store: Store | None = None
    _owns_store: bool = False

    def on_cluster(self) -> bool:
        """A Kubernetes cluster, or the host store? ``--kubeconfig`` or ``--context``, a
        store URL ``kubernetes`` (kubectl's configuration), ``KUBECONFIG`` without a
        ``--store``/``CERTKEEPER_STORE``, or a Pod's service account choose the cluster."""
        if self.kubeconfig or self.context:
            return True
        if self.store_url is not None:
            return self.store_url in ("kubernetes", "kube", "kubernetes://")
        if os.environ.get("KUBECONFIG"):
            return True
        from ..store.kube.config import in_cluster_config

        return in_cluster_config() is not None

    def _open_cluster(self) -> Store:
        from ..store.kube import ConfigError, open_kube_store

        try:
            return open_kube_store(self.kubeconfig, self.context, **self.cluster_options)
        except ConfigError as e:
            fail(f"error: {e}")

    @property
    def ns(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    def store(self, create: bool = False) -> Store:
        """Opened on first use, so that ``version`` or ``--help`` never touch it. Only the
        verbs that write what a person gives them (``apply``, ``run``) create a missing
        store; every other verb names the path it looked at, so a mistyped
        ``CERTKEEPER_STORE`` is an error, not a new empty store."""
        if self._store is None and self.on_cluster():
            self._store = self._open_cluster()
            self._owns_store = True
        if self._store is None:
            default = self.store_url is None
            url = self.store_url or str(default_store_path())
            try:
                self._store = open_store(url, create=create, make_folder=default, timeout=self.request_timeout)
                self._owns_store = True
            except ValueError as e:
                fail(f"error: {e}")
            except StoreMissing as e:
                fail(f"error: {e} (check --store or CERTKEEPER_STORE; apply and run create one)")
            except StoreError as e:
                fail(f"error: {e}")
        return self._store

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None


def state() -> CliState:
    return click.get_current_context().ensure_object(CliState)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value == 0:
            return
        st = ctx.ensure_object(CliState)
        if attr == "verbose":
            st.verbose = max(st.verbose, int(value))
            configure_logging(st.verbose)
        elif attr == "request_timeout":
            st.request_timeout = _timeout(ctx, param, value)
        else:
            setattr(st, attr, value)

    return callback


def _timeout(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """kubectl's ``--request-timeout``: a bare number is seconds, else a Go duration."""
    try:
        return float(value) if value.isdigit() else parse_duration(value).total_seconds()
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


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
            "--request-timeout", default=None, expose_value=False, callback=_setter("request_timeout"),
            metavar="DURATION",
            help="How long a store call waits for another process's lock, e.g. 30s or 2m; 0 waits "
                 f"without end (default {DEFAULT_REQUEST_TIMEOUT:g}s).",
        )(f)
        f = click.option(
            "--context", default=None, expose_value=False, callback=_setter("context"),
            metavar="NAME", help="The kubeconfig context to use (the store is then that cluster).",
        )(f)
        f = click.option(
            "--kubeconfig", default=None, expose_value=False, callback=_setter("kubeconfig"),
            metavar="PATH", help="A kubeconfig file: work on that Kubernetes cluster instead of the host store.",
        )(f)
        f = click.option(
            "--store", default=None, expose_value=False, callback=_setter("store_url"),
            envvar="CERTKEEPER_STORE" if envvar else None, metavar="URL",
            help="The store: sqlite:///path or a file path, or 'kubernetes' for kubectl's cluster "
                 "(env CERTKEEPER_STORE).",
        )(f)
        return f

    return decorate


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    raise click.exceptions.Exit(code)


def server_error(e: StoreError) -> str:
    """How kubectl renders an API error: ``Error from server (NotFound): ...``. A store
    that cannot be used at all is like a server that cannot be reached: ``error: ...``."""
    if isinstance(e, (StoreUnavailable, StoreBroken)):
        return f"error: {e}"
    reason = {
        NotFound: "NotFound",
        AlreadyExists: "AlreadyExists",
        Conflict: "Conflict",
        Invalid: "Invalid",
        Forbidden: "Forbidden",
    }.get(type(e), "InternalError")
    return f"Error from server ({reason}): {e}"


def resolve_name(name: str) -> registry.KindName:
    """The kind a user typed, without importing its models."""
    k = registry.find(name)
    if k is None:
        fail(f'error: the server doesn\'t have a resource type "{name}"')
    return k


def resolve_kind(name: str) -> type[Resource]:
    return resolve_name(name).load()


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
    from ..store.sqlite import resource_name

    return resource_name(cls)

