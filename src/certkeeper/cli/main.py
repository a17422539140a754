"""The ``certkeeper`` command: kubectl's verbs over the store, cmctl's verbs, and ``run``.

Each verb lives in a module of its own that is imported only when that verb runs (click's
lazy group pattern): ``get`` needs neither the daemon, nor the ACME client, nor the
webhook, and a command-line call should not pay for them.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click
from click.formatting import HelpFormatter

from .. import __version__
from .state import CliState, global_options


class Verb:
    """Where a verb's command lives, and the first paragraph of its help, so that
    ``certkeeper --help`` lists every verb without importing any
    (``tests/test_cli_startup.py`` checks each summary against the command's own)."""

    def __init__(self, target: str, summary: str) -> None:
        self.module, _, self.attr = target.partition(":")
        self.summary = summary

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module, __package__), self.attr)
        assert isinstance(command, click.Command)
        return command


#: verb name -> its command; the HTTP-01 solver Pod's program, and cmctl's verbs, among them
VERBS: dict[str, Verb] = {
    "acmesolver": Verb(".acmesolver:acmesolver_cmd",
                       "Answer one ACME HTTP-01 challenge (what an in-cluster solver Pod runs)."),
    "apply": Verb(".apply:apply_cmd",
                  "Create or update objects from manifests: all of them, or none if any is invalid."),
    "approve": Verb(".cmctl:approve_cmd",
                    "Approve a CertificateRequest (refused if already approved or denied)."),
    "cainjector": Verb(".cainjector:cainjector_cmd",
                       "Inject CA bundles into webhook configurations, CRDs and APIServices until SIGTERM."),
    "check": Verb(".check:check_group", "Check the readiness of cert-manager's API (cmctl's check)."),
    "create": Verb(".create:create_group", "Create cert-manager resources (cmctl's create)."),
    "delete": Verb(".apply:delete_cmd", "Delete objects by kind and names, or those in manifests."),
    "deny": Verb(".cmctl:deny_cmd", "Deny a CertificateRequest (refused if already approved or denied)."),
    "describe": Verb(".get:describe_cmd", "Show details of objects (all of a kind when no name is given)."),
    "get": Verb(".get:get_cmd", "Display one or many objects (several kinds at once: ``get certs,issuers``)."),
    "inspect": Verb(".inspect:inspect_group", "Decode and describe objects (cmctl inspect)."),
    "renew": Verb(".cmctl:renew_cmd",
                  "Mark Certificates for manual renewal (Issuing=True, bypassing the failure back-off)."),
    "run": Verb(".run:run_cmd", "Run the controllers in the foreground until SIGTERM or SIGINT."),
    "status": Verb(".status:status_group", "Aggregated status of an object (cmctl status)."),
    "wait": Verb(".wait:wait_cmd",
                 "Wait for a condition on one or more objects (KIND/NAME, KIND NAME..., or KIND --all)."),
    "webhook": Verb(".webhook:webhook_cmd", "Serve cert-manager's admission webhook until SIGTERM or SIGINT."),
}


#: verbs that only read the store: once they have printed, the process may end at once
READERS = frozenset({"get", "describe", "status", "wait", "inspect", "version"})


class LazyGroup(click.Group):
    """A group whose verbs are imported on first use (click's documented lazy loading)."""

    def __init__(self, *args: object, verbs: dict[str, Verb], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.verbs = verbs
        #: the verb of this call, once resolved
        self.called: str | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.verbs})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.called = cmd_name
        if cmd_name not in self.commands and cmd_name in self.verbs:
            self.add_command(self.verbs[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: HelpFormatter) -> None:
        """click's listing, from the summaries: the same text, without importing every verb."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                # a bare command with the same help shortens it as the real one would
                rows.append((name, click.Command(name, help=self.verbs[name].summary).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@global_options(envvar=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Keep X.509 certificates issued and renewed, with cert-manager's resources."""
    st = ctx.ensure_object(CliState)
    ctx.call_on_close(st.close)


@cli.command("version")
@global_options()
def version_cmd() -> None:
    """Print the version."""
    click.echo(f"certkeeper version {__version__}")


def exit_now(code: int | None) -> None:
    """End a reading verb's process without the interpreter's teardown, which frees every
    module and model one by one: a fifth of a ``get``. What an exit must still do is done
    first: the atexit functions (logging's flush) and the standard streams flushed; the
    store was closed with the verb's context. With another thread still running, or a
    stream that cannot be flushed (a closed pipe), the ordinary exit decides."""
    if threading.active_count() > 1:
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return
    os._exit(code or 0)


def main() -> None:
    """The console script. A store error no verb expected (a locked or corrupt file, a
    conflict that outlived the retries) ends with kubectl's one-line message, not a traceback."""
    from ..store.base import StoreError

    try:
        try:
            cli(prog_name="certkeeper")
        except StoreError as e:
            from .state import server_error

            click.echo(server_error(e), err=True)
            sys.exit(1)
    except SystemExit as e:
        if cli.called in READERS and (e.code is None or isinstance(e.code, int)):
            exit_now(e.code)
        raise
