"""The ``certkeeper`` command: kubectl's verbs over the store, cmctl's verbs, and ``run``."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..store import StoreError
from .acmesolver import acmesolver_cmd
from .apply import apply_cmd, delete_cmd
from .cainjector import cainjector_cmd
from .check import check_group
from .cmctl import approve_cmd, deny_cmd, renew_cmd
from .create import create_group
from .get import describe_cmd, get_cmd
from .inspect import inspect_group
from .run import run_cmd
from .state import CliState, global_options, server_error
from .status import status_group
from .wait import wait_cmd
from .webhook import webhook_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (
    run_cmd, apply_cmd, get_cmd, describe_cmd, delete_cmd, wait_cmd,
    status_group, renew_cmd, approve_cmd, deny_cmd, inspect_group, webhook_cmd, cainjector_cmd,
):
    cli.add_command(command)
# the program of an HTTP-01 solver Pod, and cmctl's create and check
for command in (acmesolver_cmd, create_group, check_group):
    cli.add_command(command)


def main() -> None:
    """The console script. A store error no verb expected (a locked or corrupt file, a
    conflict that outlived the retries) ends with kubectl's one-line message, not a traceback."""
    try:
        cli(prog_name="certkeeper")
    except StoreError as e:
        click.echo(server_error(e), err=True)
        sys.exit(1)
