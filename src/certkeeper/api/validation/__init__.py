"""Admission checks for every kind, as the API server plus cert-manager's webhook apply them.

certkeeper has no API server when it runs on a host, so whatever writes objects (the CLI,
the loader, the store's callers) calls :func:`validate` first and refuses the object if it
returns anything. The result is a list of :class:`FieldError`, whose ``str()`` is the
line ``kubectl`` would print.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ErrorType, FieldError

if TYPE_CHECKING:
    from .checks import validate, validate_update, warnings

__all__ = ["ErrorType", "FieldError", "validate", "validate_update", "warnings"]


def __getattr__(name: str) -> Any:
    """The checklists import every kind's models; a caller that only needs the error type
    or the name rules (``certkeeper get -l``) does not pay for them."""
    if name in ("validate", "validate_update", "warnings"):
        from . import checks

        return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
