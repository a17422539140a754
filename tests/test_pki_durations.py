"""Go duration syntax in both directions."""

from __future__ import annotations

import datetime as dt

import pytest

from certkeeper.pki.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2160h", dt.timedelta(hours=2160)),
        ("1h30m", dt.timedelta(minutes=90)),
        ("90m0s", dt.timedelta(minutes=90)),
        ("1.5h", dt.timedelta(minutes=90)),
        ("300ms", dt.timedelta(milliseconds=300)),
        ("0", dt.timedelta(0)),
        ("-1m", -dt.timedelta(minutes=1)),
        ("1us", dt.timedelta(microseconds=1)),
        ("1µs", dt.timedelta(microseconds=1)),
        ("5m30.5s", dt.timedelta(minutes=5, seconds=30.5)),
    ],
)
def test_parse_duration_accepts_go_syntax(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "10", "1x", "abc", ".s", "-", "1d", "1 h"])
def test_parse_duration_rejects_bad_input_with_message(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (dt.timedelta(hours=2160), "2160h0m0s"),
        (dt.timedelta(minutes=90), "1h30m0s"),
        (dt.timedelta(minutes=1, seconds=30), "1m30s"),
        (dt.timedelta(seconds=1.5), "1.5s"),
        (dt.timedelta(milliseconds=300), "300ms"),
        (dt.timedelta(microseconds=1500), "1.5ms"),
        (dt.timedelta(microseconds=2), "2µs"),
        (dt.timedelta(0), "0s"),
        (-dt.timedelta(minutes=5), "-5m0s"),
        (dt.timedelta(hours=1), "1h0m0s"),
    ],
)
def test_format_duration_matches_go_string(td: dt.timedelta, text: str) -> None:
    assert format_duration(td) == text


def test_round_trip() -> None:
    for s in ["2160h0m0s", "1h0m0s", "5m0s", "720h0m0s"]:
        assert format_duration(parse_duration(s)) == s
