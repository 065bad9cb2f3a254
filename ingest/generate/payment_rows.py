"""Rows of `payment_methods` for one chunk.

Individuals and some household members pay with cards of their own (consumer cards of
their country mostly; free users sometimes none); households, teams and farm companies
share their group's instrument; prepaid farms draw from their ring's prepaid cards (a
declined card is replaced by another of the pool); virtual-card farms pay with a run of
virtual cards from one or two BINs, hydras with a mix of virtual, prepaid and wallets.
A fingerprint is a keyed hash of the instrument: shared instruments share it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.files import fixed_width_strings, iso_utc

from .arrays import expand, ones, sample, weighted_choice
from .cards import BIN_TABLE
from .chunk import Chunk
from .constants import DAY, INDIVIDUAL, METHOD_CODE, METHODS, PLAN_CODE
from .encoding import code_strings, hex_matrix, mix64
from .plan import World
from .reference import COUNTRIES

__all__ = ["PaymentDraws", "payment_rows"]

_OWN_NAMESPACE = np.int64(1) << 50  # instrument ids of one account: account * 4 + its number
_GROUP_NAMESPACE = np.int64(2) << 50  # shared instruments: their index in the plan
_PERSONAL_METHODS = [82, 2, 3, 10, 2, 1]  # weights, in the order of constants.METHODS


class PaymentDraws:
    """Collects one chunk's payment rows: (account position, instrument id, method, BIN)."""

    def __init__(self, world: World, chunk: Chunk):
        self.instruments = world.instruments
        self.chunk = chunk
        self.account: list[np.ndarray] = []
        self.instrument: list[np.ndarray] = []
        self.method: list[np.ndarray] = []
        self.bin: list[np.ndarray] = []

    def own_cards(self, members: np.ndarray, count: np.ndarray, methods: np.ndarray, bins: np.ndarray) -> None:
        """`count` instruments of their own per member; methods and bins: one per new row."""
        owner, index = expand(count)
        self.account.append(members[owner])
        self.instrument.append(_OWN_NAMESPACE + self.chunk.accounts[members[owner]] * 4 + index)
        self.method.append(methods)
        self.bin.append(bins)

    def group_card(self, members: np.ndarray, index: np.ndarray) -> None:
        """Each member uses instrument `index` of its group's shared instruments."""
        instrument = self.instruments.group_start[self.chunk.group_of[members]] + index
        self.account.append(members)
        self.instrument.append(_GROUP_NAMESPACE + instrument)
        self.method.append(self.instruments.method[instrument])
        self.bin.append(self.instruments.bin[instrument])

    def any_group_card(self, rng: np.random.Generator, members: np.ndarray) -> None:
        """Each member uses a random one of its group's shared instruments."""
        count = self.instruments.group_count[self.chunk.group_of[members]]
        self.group_card(members, np.floor(rng.random(len(members)) * count).astype(np.int64))


def _personal_cards(rng: np.random.Generator, draws: PaymentDraws, chunk: Chunk) -> None:
    """Individuals: one card (a free user 75 %), sometimes a second; 20 % of household
    members one of their own besides the household's."""
    individuals = chunk.members_of(INDIVIDUAL)
    free = chunk.plan[individuals] == PLAN_CODE["free"]
    count = np.where(free, rng.random(len(individuals)) < 0.75, 1) + (rng.random(len(individuals)) < 0.13)
    household = chunk.members["household"]
    household_count = (rng.random(len(household)) < 0.2).astype(np.int64)
    members = np.r_[individuals, household]
    count = np.r_[count, household_count].astype(np.int64)
    owner, _ = expand(count)
    method = weighted_choice(rng, _PERSONAL_METHODS, len(owner))
    country = chunk.country[members[owner]]
    bins = np.select(
        [method == METHOD_CODE["card"], method == METHOD_CODE["prepaid_card"], method == METHOD_CODE["virtual_card"]],
        [
            BIN_TABLE.consumer[country, rng.integers(0, 3, len(owner))],
            BIN_TABLE.prepaid[rng.integers(0, len(BIN_TABLE.prepaid), len(owner))],
            BIN_TABLE.virtual[rng.integers(0, len(BIN_TABLE.virtual), len(owner))],
        ],
        -1,
    )
    draws.own_cards(members, count, method, bins)


def _shared_cards(rng: np.random.Generator, draws: PaymentDraws, chunk: Chunk) -> None:
    """Households, teams, farm companies and prepaid farms: their group's instruments."""
    for name in ("household", "team", "farm_company"):
        members = chunk.members[name]
        draws.group_card(members, np.zeros(len(members), np.int64))
    draws.any_group_card(rng, chunk.members["farm_small_prepaid"])
    members = chunk.members["farm_resproxy_pool"]
    draws.any_group_card(rng, members)
    draws.any_group_card(rng, sample(rng, members, 0.1))  # a declined card replaced by another of the pool


def _ring_cards(rng: np.random.Generator, draws: PaymentDraws, chunk: Chunk) -> None:
    """Virtual-card farms: a virtual card from one of the ring's BINs; hydras: a virtual
    card, a prepaid card or a wallet by the ring's mix, from the ring's issuers."""
    instruments = draws.instruments
    members = chunk.members["farm_virtual_cards"]
    ring = chunk.group_of[members]
    pick = np.where(instruments.one_bin[ring], 0, rng.integers(0, 2, len(members)))
    virtual = np.full(len(members), METHOD_CODE["virtual_card"])
    draws.own_cards(members, ones(members), virtual, instruments.virtual_bins[ring, pick])
    members = chunk.members["farm_hydra"]
    ring = chunk.group_of[members]
    mix = instruments.hydra_mix[ring]
    share = rng.random(len(members))
    method = np.where(
        share < mix[:, 0],
        METHOD_CODE["virtual_card"],
        np.where(share < mix[:, 0] + mix[:, 1], METHOD_CODE["prepaid_card"], METHOD_CODE["wallet"]),
    )
    bins = instruments.hydra_bins[ring, rng.integers(0, 4, len(members))]
    is_card = method != METHOD_CODE["wallet"]
    bins = np.where(is_card, bins, -1)
    method = np.where(is_card & np.isin(bins, BIN_TABLE.prepaid), METHOD_CODE["prepaid_card"], method)
    method = np.where(is_card & np.isin(bins, BIN_TABLE.virtual), METHOD_CODE["virtual_card"], method)
    draws.own_cards(members, ones(members), method, bins)


def payment_rows(rng: np.random.Generator, world: World, chunk: Chunk) -> pa.Table:
    """The chunk's payment_methods table: one row per account and instrument."""
    draws = PaymentDraws(world, chunk)
    _personal_cards(rng, draws, chunk)
    _shared_cards(rng, draws, chunk)
    _ring_cards(rng, draws, chunk)
    account, instrument = np.concatenate(draws.account), np.concatenate(draws.instrument)
    method = np.concatenate(draws.method).astype(np.int64)
    bins = np.concatenate(draws.bin).astype(np.int64)
    # one row per account and instrument (a replacement card can be drawn twice from a pool)
    _, first = np.unique(np.stack([account, instrument]), axis=1, return_index=True)
    account, instrument, method, bins = (column[np.sort(first)] for column in (account, instrument, method, bins))
    bank_country = np.where(method == METHOD_CODE["bank"], chunk.country[account], -1)
    country = np.where(bins >= 0, BIN_TABLE.country[np.maximum(bins, 0)], bank_country)
    delay = rng.exponential(DAY, len(account)).astype(np.int64)
    first_seen = np.minimum(chunk.created[account] + delay, chunk.end[account])
    order = np.lexsort((first_seen, account))
    account, instrument, method, bins, country, first_seen = (
        column[order] for column in (account, instrument, method, bins, country, first_seen)
    )
    keyed = instrument.astype(np.uint64) ^ world.key
    fingerprint = hex_matrix([mix64(keyed ^ np.uint64(i * 0x51ED27)) for i in range(1, 4)], 40)
    return pa.table(
        {
            "account_id": chunk.account_id.take(pa.array(account)),
            "payment_fingerprint": fixed_width_strings(fingerprint),
            "method_type": code_strings(method, METHODS),
            "bin": code_strings(bins, BIN_TABLE.number),
            "issuer_country": code_strings(country, COUNTRIES),
            "first_seen": iso_utc(first_seen),
        }
    )
