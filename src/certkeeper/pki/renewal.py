"""When to renew (§2.2.2) and how renewal windows move that time (§2.2.3)."""

from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from certkeeper.api.certificate import CertificateSpec, RenewalWindow

from .durations import parse_duration
from .errors import PKIError

POLICY_RENEW_BEFORE = "RenewBefore"
POLICY_DISABLED = "Disabled"


def _policy(spec: CertificateSpec) -> str:
    return (spec.renewal.policy if spec.renewal else None) or POLICY_RENEW_BEFORE


def renewal_time(
    not_before: _dt.datetime, not_after: _dt.datetime, spec: CertificateSpec
) -> _dt.datetime | None:
    """notAfter minus renewBefore (explicit, percentage, or a third of the *issued* lifetime).

    An explicit renewBefore that is not shorter than the issued lifetime is ignored
    silently, as in cert-manager. Truncated to whole seconds because the status field
    holds whole seconds and the trigger compares against it.
    """
    policy = _policy(spec)
    if policy == POLICY_DISABLED:
        return None
    if policy != POLICY_RENEW_BEFORE:
        raise PKIError(f"unknown renewal policy {policy!r}")
    lifetime = not_after - not_before
    renew_before: _dt.timedelta | None = None
    if spec.renew_before:
        try:
            explicit = parse_duration(spec.renew_before)
        except ValueError as e:
            raise PKIError(f"invalid renewBefore: {e}") from None
        if _dt.timedelta(0) < explicit < lifetime:
            renew_before = explicit
    pct = spec.renew_before_percentage
    if renew_before is None and pct is not None and 0 < pct < 100:
        renew_before = lifetime * pct / 100
    if renew_before is None:
        renew_before = lifetime / 3
    return _truncate(not_after - renew_before)


def _truncate(t: _dt.datetime) -> _dt.datetime:
    return t.replace(microsecond=0)


# --- renewal windows --------------------------------------------------------------

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def _parse_field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> tuple[set[int], bool]:
    """One cron field -> (allowed values, whether it was ``*``/``?``-like unrestricted)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            if not step_s.isdigit() or int(step_s) == 0:
                raise PKIError(f"invalid cron step in {text!r}")
            step = int(step_s)
        if part in ("*", "?"):
            start, end = lo, hi
            star = star or step == 1
        else:
            bounds = part.split("-", 1)
            nums = [names[b.lower()] if names and b.lower() in names else _int(b, text) for b in bounds]
            start = nums[0]
            end = nums[1] if len(nums) == 2 else (hi if step > 1 else start)
        if not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise PKIError(f"cron value out of range in {text!r}")
        values.update(range(start, end + 1, step))
    return values, star


def _int(s: str, field: str) -> int:
    if not s.isdigit():
        raise PKIError(f"invalid cron field {field!r}")
    return int(s)


class CronSchedule:
    """A standard 5-field cron expression (minute hour dom month dow) or an @descriptor."""

    def __init__(self, expr: str) -> None:
        text = _DESCRIPTORS.get(expr.strip(), expr.strip())
        fields = text.split()
        if len(fields) != 5:
            raise PKIError(f"expected exactly 5 fields in cron expression {expr!r}, found {len(fields)}")
        self.minutes, _ = _parse_field(fields[0], 0, 59)
        self.hours, _ = _parse_field(fields[1], 0, 23)
        self.dom, self.dom_star = _parse_field(fields[2], 1, 31)
        self.months, _ = _parse_field(fields[3], 1, 12, _MONTHS)
        dow, self.dow_star = _parse_field(fields[4], 0, 7, _DAYS)
        self.dow = {d % 7 for d in dow}

    def _day_matches(self, t: _dt.datetime) -> bool:
        dom_ok = t.day in self.dom
        dow_ok = (t.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok  # classic cron: either restricted day field may match

    def next_after(self, t: _dt.datetime, limit: _dt.datetime) -> _dt.datetime | None:
        """First occurrence strictly after ``t`` (minute resolution) and not after ``limit``."""
        cur = t.replace(second=0, microsecond=0) + _dt.timedelta(minutes=1)
        while cur <= limit:
            if cur.month not in self.months:
                year, month = (cur.year + 1, 1) if cur.month == 12 else (cur.year, cur.month + 1)
                cur = cur.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(cur):
                cur = (cur + _dt.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if cur.hour not in self.hours:
                cur = (cur + _dt.timedelta(hours=1)).replace(minute=0)
                continue
            if cur.minute not in self.minutes:
                cur += _dt.timedelta(minutes=1)
                continue
            return cur
        return None


def _window_parts(w: RenewalWindow) -> tuple[CronSchedule, _dt.timedelta, _dt.tzinfo]:
    if not w.cron:
        raise PKIError("renewal window has no cron schedule")
    if not w.window_duration:
        raise PKIError("renewal window has no windowDuration")
    try:
        duration = parse_duration(w.window_duration)
    except ValueError as e:
        raise PKIError(f"invalid windowDuration: {e}") from None
    try:
        tz: _dt.tzinfo = ZoneInfo(w.timezone) if w.timezone else _dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        raise PKIError(f"unknown time zone {w.timezone!r}") from None
    return CronSchedule(w.cron), duration, tz


def renewal_time_with_windows(
    not_before: _dt.datetime, not_after: _dt.datetime, spec: CertificateSpec
) -> tuple[_dt.datetime | None, str | None]:
    """``(time, error)``: the desired time moved into a renewal window if windows are set.

    If the desired time D lies in a window occurrence, D; else the earliest window start
    after D. If no window can be found the error is returned together with D, because the
    trigger renews at D anyway (``WindowError``).
    """
    desired = renewal_time(not_before, not_after, spec)
    windows = spec.renewal.windows if spec.renewal else None
    if desired is None or not windows:
        return desired, None
    best: _dt.datetime | None = None
    try:
        for w in windows:
            cron, duration, tz = _window_parts(w)
            lo = (not_before - duration).astimezone(tz)
            hi = (not_after + duration).astimezone(tz)
            start = cron.next_after(lo - _dt.timedelta(minutes=1), hi)
            while start is not None:
                start_utc = start.astimezone(_dt.UTC)
                if start_utc <= desired < start_utc + duration:
                    return desired, None
                if start_utc > desired:
                    if best is None or start_utc < best:
                        best = start_utc
                    break
                # jump ahead: no occurrence before desired - duration can contain it
                nxt_from = max(start, (desired - duration).astimezone(tz) - _dt.timedelta(minutes=1))
                start = cron.next_after(nxt_from, hi)
    except PKIError as e:
        return desired, str(e)
    if best is None:
        return desired, "no renewal window found between the certificate's notBefore and notAfter"
    return best, None
