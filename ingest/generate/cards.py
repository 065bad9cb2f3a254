"""Card BINs (issuer identification numbers) of the synthetic world, seed independent.

Consumer BINs (three per country), corporate BINs (one per top-10 country and two global),
prepaid issuers (12) and virtual-card issuers (6), with the country of each issuer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reference import COUNTRIES, COUNTRY_INDEX

__all__ = ["BIN_TABLE", "BinTable", "build_bin_table"]

_PREPAID_COUNTRIES = ["US", "US", "US", "GB", "GB", "DE", "FR", "MX", "BR", "IN", "NG", "PH"]
_VIRTUAL_COUNTRIES = ["US", "US", "GB", "SG", "NL", "US"]


@dataclass(frozen=True)
class BinTable:
    """One entry per BIN: its digits, kind and issuer country; plus the BIN indices of each
    kind (`consumer` as a country x 3 matrix)."""

    number: list[str]
    kind: np.ndarray
    country: np.ndarray
    consumer: np.ndarray
    corporate: np.ndarray
    prepaid: np.ndarray
    virtual: np.ndarray


def _new_bin(rng: np.random.Generator) -> str:
    first = rng.choice(["4", "5", "5", "2", "3"])
    width = 8 if rng.random() < 0.3 else 6
    return first + "".join(str(digit) for digit in rng.integers(0, 10, width - 1))


def build_bin_table() -> BinTable:
    """The BIN table, drawn from a fixed seed (the same for every world)."""
    rng = np.random.default_rng(7_420)
    rows: list[tuple[str, str, int]] = []
    for i in range(len(COUNTRIES)):
        rows += [(_new_bin(rng), "consumer", i) for _ in range(3)]
    for i in range(10):
        rows.append((_new_bin(rng), "corporate", i))
    rows += [(_new_bin(rng), "corporate", COUNTRY_INDEX["US"]), (_new_bin(rng), "corporate", COUNTRY_INDEX["GB"])]
    for country in _PREPAID_COUNTRIES:
        rows.append((_new_bin(rng), "prepaid", COUNTRY_INDEX[country]))
    for country in _VIRTUAL_COUNTRIES:
        rows.append((_new_bin(rng), "virtual", COUNTRY_INDEX[country]))
    kind = np.array([kind for _, kind, _ in rows])
    return BinTable(
        number=[number for number, _, _ in rows],
        kind=kind,
        country=np.array([country for _, _, country in rows]),
        consumer=np.flatnonzero(kind == "consumer").reshape(len(COUNTRIES), 3),
        corporate=np.flatnonzero(kind == "corporate"),
        prepaid=np.flatnonzero(kind == "prepaid"),
        virtual=np.flatnonzero(kind == "virtual"),
    )


BIN_TABLE = build_bin_table()
