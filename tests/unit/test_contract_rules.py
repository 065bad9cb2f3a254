"""Row rules of the contract that the data-contract page found broken: counts that wrapped,
AS numbers stored as floats, duplicates across chunks, absent columns (no database)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from graph.vocabulary import canonical_ip
from ingest.contract import MAX_ASN, MAX_REQUESTS, TEXT, _iso_ms, canonical_ips, epoch_ms, printable, validate

T1, T2 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def sightings(requests: list[str]) -> pd.DataFrame:
    n = len(requests)
    return pd.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "ip": ["192.0.2.1"] * n,
            "first_seen": [T1] * n,
            "last_seen": [T2] * n,
            "requests": requests,
        }
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (str(2**63), "requests too large"),
        (str(2**64 + 5), "requests too large"),
        ("9" * 40, "requests too large"),
        (str(MAX_REQUESTS + 1), "requests too large"),
        ("+" + "0" * 30 + str(2**63), "requests too large"),
        ("-" + str(2**63), "requests not a positive integer"),
        ("0", "requests not a positive integer"),
        ("1.0", "requests not a positive integer"),
        ("1e3", "requests not a positive integer"),
    ],
)
def test_requests_out_of_range_are_quarantined_not_wrapped(text, reason):
    checked = validate("ip_sightings", sightings([text, "5"]))
    assert list(checked.invalid["_reason"]) == [reason]
    assert list(checked.valid["requests"]) == [5]


def test_the_largest_count_loads_exactly():
    checked = validate("ip_sightings", sightings([str(MAX_REQUESTS), "+007", " 12 ", "1"]))
    assert checked.invalid.empty
    assert checked.valid["requests"].dtype == "int64"
    assert list(checked.valid["requests"]) == [MAX_REQUESTS, 7, 12, 1]


def intel(asns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ip": [f"192.0.2.{i + 1}" for i in range(len(asns))], "asn": asns})


def test_asns_are_integers_even_beside_empty_cells():
    checked = validate("ip_intel", intel(["AS64501", "", "as64502", " 64503 ", str(MAX_ASN), "0"]))
    assert checked.invalid.empty
    values = list(checked.valid["asn"])
    assert values == [64501, None, 64502, 64503, MAX_ASN, 0]
    assert all(type(v) is int for v in values if v is not None)  # never 64501.0


@pytest.mark.parametrize("text", ["1.5", "-1", "AS", "ASx1", "64501.0", str(MAX_ASN + 1), "1e5", "AS 64501", "٣"])
def test_malformed_asns_are_quarantined(text):
    checked = validate("ip_intel", intel([text, "64501"]))
    assert list(checked.invalid["_reason"]) == ["malformed asn"]
    assert list(checked.valid["asn"]) == [64501]


def accounts(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": ids, "created_at": [T1] * len(ids)})


def test_a_repeated_account_is_a_duplicate_in_any_later_chunk():
    seen: set[str] = set()
    first = validate("accounts", accounts(["a", "b", "a"]), seen_accounts=seen)
    second = validate("accounts", accounts([" b ", "c", "a"]), seen_accounts=seen)
    assert list(first.invalid["_reason"]) == ["duplicate account_id in file"]
    assert list(second.invalid["_reason"]) == ["duplicate account_id in file"] * 2
    assert list(second.valid["account_id"]) == ["c"]
    assert seen == {"a", "b", "c"}


def test_without_the_seen_set_only_the_chunk_is_compared():
    assert validate("accounts", accounts(["a", "b"])).invalid.empty


@pytest.mark.parametrize("kind", ["ip_sightings", "prompt_templates"])
def test_an_absent_time_column_quarantines_the_rows_without_an_error(kind):
    """Was a KeyError traceback; the reader now refuses such a file, and validate copes."""
    frame = pd.DataFrame(
        {"account_id": ["a"], "ip": ["192.0.2.1"], "template_hash": ["a" * 32], "requests": ["3"], "last_seen": [T2]}
    )
    checked = validate(kind, frame)
    assert list(checked.invalid["_reason"]) == ["missing first_seen"]


def _plain_times(rng: random.Random, n: int) -> list[str]:
    """YYYY-MM-DDTHH:MM:SSZ texts, many of them no date (month 13, February 30, hour 24,
    second 60, years beyond pandas' clock)."""
    texts = []
    for _ in range(n):
        year = rng.choice([rng.randint(0, 9999), rng.randint(1600, 2300), 1677, 1678, 2261, 2262, 1900, 2000, 2100])
        month, day = rng.choice([rng.randint(0, 13), 2]), rng.choice([rng.randint(0, 32), 28, 29, 30, 31])
        hour, minute, second = rng.randint(0, 25), rng.randint(0, 60), rng.choice([rng.randint(0, 61), 59, 60])
        texts.append(f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z")
    return texts


@pytest.mark.parametrize("seed", [1, 2])
def test_plain_times_are_read_as_pandas_reads_them(seed):
    texts = pd.Series(
        [*_plain_times(random.Random(seed), 20_000), " 2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00"]
    )
    fast = epoch_ms(texts).to_numpy()
    by_pandas = _iso_ms(texts.astype(TEXT).str.strip()).to_numpy(dtype=float)
    assert np.isnan(by_pandas).mean() > 0.5  # (most are no date: the test covers the rejects)
    np.testing.assert_array_equal(fast, by_pandas)  # NaN where NaN, the same milliseconds elsewhere


ODD_TEXTS = [
    "192.0.2.1",
    " 192.0.2.1\t",
    "01.2.3.4",
    "256.0.0.1",
    "1.2.3",
    "::ffff:192.0.2.1",
    "2001:DB8::1",
    "fe80::1%eth0",
    "",
    "   ",
    None,
    "1.2.3.4\x1c",
    "１.２.３.４",
    "acct-1",
    "a\x00b",
    "é",
    "a\u2028b",
    "~",
]


def test_addresses_are_canonical_ip_of_each_text():
    texts = pd.Series(ODD_TEXTS * 3)
    expected = [canonical_ip(t) if isinstance(t, str) and t.strip() else None for t in texts]
    assert canonical_ips(texts).tolist() == expected


def test_printable_is_str_isprintable_of_each_text():
    texts = pd.Series(ODD_TEXTS * 3)
    assert printable(texts).tolist() == [isinstance(t, str) and t.isprintable() for t in texts]
