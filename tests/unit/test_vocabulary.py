"""The shared vocabulary: strict IP canonicalisation and statuses."""

from __future__ import annotations

import pytest

from graph.vocabulary import DECIDED_STATUSES, KEYS, KINDS, RING_STATUSES, canonical_ip


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
    ],
)
def test_addresses_have_one_text_form(text, canonical):
    assert canonical_ip(text) == canonical


@pytest.mark.parametrize(
    "text", ["fe80::1%eth0", "fe80::1%' OR x='y", "203.0.113.7/32", "203.0.113.256", "example.com", ""]
)
def test_anything_else_is_not_an_address(text):
    assert canonical_ip(text) is None


def test_statuses_and_keys_are_consistent():
    assert set(DECIDED_STATUSES) < set(RING_STATUSES)
    assert all(KEYS[label] == key for label, key in KINDS.values())
