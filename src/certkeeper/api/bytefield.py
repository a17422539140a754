"""Kubernetes ``[]byte`` fields: base64 on the wire, bytes in the process.

cert-manager declares ``CertificateRequest.spec.request``, ``status.certificate``,
``status.ca`` and the Order's ``request`` and ``certificate`` as ``[]byte``, which Go's
JSON encoding writes as standard base64 (the CRD says ``format: byte``). Every manifest
and every object the API server returns carries them that way, so the model reads and
writes exactly that form, while controllers get the decoded PEM and never handle base64.

Stores written before this type existed hold raw PEM text in those fields. Reading them
with :data:`LEGACY_PEM_CONTEXT` (the store does) accepts that text as the bytes it means;
the admission path never does, because the API server would refuse it.
"""

import base64
import binascii
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

#: pydantic error type of a string that is not base64 (the schema turns it into the
#: API server's ``must be of type byte`` message)
BYTE_FORMAT_ERROR = "byte_format"

#: validation context under which a stored raw PEM string is still read
LEGACY_PEM_CONTEXT: dict[str, bool] = {"legacy_pem": True}

_PEM_START = "-----BEGIN"


def encode_bytes(value: bytes) -> str:
    """How Go's ``encoding/json`` writes a ``[]byte``: standard base64, padded, one line."""
    return base64.b64encode(value).decode("ascii")


def decode_bytes(value: str) -> bytes:
    """How the API server reads a ``format: byte`` string; ValueError if it is not base64."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError(str(e)) from None


def _read(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str):
        return value  # bytes given in the process; anything else fails the bytes check
    context = info.context if isinstance(info.context, dict) else {}
    if context.get("legacy_pem") and value.lstrip().startswith(_PEM_START):
        return value.encode()
    try:
        return decode_bytes(value)
    except ValueError:
        raise PydanticCustomError(BYTE_FORMAT_ERROR, "must be of type byte") from None


#: a ``[]byte`` field: ``bytes`` in Python, base64 text in every serialised form
ByteField = Annotated[
    bytes,
    BeforeValidator(_read),
    PlainSerializer(encode_bytes, return_type=str),
    WithJsonSchema({"type": "string", "format": "byte"}),
]
