"""Autonomous systems of the synthetic world and the text of their addresses.

`AS_TABLE` lists residential ISPs and mobile carriers per country, business ISPs, hosting
providers and universities, each with a /10 of IPv4 and a /32 of IPv6; it is seed
independent. The per-country matrices pick an AS of a kind for a country, and
`ip_strings` spells the address with a given local index inside an AS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoding import mix64
from .reference import COUNTRIES, COUNTRY_INDEX, COUNTRY_WEIGHT, HOSTING, ISP_WORDS, UNIVERSITIES

__all__ = [
    "AS_TABLE",
    "BUSINESS_AS",
    "HOSTING_AS",
    "MOBILE_AS",
    "MOBILE_COUNT",
    "N_AS",
    "RESIDENTIAL_AS",
    "RESIDENTIAL_COUNT",
    "UNIVERSITY_AS",
    "AsTable",
    "ip_strings",
]

_RESERVED_OCTETS = {10, 100, 127, 169, 172, 192, 198, 203}
_V6_PREFIXES = [0x2001, 0x2400, 0x2600, 0x2A00, 0x2A01, 0x2A02, 0x2800, 0x2C0F, 0x2403, 0x2605]
_HOSTS_PER_SUBNET = 250
_SUBNETS_PER_AS = 16384


@dataclass(frozen=True)
class AsTable:
    """One row per AS: its organisation, kind (res, mob, biz, host, uni), country code,
    AS number, first IPv4 address of its /10, the two groups of its IPv6 /32, and a salt
    that scrambles its subnets."""

    org: list[str]
    kind: np.ndarray
    country: np.ndarray
    number: np.ndarray
    v4_block: np.ndarray
    v6_group1: np.ndarray
    v6_group2: np.ndarray
    salt: np.ndarray


def _as_rows(words: list[str]) -> list[tuple[str, str, str]]:
    """(organisation, kind, country) of every AS; pops brand names off `words`."""
    rows: list[tuple[str, str, str]] = []
    for i, country in enumerate(COUNTRIES):
        brands = [words.pop() for _ in range(2 if COUNTRY_WEIGHT[i] >= 0.03 else 1)]  # a telco runs both
        for brand in brands:
            rows.append((f"{brand} {'Broadband' if len(brands) > 1 else 'Telecom'}", "res", country))
        for brand in brands:
            rows.append((f"{brand} Mobile", "mob", country))
    for country in COUNTRIES[:10]:
        rows.append((f"{words.pop()} Business Networks", "biz", country))
    for name, country in HOSTING:
        rows.append((name, "host", country))
    for name, country, _ in UNIVERSITIES:
        rows.append((name, "uni", country))
    return rows


def build_as_table() -> AsTable:
    """The AS table, drawn from a fixed seed (the same for every world)."""
    rng = np.random.default_rng(20250601)
    rows = _as_rows(list(rng.permutation(ISP_WORDS)))
    n_as = len(rows)
    number = rng.choice(np.arange(1000, 64000), n_as, replace=False)
    number[rng.random(n_as) < 0.3] += 200_000  # some 32-bit AS numbers
    octets = [octet for octet in range(1, 224) if octet not in _RESERVED_OCTETS]
    blocks = np.array([(octet << 24) | (quarter << 22) for octet in octets for quarter in range(4)], np.int64)
    v4_block = rng.permutation(blocks)[:n_as]
    v6_group1 = rng.choice(_V6_PREFIXES, n_as)
    v6_group2 = rng.integers(1, 0xFFFF, n_as)
    return AsTable(
        org=[org for org, _, _ in rows],
        kind=np.array([kind for _, kind, _ in rows]),
        country=np.array([COUNTRY_INDEX[country] for _, _, country in rows]),
        number=number.astype(np.int64),
        v4_block=v4_block,
        v6_group1=v6_group1.astype(np.int64),
        v6_group2=v6_group2.astype(np.int64),
        salt=rng.integers(0, 1 << 14, n_as),
    )


AS_TABLE = build_as_table()
N_AS = len(AS_TABLE.org)


def _per_country(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(country x 2) matrix of AS indices of `kind` and how many each country has."""
    index = np.full((len(COUNTRIES), 2), -1, np.int64)
    count = np.zeros(len(COUNTRIES), np.int64)
    for as_index in np.flatnonzero(AS_TABLE.kind == kind):
        country = AS_TABLE.country[as_index]
        index[country, count[country]] = as_index
        count[country] += 1
    return index, count


RESIDENTIAL_AS, RESIDENTIAL_COUNT = _per_country("res")
MOBILE_AS, MOBILE_COUNT = _per_country("mob")
BUSINESS_AS = np.flatnonzero(AS_TABLE.kind == "biz")
HOSTING_AS = np.flatnonzero(AS_TABLE.kind == "host")
UNIVERSITY_AS = np.flatnonzero(AS_TABLE.kind == "uni")

_OCTET_TEXT = np.array([str(i) for i in range(256)], dtype=object)
_HEX16_TEXT = np.array([f"{i:x}" for i in range(65536)], dtype=object)


def _ipv4_strings(as_index: np.ndarray, local: np.ndarray) -> np.ndarray:
    if (local >= _SUBNETS_PER_AS * _HOSTS_PER_SUBNET).any():
        raise ValueError("address space of an AS exhausted; world too large")
    subnet = ((local // 250) * 0x2C2B ^ AS_TABLE.salt[as_index]) & 0x3FFF
    host = 2 + (local % 250 * 97 + 31) % 250
    ip = AS_TABLE.v4_block[as_index] + (subnet << 8) + host
    return (
        _OCTET_TEXT[ip >> 24] + "." + _OCTET_TEXT[(ip >> 16) & 255] + "." + _OCTET_TEXT[(ip >> 8) & 255] + "."
        + _OCTET_TEXT[ip & 255]
    )  # fmt: skip


def _ipv6_strings(as_index: np.ndarray, local: np.ndarray, key: np.uint64) -> np.ndarray:
    group3 = (local // 65535 * 0x9E37 + AS_TABLE.salt[as_index] * 3) & 0xFFFF
    group4 = 1 + local % 65535
    hashed = mix64((as_index.astype(np.uint64) << np.uint64(40)) ^ local.astype(np.uint64) ^ key)
    interface = [1 + ((hashed >> np.uint64(16 * i)) & np.uint64(0xFFFF)).astype(np.int64) % 65535 for i in range(4)]
    text = _HEX16_TEXT
    return (
        text[AS_TABLE.v6_group1[as_index]] + ":" + text[AS_TABLE.v6_group2[as_index]] + ":" + text[group3] + ":"
        + text[group4] + ":" + text[interface[0]] + ":" + text[interface[1]] + ":" + text[interface[2]] + ":"
        + text[interface[3]]
    )  # fmt: skip


def ip_strings(as_index: np.ndarray, local: np.ndarray, v6: np.ndarray, key: np.uint64) -> np.ndarray:
    """Addresses (object array of str) for local index `local` inside AS `as_index`.

    IPv4: the AS's /10 holds 16384 /24s of 250 hosts; the /24 number and host are
    scrambled by bijections, so consecutive locals share a /24 (ISP pools, a rented
    subnet) yet look random. IPv6: the AS's /32, then 32 bits from the local index and a
    64-bit interface id from a keyed hash; every group nonzero but one, so the text is
    already canonical (RFC 5952). Distinct (AS, local) give distinct addresses."""
    as_index = np.asarray(as_index, np.int64)
    local = np.asarray(local, np.int64)
    out = np.empty(len(local), dtype=object)
    four = ~v6
    if four.any():
        out[four] = _ipv4_strings(as_index[four], local[four])
    if v6.any():
        out[v6] = _ipv6_strings(as_index[v6], local[v6], key)
    return out
