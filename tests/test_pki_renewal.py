"""Renewal time (§2.2.2) and renewal windows (§2.2.3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from certkeeper.api.certificate import CertificateSpec
from certkeeper.pki.errors import PKIError
from certkeeper.pki.renewal import CronSchedule, renewal_time, renewal_time_with_windows

NB = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NA = NB + dt.timedelta(days=90)


def spec(d: dict[str, Any]) -> CertificateSpec:
    return CertificateSpec.model_validate(d)


def test_default_is_two_thirds_of_issued_lifetime() -> None:
    assert renewal_time(NB, NA, spec({})) == NA - dt.timedelta(days=30)


def test_renew_before_used_when_shorter_than_lifetime() -> None:
    assert renewal_time(NB, NA, spec({"renewBefore": "240h"})) == NA - dt.timedelta(days=10)


def test_renew_before_not_shorter_than_lifetime_falls_back() -> None:
    assert renewal_time(NB, NA, spec({"renewBefore": "2160h"})) == NA - dt.timedelta(days=30)
    assert renewal_time(
        NB, NA, spec({"renewBefore": "2400h", "renewBeforePercentage": 10})
    ) == NA - dt.timedelta(days=9)


def test_percentage_is_share_of_lifetime_remaining() -> None:
    assert renewal_time(NB, NA, spec({"renewBeforePercentage": 25})) == NA - dt.timedelta(days=22.5)
    # out-of-range percentages fall back to a third
    assert renewal_time(NB, NA, spec({"renewBeforePercentage": 100})) == NA - dt.timedelta(days=30)


def test_truncated_to_whole_seconds() -> None:
    na = NB + dt.timedelta(seconds=10)  # a third is 3.333s
    rt = renewal_time(NB, na, spec({}))
    assert rt == NB + dt.timedelta(seconds=6)
    assert rt is not None and rt.microsecond == 0


def test_disabled_policy_gives_none_and_unknown_policy_errors() -> None:
    assert renewal_time(NB, NA, spec({"renewal": {"policy": "Disabled"}})) is None
    with pytest.raises(PKIError):
        renewal_time(NB, NA, spec({"renewal": {"policy": "Sometimes"}}))


def test_window_containing_desired_time_keeps_it() -> None:
    s = spec(
        {"renewal": {"policy": "RenewBefore", "windows": [{"cron": "0 0 * * *", "windowDuration": "24h"}]}}
    )
    assert renewal_time_with_windows(NB, NA, s) == (NA - dt.timedelta(days=30), None)


def test_desired_time_moved_to_next_window_start_in_timezone() -> None:
    s = spec(
        {
            "renewal": {
                "policy": "RenewBefore",
                "windows": [{"cron": "0 2 * * 6", "windowDuration": "4h", "timezone": "Europe/Berlin"}],
            }
        }
    )
    # desired 2026-03-02 (Monday) -> Saturday 2026-03-07 02:00 Berlin = 01:00 UTC
    assert renewal_time_with_windows(NB, NA, s) == (dt.datetime(2026, 3, 7, 1, 0, tzinfo=dt.UTC), None)


def test_earliest_window_across_windows() -> None:
    s = spec(
        {
            "renewal": {
                "policy": "RenewBefore",
                "windows": [
                    {"cron": "0 3 * * 6", "windowDuration": "1h"},
                    {"cron": "30 5 3 * *", "windowDuration": "1h"},
                ],
            }
        }
    )
    assert renewal_time_with_windows(NB, NA, s) == (dt.datetime(2026, 3, 3, 5, 30, tzinfo=dt.UTC), None)


def test_no_window_found_returns_desired_and_error() -> None:
    s = spec(
        {"renewal": {"policy": "RenewBefore", "windows": [{"cron": "0 0 30 2 *", "windowDuration": "1h"}]}}
    )
    desired, err = renewal_time_with_windows(NB, NA, s)
    assert desired == NA - dt.timedelta(days=30)
    assert err is not None


def test_cron_parsing() -> None:
    c = CronSchedule("*/15 9-17 * * mon-fri")
    start = dt.datetime(2026, 3, 6, 17, 50, tzinfo=dt.UTC)  # Friday
    limit = start + dt.timedelta(days=7)
    assert c.next_after(start, limit) == dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
    assert CronSchedule("@daily").next_after(start, limit) == dt.datetime(2026, 3, 7, 0, 0, tzinfo=dt.UTC)
    for bad in ["* * * *", "61 * * * *", "a b c d e"]:
        with pytest.raises(PKIError):
            CronSchedule(bad)
