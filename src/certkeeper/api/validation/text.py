"""What a name that ends up in a certificate, a file name or a log line may contain.

Go's x509 signs almost any string it is given (a DNS name is only checked to be IA5, so
``x\\x00y`` is signed and ``bücher.example`` fails only when the CSR is built, after
``apply`` said yes). These rules refuse such values at admission, with the field path,
so that a control character never reaches a certificate or forges a log line, and a
name that can never be issued is refused before anything is stored.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import FieldError, invalid

# printable ASCII without space: what an IA5String dNSName can carry and a resolver can
# look up. Other syntax is left to the issuer, as cert-manager's webhook does (templated
# manifests such as ``www.$DOMAIN_NAME`` are accepted as written).
_DNS_NAME = re.compile(r"^[\x21-\x7e]+$")
_DNS_NAME_MSG = (
    "a DNS name must not contain spaces or control characters (e.g. 'example.com' or '*.example.com')"
)
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# RFC 3986 characters; anything else must be percent-encoded
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
CONTROL_MSG = "must not contain control characters"


def has_control(value: str) -> bool:
    """C0, DEL and C1 characters: newlines, NUL, escape sequences ..."""
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def check_control(value: str | None, path: str) -> list[FieldError]:
    if value is None or not has_control(value):
        return []
    return [invalid(path, value, CONTROL_MSG)]


def check_control_list(values: list[str] | None, path: str) -> list[FieldError]:
    return [e for i, v in enumerate(values or []) for e in check_control(v, f"{path}[{i}]")]


def _a_label_form(name: str) -> str | None:
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def dns_name_error(name: str) -> str | None:
    """Why ``name`` cannot be a dNSName SAN, or None."""
    if not name:
        return "must not be empty"
    if not name.isascii() and not has_control(name) and " " not in name:
        suggestion = _a_label_form(name)
        msg = "non-ASCII DNS names must be given in their ASCII (punycode) form"
        return f'{msg}: "{suggestion}"' if suggestion else msg
    if not _DNS_NAME.match(name):
        return _DNS_NAME_MSG
    return None


def uri_error(uri: str) -> str | None:
    """Why ``uri`` cannot be a uniformResourceIdentifier SAN (an absolute RFC 3986 URI)."""
    if uri.startswith(":") or not uri:
        return f'parse "{uri}": missing protocol scheme'
    if not _URI_CHARS.match(uri):
        return (
            "must not contain spaces, control or non-ASCII characters, or other characters "
            "RFC 3986 does not allow (percent-encode them)"
        )
    if not _URI_SCHEME.match(uri):
        return "must be an absolute URI with a scheme (e.g. spiffe://cluster.local/ns/default/sa/app)"
    return None
