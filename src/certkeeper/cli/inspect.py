"""``certkeeper inspect secret``: what is in a certificate Secret, without the key."""

from __future__ import annotations

import click

from ..api.core import CA_CERT, TLS_CERT, TLS_KEY, Secret
from ..pki.chain import parse_certificates
from ..pki.inspect import describe_certificate_pem
from ..pki.keys import decode_private_key, key_description, public_keys_equal
from ..store import NotFound
from .state import fail, global_options, server_error, state


def _key_lines(secret: Secret) -> list[str]:
    """Type and size of tls.key and whether it matches tls.crt; never the key itself."""
    key_pem = secret.get(TLS_KEY)
    if not key_pem:
        return ["Private Key:", "\tnot present"]
    try:
        key = decode_private_key(key_pem)
    except ValueError as e:
        return ["Private Key:", f"\tcannot be decoded: {e}"]
    algorithm, size = key_description(key)
    lines = ["Private Key:", f"\tType:\t\t{algorithm} {size} bit"]
    cert_pem = secret.get(TLS_CERT)
    if cert_pem:
        try:
            leaf = parse_certificates(cert_pem)[0]
        except (ValueError, IndexError):
            return lines
        matches = public_keys_equal(key, leaf)
        lines.append(f"\tMatches tls.crt:\t{'yes' if matches else 'NO'}")
    return lines


def inspect_secret(secret: Secret) -> str:
    parts: list[str] = []
    cert_pem = secret.get(TLS_CERT)
    if not cert_pem:
        parts.append("No certificate in tls.crt\n")
    else:
        try:
            parts.append(describe_certificate_pem(cert_pem))
        except ValueError as e:
            parts.append(f"error when parsing 'tls.crt': {e}\n")
    ca_pem = secret.get(CA_CERT)
    if ca_pem:
        try:
            parts.append("CA Certificate (ca.crt):\n" + describe_certificate_pem(ca_pem))
        except ValueError as e:
            parts.append(f"error when parsing 'ca.crt': {e}\n")
    parts.append("\n".join(_key_lines(secret)) + "\n")
    return "\n".join(parts)


@click.group("inspect")
@global_options()
def inspect_group() -> None:
    """Decode and describe objects (cmctl inspect)."""


@inspect_group.command("secret")
@click.argument("name")
@global_options()
def inspect_secret_cmd(name: str) -> None:
    """Decode the certificates of a Secret (tls.crt, its chain, ca.crt) and its key type."""
    st = state()
    try:
        secret = st.store().get(Secret, st.ns, name)
    except NotFound as e:
        fail(server_error(e))
    click.echo(inspect_secret(secret), nl=False)
