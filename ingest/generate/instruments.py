"""Payment instruments that groups share.

Teams and farm companies pay with one corporate card (a BIN of their country when there is
one), households with one consumer card or a wallet; small prepaid farms share one or two
prepaid cards, residential-proxy farms a pool of prepaid cards (one per 5-20 accounts).
Virtual-card farms and hydras pay with cards of their own, drawn per chunk from a ring's
issuers: one or two virtual BINs, or a hydra's mix of virtual, prepaid and wallet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cards import BIN_TABLE
from .constants import CATEGORY_CODE, METHOD_CODE
from .population import GroupTraits, Population

__all__ = ["GroupInstruments", "plan_instruments"]


@dataclass(frozen=True)
class GroupInstruments:
    """Per shared instrument: method code and BIN index (-1: none). Per group: its first
    instrument and how many; the virtual BINs of a ring and whether it sticks to one; a
    hydra's shares of virtual, prepaid and wallet and its four BINs."""

    method: np.ndarray
    bin: np.ndarray
    group_start: np.ndarray
    group_count: np.ndarray
    virtual_bins: np.ndarray
    one_bin: np.ndarray
    hydra_mix: np.ndarray
    hydra_bins: np.ndarray


def _card_counts(rng: np.random.Generator, population: Population) -> np.ndarray:
    """Shared instruments per group."""
    kind, size = population.group_kind, population.group_size
    count = np.zeros(population.n_groups, np.int64)
    count[np.isin(kind, [CATEGORY_CODE["team"], CATEGORY_CODE["household"], CATEGORY_CODE["farm_company"]])] = 1
    small_prepaid = kind == CATEGORY_CODE["farm_small_prepaid"]
    count[small_prepaid] = rng.integers(1, 3, small_prepaid.sum())
    pooled = kind == CATEGORY_CODE["farm_resproxy_pool"]
    count[pooled] = np.ceil(size[pooled] / rng.uniform(5, 20, pooled.sum())).astype(int)
    return count


def _corporate_bins(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """A corporate BIN per company instrument: of the company's country (80 % when there is
    one), else a random corporate BIN."""
    corporate = BIN_TABLE.corporate
    corporate_country = BIN_TABLE.country[corporate]
    bins = np.empty(len(country), np.int64)
    for i, company_country in enumerate(country):
        candidates = corporate[corporate_country == company_country]
        if len(candidates) and rng.random() < 0.8:
            bins[i] = candidates[0]
        else:
            bins[i] = corporate[rng.integers(len(corporate))]
    return bins


def _shared_instruments(
    rng: np.random.Generator, population: Population, traits: GroupTraits, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(method, BIN) of every shared instrument; `owner` is its group."""
    n_instruments = len(owner)
    kind, country = population.group_kind[owner], traits.country[owner]
    method = np.full(n_instruments, METHOD_CODE["card"])
    bins = BIN_TABLE.consumer[country, rng.integers(0, 3, n_instruments)]
    wallet = (kind == CATEGORY_CODE["household"]) & (rng.random(n_instruments) < 0.1)
    method[wallet] = METHOD_CODE["wallet"]
    bins[wallet] = -1
    company = np.flatnonzero((kind == CATEGORY_CODE["team"]) | (kind == CATEGORY_CODE["farm_company"]))
    bins[company] = _corporate_bins(rng, country[company])
    prepaid = (kind == CATEGORY_CODE["farm_small_prepaid"]) | (kind == CATEGORY_CODE["farm_resproxy_pool"])
    method[prepaid] = METHOD_CODE["prepaid_card"]
    ring_prepaid = BIN_TABLE.prepaid[rng.integers(0, len(BIN_TABLE.prepaid), (population.n_groups, 2))]
    bins[prepaid] = ring_prepaid[owner[prepaid], rng.integers(0, 2, prepaid.sum())]
    return method, bins


def plan_instruments(rng: np.random.Generator, population: Population, traits: GroupTraits) -> GroupInstruments:
    """Draw every group's shared instruments and every ring's card issuers."""
    n_groups = population.n_groups
    count = _card_counts(rng, population)
    owner = np.repeat(np.arange(n_groups), count)
    method, bins = _shared_instruments(rng, population, traits, owner)
    virtual, prepaid = BIN_TABLE.virtual, BIN_TABLE.prepaid
    return GroupInstruments(
        method=method,
        bin=bins,
        group_start=np.r_[0, np.cumsum(count)[:-1]],
        group_count=count,
        virtual_bins=virtual[rng.integers(0, len(virtual), (n_groups, 2))],
        one_bin=rng.random(n_groups) < 0.7,  # most virtual-card rings stick to one BIN
        hydra_mix=rng.dirichlet([3, 2, 1], n_groups),  # hydra: virtual, prepaid, wallet shares
        hydra_bins=np.concatenate([virtual, prepaid])[rng.integers(0, len(virtual) + len(prepaid), (n_groups, 4))],
    )
