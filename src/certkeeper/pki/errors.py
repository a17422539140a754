"""The one exception type the pki package raises for bad input data."""

from __future__ import annotations


class PKIError(ValueError):
    """Bad or inconsistent key, CSR or certificate data.

    A ValueError subclass so callers that only care about "the input was wrong" can catch
    ValueError; controllers turn the message into a condition or event, so messages must
    be readable by a person and must never contain key material.
    """
