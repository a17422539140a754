"""Name rules shared by the store and the file projection.

The store refuses names the API server would refuse, and the projector refuses any
name that could climb out of its root; both rely on the same DNS-1123 rules, so a
name accepted by one is accepted by the other.
"""

from __future__ import annotations

import re

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"

_LABEL = re.compile(DNS1123_LABEL_FMT)
_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT)
_KEY = re.compile(CONFIG_MAP_KEY_FMT)


def dns1123_label_error(value: str) -> str | None:
    """The API server's message for an invalid DNS-1123 label, or None if valid."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL.fullmatch(value):
        return (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
            f"regex used for validation is '{DNS1123_LABEL_FMT}')"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """The API server's message for an invalid DNS-1123 subdomain, or None if valid."""
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _SUBDOMAIN.fullmatch(value):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
            f"regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
        )
    return None


def secret_key_error(key: str) -> str | None:
    """Secret data keys as Kubernetes validates them, plus the kubelet's own rule that a
    key may not start with ``..`` (those names are reserved for the atomic-swap folders)."""
    if len(key) > 253:
        return "must be no more than 253 characters"
    if not _KEY.fullmatch(key):
        return (
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            f"(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            f"'{CONFIG_MAP_KEY_FMT}')"
        )
    if key in (".", ".."):
        return f"must not be '{key}'"
    if key.startswith(".."):
        return "must not start with '..'"
    return None
