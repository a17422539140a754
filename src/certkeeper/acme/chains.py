"""preferredChain selection (spec §4.8): pick the chain whose top-most certificate was
issued by a CA with the wanted common name, else keep the server's default."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID


def top_issuer_common_name(chain_pem: str) -> str | None:
    """Issuer CN of the last certificate in a PEM chain (the one closest to a root)."""
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        return None
    if not certs:
        return None
    names = certs[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def choose_chain(
    default_chain: str, alternate_urls: Iterable[str], fetch: Callable[[str], str], preferred: str | None
) -> str:
    """Default chain if it matches or nothing is preferred; else the first matching
    alternate, fetched lazily in server order; no match ⇒ default."""
    if not preferred or top_issuer_common_name(default_chain) == preferred:
        return default_chain
    for url in alternate_urls:
        chain = fetch(url)
        if top_issuer_common_name(chain) == preferred:
            return chain
    return default_chain
