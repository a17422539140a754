"""``certkeeper create certificaterequest``: cmctl's way to get a certificate without a
Certificate object — a request built from a Certificate manifest used as a template, its
private key written to a file here (never stored), and with ``--fetch-certificate`` the
signed certificate written beside it.

The key file is written (and refused if it exists) before the request is created, and
removed again if the request cannot be created: a request is never left whose key is lost.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..api import constants as c
from ..api.certificate import Certificate, CertificateRequest, CertificateRequestSpec
from ..api.loader import load_documents
from ..api.meta import ObjectMeta, Resource, get_condition
from ..pki.durations import parse_duration
from ..pki.errors import PKIError
from ..store import StoreError
from .state import fail, global_options, server_error, state
from .wait import wait_for

DEFAULT_TIMEOUT = "5m"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _template(path: str, namespace: str | None) -> Certificate:
    try:
        text = Path(path).read_text()
    except OSError as e:
        fail(f"error: cannot read {path}: {e.strerror}")
    result = load_documents(text, path, namespace)
    if result.errors:
        fail("error: " + "\n".join(result.errors))
    certs = [o for o in result.objects if isinstance(o, Certificate)]
    if len(result.objects) != 1 or len(certs) != 1:
        fail(f"error: {path} must hold exactly one Certificate, found {len(result.objects)} object(s)")
    return certs[0]


@click.group("create")
def create_group() -> None:
    """Create cert-manager resources (cmctl's create)."""


@create_group.command("certificaterequest")
@click.argument("name")
@click.option("--from-certificate-file", "cert_file", required=True, metavar="FILE",
              help="A YAML file holding a Certificate, the template of the request.")
@click.option("--output-key-file", default=None, metavar="FILE",
              help="Where the new private key is written (default NAME.key; never overwritten).")
@click.option("--fetch-certificate", is_flag=True, help="Wait until the request is signed and write the certificate.")
@click.option("--output-certificate-file", default=None, metavar="FILE",
              help="Where the certificate is written with --fetch-certificate (default NAME.crt).")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True,
              help="How long --fetch-certificate waits (Go duration).")
@global_options()
def create_certificaterequest_cmd(
    name: str, cert_file: str, output_key_file: str | None, fetch_certificate: bool,
    output_certificate_file: str | None, timeout: str,
) -> None:
    """Create a CertificateRequest from a Certificate manifest; the key stays in a local file."""
    from ..pki.csr import build_csr  # noqa: PLC0415 - crypto only for this verb
    from ..pki.keys import encode_private_key, generate_private_key  # noqa: PLC0415

    st = state()
    if output_certificate_file and not fetch_certificate:
        fail("error: cannot specify output certificate file without specifying the flag --fetch-certificate")
    try:
        limit = parse_duration(timeout).total_seconds()
    except ValueError as e:
        fail(f"error: invalid --timeout {timeout!r}: {e}")
    cert = _template(cert_file, None)
    namespace = st.ns
    if cert.namespace and st.namespace and cert.namespace != st.namespace:
        fail(f'error: the namespace from the provided object "{cert.namespace}" does not match '
             f'the namespace "{st.namespace}". You must pass \'--namespace={cert.namespace}\' to perform this operation.')
    namespace = cert.namespace or namespace
    key_path = Path(output_key_file or f"{name}.key")
    crt_path = Path(output_certificate_file or f"{name}.crt")
    if fetch_certificate and crt_path.exists():
        fail(f"error: {crt_path} exists; not overwriting it")
    try:
        key = generate_private_key(cert.spec.private_key)
        key_pem = encode_private_key(key, cert.spec.private_key.encoding if cert.spec.private_key else None)
        csr = build_csr(cert.spec, key)
    except (PKIError, ValueError) as e:
        fail(f"error: cannot build a request from {cert_file}: {e}")
    try:
        _write_new(key_path, key_pem, 0o600)
    except FileExistsError:
        fail(f"error: {key_path} exists; not overwriting a private key")
    except OSError as e:
        fail(f"error: cannot write the private key to {key_path}: {e.strerror}")
    annotations = {k: v for k, v in cert.annotations().items() if not k.startswith("kubectl.kubernetes.io/")}
    cr = CertificateRequest(
        api_version=CertificateRequest.API_VERSION, kind=CertificateRequest.KIND,
        metadata=ObjectMeta(name=name, namespace=namespace, annotations=annotations or None,
                            labels=dict(cert.labels()) or None),
        spec=CertificateRequestSpec(
            duration=cert.spec.duration, issuer_ref=cert.spec.issuer_ref, request=csr, is_ca=cert.spec.is_ca,
            usages=list(cert.spec.usages) if cert.spec.usages is not None else None,
        ),
    )
    store = st.store()
    try:
        store.create(cr)
    except StoreError as e:
        key_path.unlink(missing_ok=True)  # no request: the key is of no use to anyone
        fail(server_error(e))
    click.echo(f"CertificateRequest {name} has been created in namespace {namespace}")
    click.echo(f"Private key written to file {key_path}")
    if not fetch_certificate:
        return
    click.echo(f"CertificateRequest {name} in namespace {namespace} has not been signed yet. Wait until it is signed...")
    if not wait_for(store, CertificateRequest, namespace, name, _finished, limit):
        fail(f"error: timed out after {timeout} waiting for CertificateRequest {namespace}/{name} to be signed")
    done = store.get(CertificateRequest, namespace, name)
    if done.status is None or not done.status.certificate:
        why = _failure(done)
        fail(f"error: CertificateRequest {namespace}/{name} was not signed: {why}")
    try:
        _write_new(crt_path, done.status.certificate, 0o644)
    except OSError as e:
        fail(f"error: cannot write the certificate to {crt_path}: {e.strerror}")
    click.echo(f"CertificateRequest {name} in namespace {namespace} has been signed")
    click.echo(f"Certificate written to file {crt_path}")


def _finished(obj: Resource | None) -> bool:
    if not isinstance(obj, CertificateRequest) or obj.status is None:
        return False
    conds = obj.status.conditions
    ready = get_condition(conds, c.COND_READY)
    if ready is not None and (ready.status == "True" or ready.reason in (c.CR_FAILED, c.CR_DENIED)):
        return True
    denied = get_condition(conds, c.COND_DENIED)
    return denied is not None and denied.status == "True"


def _failure(cr: CertificateRequest) -> str:
    conds = cr.status.conditions if cr.status else None
    for ctype in (c.COND_DENIED, c.COND_READY):
        cond = get_condition(conds, ctype)
        if cond is not None and cond.status != "Unknown":
            return f"{cond.reason}: {cond.message}"
    return "no certificate"
