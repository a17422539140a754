"""Core v1 Secret checks the API server makes (ValidateSecret): data values are base64, keys
are valid config keys, and a ``kubernetes.io/tls`` Secret holds ``tls.crt`` and ``tls.key``.
A bad value refused here never reaches a controller that would choke on it, and a key
such as ``..data`` could never be projected next to the files' own ``..data`` link."""

from __future__ import annotations

import base64
import binascii
import re

from ..core import SECRET_TYPE_TLS, TLS_CERT, TLS_KEY, Secret
from .errors import ErrorType, FieldError, invalid, required, too_long
from .names import DNS1123_SUBDOMAIN_MAX

_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = re.compile(f"^{_CONFIG_KEY_FMT}$")
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    f"or 'KEY_NAME',  or 'key-name', regex used for validation is '{_CONFIG_KEY_FMT}')"
)
#: core.MaxSecretSize
MAX_SECRET_SIZE = 1024 * 1024


def config_key_errors(key: str) -> list[str]:
    """``IsConfigMapKey``: Kubernetes' rule for Secret and ConfigMap data keys."""
    errs: list[str] = []
    if len(key) > DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _CONFIG_KEY.match(key):
        errs.append(_CONFIG_KEY_MSG)
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def validate_secret(secret: Secret) -> list[FieldError]:
    errors: list[FieldError] = []
    total = 0
    for field, values in (("data", secret.data), ("stringData", secret.string_data)):
        for key, value in (values or {}).items():
            path = f"{field}[{key}]"
            errors.extend(invalid(path, key, msg) for msg in config_key_errors(key))
            if field == "data":
                try:
                    total += len(base64.b64decode(value, validate=True))
                except (binascii.Error, ValueError):
                    # the value itself is never printed: it may be key material
                    errors.append(FieldError(path, ErrorType.INVALID, detail="illegal base64 data"))
            else:
                total += len(value.encode())
    if total > MAX_SECRET_SIZE:
        errors.append(too_long("data", "", MAX_SECRET_SIZE))
    if secret.type == SECRET_TYPE_TLS:
        present = set(secret.data or {}) | set(secret.string_data or {})
        errors.extend(required(f"data[{key}]") for key in (TLS_CERT, TLS_KEY) if key not in present)
    return errors
