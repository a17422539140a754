"""metav1.Time as text: apart from the models, so that a reading command that renders the
stored JSON (an AGE column) does not import pydantic for two functions."""

from __future__ import annotations

import datetime as _dt


def format_time(t: _dt.datetime) -> str:
    """RFC 3339 with whole seconds and a ``Z``, as metav1.Time serialises."""
    return t.astimezone(_dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(_dt.UTC)
