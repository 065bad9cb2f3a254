"""STIX patterns written through stix2's pattern objects and read back through the OASIS
grammar: hostile values round-trip exactly or are rejected, never pasted into a pattern."""

from __future__ import annotations

import json
import random

import pytest
import stix2
from stix2.pattern_visitor import create_pattern_object
from stix2patterns.validator import run_validator

from graph.sharing.indicators import build_bundle, keyed_hash
from graph.sharing.patterns import (
    MAX_PATTERN_CHARS,
    Rejected,
    _comparisons,
    _observations,
    _unquote,
    equality_pattern,
    hash_pattern,
    ip_pattern,
    pattern_values,
)

KEY = "unit-test share key, long enough to be a real one: 0123456789abcdef"
HOSTILE = [
    "' OR x='y",
    "fe80::1%' OR x='y",
    "a\\b",
    "\\'",
    "\\\\'",
    "it's",
    "'",
    "",
    "]",
    "x' ] OR [ipv4-addr:value = '1.2.3.4",
    "x'] AND [file:name = 'evil",
    "ünïcode ✓",
    "line\nbreak",
    "tab\there",
]


def read_back(pattern: str) -> list[tuple[str, str, str]]:
    """(object type, property, value) of each comparison, as the OASIS grammar parses them."""
    out = []
    for observation in _observations(create_pattern_object(pattern, version="2.1")):
        for c in _comparisons(observation.operand):
            out.append((c.lhs.object_type_name, c.lhs.property_path[0].property_name, _unquote(c.rhs.value)))
    return out


def random_hostile(rng: random.Random, n: int) -> list[str]:
    alphabet = "'\\\"[]():=%ORANDx ab01\n\t"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(n)]


@pytest.mark.parametrize("value", HOSTILE + random_hostile(random.Random(14), 200))
def test_a_hostile_value_round_trips_exactly_through_the_pattern_objects(value):
    pattern = equality_pattern([("x-ringwatch-template", "hmac_sha256", value)])
    assert run_validator(pattern, "2.1") == []  # a valid STIX 2.1 pattern, whatever the value
    assert read_back(pattern) == [("x-ringwatch-template", "hmac_sha256", value)]  # one comparison, same value
    assert stix2.v21.Indicator(pattern=pattern, pattern_type="stix", valid_from="2025-01-01T00:00:00Z")


def test_or_ed_values_round_trip_each_exactly():
    values = ["' OR x='y", "a\\b", "plain"]
    pattern = equality_pattern([("x-t", "p", v) for v in values])
    assert [v for _, _, v in read_back(pattern)] == values


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_is_rejected_where_ringwatch_reads_it(value):
    for type_, prop, reason in (
        ("ipv4-addr", "value", "bad address"),
        ("ipv6-addr", "value", "bad address"),
        ("x-ringwatch-payment", "hmac_sha256", "bad hash"),
    ):
        pattern = equality_pattern([(type_, prop, value)])
        with pytest.raises(Rejected) as e:
            pattern_values(pattern)
        assert e.value.reason == reason


def test_export_refuses_to_write_an_address_that_is_not_canonical():
    assert ip_pattern("203.0.113.7") == "[ipv4-addr:value = '203.0.113.7']"
    assert ip_pattern("2001:db8::7") == "[ipv6-addr:value = '2001:db8::7']"
    for bad in ("fe80::1%' OR x='y", "fe80::1%eth0", "203.0.113.7 ", "2001:DB8::7", "::ffff:203.0.113.7", "x"):
        with pytest.raises(Rejected, match="bad address"):
            ip_pattern(bad)
    with pytest.raises(Rejected, match="bad hash"):
        hash_pattern("payment", "' OR x='y")


def test_a_bundle_leaves_out_an_entity_it_cannot_write_safely():
    ring = {
        "ring_id": "R-000001",
        "status": "blocked",
        "score": 0.8,
        "size": 3,
        "reason": "test",
        "first_detected": None,
        "proxies": [],
        "entities": [
            {"kind": "ip", "value": "fe80::1%' OR x='y"},
            {"kind": "ip", "value": "198.51.100.4"},
            {"kind": "template", "value": "' OR x='y"},
        ],
    }
    text = build_bundle([ring], KEY).serialize()
    digest = keyed_hash(KEY, "template", "' OR x='y")
    patterns = sorted(o["pattern"] for o in json.loads(text)["objects"] if o["type"] == "indicator")
    assert patterns == ["[ipv4-addr:value = '198.51.100.4']", f"[x-ringwatch-template:hmac_sha256 = '{digest}']"]
    assert "OR x=" not in text and "fe80" not in text
    assert stix2.parse(text, allow_custom=True).type == "bundle"


def test_what_ringwatch_reads_from_a_pattern():
    digest = "ab" * 32
    cases = {
        "[ipv4-addr:value = '198.51.100.4']": [("ip", "198.51.100.4")],
        "[ipv4-addr:value = '198.51.100.4/32']": [("ip", "198.51.100.4")],
        "[ipv6-addr:value = '2001:DB8::1/128']": [("ip", "2001:db8::1")],
        "[ipv6-addr:value = '::ffff:198.51.100.4']": [("ip", "198.51.100.4")],
        "[ipv4-addr:value = '198.51.100.4' OR ipv4-addr:value = '198.51.100.5']": [
            ("ip", "198.51.100.4"),
            ("ip", "198.51.100.5"),
        ],
        "[ipv4-addr:value = '198.51.100.4'] OR [ipv4-addr:value = '198.51.100.5']": [
            ("ip", "198.51.100.4"),
            ("ip", "198.51.100.5"),
        ],
        f"[x-ringwatch-payment:hmac_sha256 = '{digest.upper()}']": [("payment", digest)],
        f"[x-ringwatch-template:hmac_sha256 = '{digest}']": [("template", digest)],
        # not ours to match: unsupported, not an error
        "[ipv4-addr:value = '198.51.100.0/24']": None,
        "[ipv4-addr:value != '198.51.100.4']": None,
        "[ipv4-addr:value = '198.51.100.4' AND ipv4-addr:value = '198.51.100.5']": None,
        "[ipv4-addr:value = '198.51.100.4'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.5']": None,
        "[ipv4-addr:value = '198.51.100.4'] WITHIN 60 SECONDS": None,
        "[network-traffic:dst_ref.value = '198.51.100.4']": None,
        "[file:hashes.'SHA-256' = 'aa']": None,
        "[ipv4-addr:value MATCHES '^198']": None,
        "no pattern at all": None,
    }
    for pattern, expected in cases.items():
        assert pattern_values(pattern) == expected, pattern
    rejected = {
        "[ipv6-addr:value = 'fe80::1%eth0']": "bad address",
        "[ipv4-addr:value = '2001:db8::1']": "bad address",
        "[ipv4-addr:value = '999.1.1.1']": "bad address",
        "[x-ringwatch-template:hmac_sha256 = 'abc']": "bad hash",
        "[ipv4-addr:value = '198.51.100.4'" + " OR ipv4-addr:value = '198.51.100.4'" * 200 + "]": "pattern too long",
    }
    for pattern, reason in rejected.items():
        with pytest.raises(Rejected) as e:
            pattern_values(pattern)
        assert e.value.reason == reason, pattern
    assert len(next(iter(p for p in rejected if len(p) > 1000))) > MAX_PATTERN_CHARS
