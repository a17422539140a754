"""``certkeeper acmesolver``: the program of an HTTP-01 solver Pod (cert-manager's acmesolver).

It answers ``GET /.well-known/acme-challenge/<token>`` with the key for exactly the domain
and token it was started with, ``/`` and ``/healthz`` with 200 for probes, and 404 for
anything else, until SIGTERM. The key authorization is not secret (the ACME server fetches
it over plain HTTP), but it is still never logged.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from .logs import configure_logging


@click.command("acmesolver")
@click.option("--listen-port", type=click.IntRange(1, 65535), default=8089, show_default=True,
              help="Port to answer on (all addresses).")
@click.option("--listen-host", default="", metavar="HOST",
              help="Address to bind (default: every IPv4 address; '::' for IPv6).")
@click.option("--domain", required=True, help="The name being validated (the Host header must name it).")
@click.option("--token", required=True, help="The challenge's token (the last part of the path).")
@click.option("--key", required=True, help="The key authorization to answer with.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def acmesolver_cmd(listen_port: int, listen_host: str, domain: str, token: str, key: str, verbose: int) -> None:
    """Answer one ACME HTTP-01 challenge (what an in-cluster solver Pod runs)."""
    from ..acme.http01 import Http01Responder  # noqa: PLC0415 - keep other verbs' start fast

    configure_logging(verbose)
    log = logging.getLogger("certkeeper.acmesolver")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    host = f"[{listen_host}]" if ":" in listen_host else listen_host
    responder = Http01Responder(f"{host}:{listen_port}")
    try:
        responder.start()
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host or '*'}:{listen_port}: {e}") from None
    responder.present(domain, token, key)
    log.info("answering the HTTP-01 challenge for %s (token %s) on port %d", domain, token, responder.port)
    try:
        stop.wait()
    finally:
        responder.stop()
        log.info("stopped")
