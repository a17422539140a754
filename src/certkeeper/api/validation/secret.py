"""Core v1 Secret checks the API server makes: data values are base64, keys are valid
Secret keys. A bad value refused here never reaches a controller that would choke on it."""

from __future__ import annotations

import base64
import binascii
import re

from ..core import Secret
from .errors import ErrorType, FieldError

_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def validate_secret(secret: Secret) -> list[FieldError]:
    errors: list[FieldError] = []
    for field, values in (("data", secret.data), ("stringData", secret.string_data)):
        for key, value in (values or {}).items():
            path = f"{field}[{key}]"
            if not _KEY.match(key) or key in (".", ".."):
                errors.append(FieldError(path, ErrorType.INVALID, key,
                                         "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            if field == "data":
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    # the value itself is never printed: it may be key material
                    errors.append(FieldError(path, ErrorType.INVALID, detail="illegal base64 data"))
    return errors
