"""``certkeeper webhook``: the admission webhook in the foreground, with cert-manager's flags.

It needs the API server only for what only the API server knows (SubjectAccessReviews for
approvals, the dynamic serving CA's Secret); with static certificate files and no cluster
it still validates and mutates.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from .logs import configure_logging
from .run import _duration
from .state import CliState, fail, global_options, state


@click.command("webhook")
@click.option("--listen-address", default="0.0.0.0", show_default=True,
              help="Address the HTTPS server binds to.")
@click.option("--secure-port", type=click.IntRange(0, 65535), default=6443, show_default=True,
              help="Port of the HTTPS server (/validate, /mutate, /healthz, /livez); 0 picks a free one.")
@click.option("--tls-cert-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Serving certificate (PEM chain), read again whenever it changes.")
@click.option("--tls-private-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Its private key (PEM), read again whenever it changes.")
@click.option("--dynamic-serving-ca-secret-name", default=None, metavar="NAME",
              help="Keep a CA in this Secret and serve a certificate it signs (instead of the files).")
@click.option("--dynamic-serving-ca-secret-namespace", default=None, metavar="NAMESPACE",
              help="Namespace of that Secret.")
@click.option("--dynamic-serving-dns-names", multiple=True, metavar="NAME[,NAME]",
              help="Names (and IP addresses) of the dynamic serving certificate, e.g. the Service's DNS names.")
@click.option("--dynamic-serving-leaf-duration", default="168h", show_default=True, callback=_duration,
              help="Lifetime of the dynamic serving certificate; it is signed again after two thirds.")
@click.option("--kube-api-qps", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Requests per second to the Kubernetes API (0: no limit).")
@click.option("--kube-api-burst", type=click.IntRange(min=1), default=50, show_default=True)
@global_options()
def webhook_cmd(**flags: Any) -> None:
    """Serve cert-manager's admission webhook until SIGTERM or SIGINT."""
    st = state()
    configure_logging(st.verbose)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _serve(st, stop, flags)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _client(st: CliState, qps: float, burst: int) -> Any:
    """A client of the cluster, or None when none is configured."""
    from ..store.kube import ConfigError, KubeClient, load_config

    if not st.on_cluster():
        return None
    try:
        return KubeClient(load_config(st.kubeconfig, st.context), qps=qps, burst=burst)
    except ConfigError as e:
        fail(f"error: {e}")


def _serve(st: CliState, stop: threading.Event, flags: dict[str, Any]) -> None:
    from ..store.base import StoreError
    from ..webhook.admission import Admitter
    from ..webhook.approval import SubjectAccessReviewer
    from ..webhook.server import WebhookServer
    from ..webhook.tls import CertificateSource, FileCertificate

    log = logging.getLogger("certkeeper.webhook")
    cert_file, key_file = flags["tls_cert_file"], flags["tls_private_key_file"]
    ca_name, ca_namespace = flags["dynamic_serving_ca_secret_name"], flags["dynamic_serving_ca_secret_namespace"]
    dns_names = [n.strip() for v in flags["dynamic_serving_dns_names"] for n in v.split(",") if n.strip()]
    if (cert_file is None) != (key_file is None):
        raise click.UsageError("--tls-cert-file and --tls-private-key-file go together")
    if cert_file is not None and ca_name:
        raise click.UsageError("either --tls-cert-file/--tls-private-key-file or --dynamic-serving-ca-secret-name")
    if cert_file is None and not ca_name:
        raise click.UsageError("a serving certificate is needed: --tls-cert-file and --tls-private-key-file, "
                               "or --dynamic-serving-ca-secret-name")
    if ca_name and (not ca_namespace or not dns_names):
        raise click.UsageError("--dynamic-serving-ca-secret-name needs --dynamic-serving-ca-secret-namespace "
                               "and --dynamic-serving-dns-names")
    client = _client(st, flags["kube_api_qps"], flags["kube_api_burst"])
    certificates: CertificateSource
    if ca_name:
        from ..webhook.dynamic import DynamicServing

        if client is None:
            fail("error: the dynamic serving CA lives in a Secret: --kubeconfig, KUBECONFIG or a Pod's service "
                 "account is needed")
        dynamic = DynamicServing(client, ca_namespace, ca_name, dns_names,
                                 leaf_duration=flags["dynamic_serving_leaf_duration"])
        try:
            dynamic.refresh()
        except StoreError as e:
            fail(f"error: cannot set up the serving CA in Secret {ca_namespace}/{ca_name}: {e}")
        threading.Thread(target=dynamic.run, args=(stop,), name="dynamic-serving", daemon=True).start()
        certificates = dynamic
    else:
        try:
            certificates = FileCertificate(cert_file, key_file)
        except (OSError, ValueError) as e:
            fail(f"error: cannot load the serving certificate: {e}")
    authorizer = SubjectAccessReviewer(client) if client is not None else None
    if authorizer is None:
        log.warning("no cluster configured: approvals of CertificateRequests will be refused")
    server = WebhookServer((flags["listen_address"], flags["secure_port"]), certificates, Admitter(authorizer))
    thread = threading.Thread(target=server.serve_forever, name="webhook-https", daemon=True)
    thread.start()
    log.info("serving the admission webhook on https://%s:%d", flags["listen_address"], server.port)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        if client is not None:
            client.close()
        log.info("stopped")
