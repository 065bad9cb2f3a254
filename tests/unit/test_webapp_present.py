"""Pure helpers of graph/investigate/present.py: timeline_series, parse_json, top_capabilities, to_py,
age_text, short_label (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import neo4j.time
import pandas as pd
import pytest

from graph.investigate.present import (
    MAX_DAYS,
    age_text,
    parse_json,
    short_label,
    timeline_series,
    to_py,
    top_capabilities,
)

DAY = 86_400


def members(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account", "created", "first_seen", "last_seen", "requests"])


def test_timeline_series_spreads_requests_over_each_active_span():
    frame = members(
        ("a", 10 * DAY + 5, 10 * DAY + 60, 12 * DAY + 99, 30),  # active days 10-12: 10 requests a day
        ("b", 11 * DAY, 11 * DAY + 1, 11 * DAY + 2, 5),  # active day 11 only
    )
    series = timeline_series(frame)
    assert list(series.columns) == ["day", "signups", "active_accounts", "requests"]
    assert list(series["day"]) == [pd.Timestamp(d * DAY, unit="s", tz="UTC") for d in (10, 11, 12)]
    assert list(series["signups"]) == [1, 1, 0]
    assert list(series["active_accounts"]) == [1, 2, 1]
    assert list(series["requests"]) == [10.0, 15.0, 10.0]
    assert series["requests"].sum() == pytest.approx(35)


def test_timeline_series_takes_signups_from_every_member_when_given():
    frame = members(("a", 10 * DAY, 10 * DAY, 11 * DAY, 4))
    daily = pd.DataFrame({"day": [9, 11], "signups": [3, 2]})
    series = timeline_series(frame, daily)
    assert list(series["signups"]) == [3, 0, 2]  # days 9, 10, 11
    assert list(series["active_accounts"]) == [0, 1, 1]


def test_timeline_series_of_members_without_activity_uses_their_signup():
    frame = members(("a", 5 * DAY, None, None, 0), ("b", 6 * DAY, None, None, 0))
    series = timeline_series(frame)
    assert list(series["signups"]) == [1, 1]
    assert list(series["active_accounts"]) == [1, 1]  # active on the day they signed up


def test_timeline_series_is_bounded():
    frame = members(
        ("a", 0, 0, 5 * 365 * DAY, 1000),  # five years
        ("b", 0, 2000 * DAY, 2001 * DAY, 10),  # active only after the bounded window
    )
    series = timeline_series(frame)
    assert len(series) == MAX_DAYS + 1
    assert series["active_accounts"].max() == 1
    assert (series["requests"] >= 0).all()


def test_timeline_series_of_nobody():
    series = timeline_series(members())
    assert series.empty and list(series.columns) == ["day", "signups", "active_accounts", "requests"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("", "default"),
        (None, "default"),
        ("{not json", "default"),
        (b"\xff", "default"),
    ],
)
def test_parse_json(text, expected):
    assert parse_json(text, "default") == expected


def test_top_capabilities_keeps_the_first_n_above_one_percent():
    mix = '{"code": 0.6, "math": 0.3, "tiny": 0.004, "fourth": 0.1}'
    assert top_capabilities(mix) == "code 60%, math 30%"  # 'tiny' under 1 %, 'fourth' beyond n=3
    assert top_capabilities(mix, n=4) == "code 60%, math 30%, fourth 10%"
    assert top_capabilities(None) == "" and top_capabilities("oops") == ""


def test_to_py():
    value = neo4j.time.DateTime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert to_py(value) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert to_py("x") == "x" and to_py(None) is None


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(seconds=30), "0 min"),
        (timedelta(minutes=59), "59 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=400), "400 d"),
        (timedelta(minutes=-5), "0 min"),  # a clock a little ahead: never negative
    ],
)
def test_age_text(ago, expected):
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert age_text(now, now - ago) == expected


def test_age_text_of_neo4j_time_and_of_nothing():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert age_text(now, neo4j.time.DateTime(2025, 5, 30, 12, 0, tzinfo=UTC)) == "2 d"
    assert age_text(now, None) == ""
    assert age_text(now, pd.NaT) == ""


@pytest.mark.parametrize(
    ("kind", "key", "expected"),
    [
        ("template", "a" * 64, "aaaaaaaa…"),
        ("template", "abcdefghi", "abcdefghi"),  # 9 characters: kept whole
        ("payment", "fp_0123456789", "fp_01234…"),
        ("account", "acct_0123456789", "01234567…"),
        ("account", "acct_0001", "0001"),
        ("ip", "203.0.113.7", "203.0.113.7"),
        ("ip", "2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3:…"),
        ("asn", "13335", "AS13335"),
        ("proxy", "Short VPN", "Short VPN"),
        ("proxy", "A Very Long Proxy Service Name", "A Very Long P…"),
        ("ring", 42, "42"),
    ],
)
def test_short_label(kind, key, expected):
    assert short_label(kind, key) == expected
