"""Go ``time.Duration`` text, because every duration field in the API uses that syntax.

Manifests written for cert-manager carry values such as ``2160h`` or ``1h30m``; the
status and messages print durations the way Go's ``Duration.String`` does, so both
directions are reproduced here instead of using ISO 8601.
"""

from __future__ import annotations

import datetime as _dt
import re

# Nanoseconds per unit, as in Go's time package.
_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}

_COMPONENT = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_MAX_NS = (1 << 63) - 1


def parse_duration(s: str) -> _dt.timedelta:
    """Parse Go duration syntax; sub-microsecond precision is truncated (timedelta limit)."""
    ns = _parse_ns(s)
    return _dt.timedelta(microseconds=ns // 1000) if ns >= 0 else -_dt.timedelta(microseconds=(-ns) // 1000)


def _parse_ns(s: str) -> int:
    if not isinstance(s, str):
        raise ValueError(f"time: invalid duration {s!r}")
    orig = s
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    pos = 0
    while pos < len(s):
        m = _COMPONENT.match(s, pos)
        if m is None:
            if re.match(r"\d*(\.\d*)?$", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}" (units are ns, us, ms, s, m, h)')
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            # Go rejects ".s" and "s" alike: a number is required before the unit
            raise ValueError(f'time: invalid duration "{orig}"')
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > _MAX_NS + (1 if neg else 0):
            raise ValueError(f'time: invalid duration "{orig}" (overflows 2562047h47m16.854775807s)')
        pos = m.end()
    return -total if neg else total


def _fmt_frac(v: int, prec: int) -> str:
    """Integer ``v`` scaled down by 10**prec, trailing zeros (and a bare dot) dropped."""
    whole, frac = divmod(v, 10**prec)
    frac_s = f"{frac:0{prec}d}".rstrip("0") if prec else ""
    return f"{whole}.{frac_s}" if frac_s else str(whole)


def format_duration(td: _dt.timedelta) -> str:
    """Go's ``Duration.String``: ``2160h0m0s``, ``1m30s``, ``1.5s``, ``300ms``, ``0s``."""
    ns = (td.days * 86_400 + td.seconds) * 1_000_000_000 + td.microseconds * 1000
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u == 0:
        return "0s"
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return f"{sign}{_fmt_frac(u, 3)}µs"
        return f"{sign}{_fmt_frac(u, 6)}ms"
    hours, rem = divmod(u, 3600 * 1_000_000_000)
    minutes, rem = divmod(rem, 60 * 1_000_000_000)
    secs = _fmt_frac(rem, 9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return f"{sign}{secs}"
