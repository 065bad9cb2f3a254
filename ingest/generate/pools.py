"""Shared addresses: carrier NATs, VPN and proxy exits, Tor, and the address pools of groups.

A few mobile carrier-grade NAT addresses per carrier carry many subscribers; a handful of
VPN exits per provider carry every subscriber; residential-proxy exits are real home and
phone lines (the intel feed knows most, not all); datacenter proxies and Tor exits sit in
hosting ASes. Groups have pools of their own: office NATs, homes, labs, rented subnets.
Every shared address is planned up front; each chunk marks the ones it used, and addresses
of a single account are allocated per chunk after them (`AddressPools.allocate_own`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import cumcount, weighted_choice
from .constants import (
    CATEGORIES,
    CATEGORY_CODE,
    DCPROXY_FIRST,
    DCPROXY_PROVIDERS,
    IP_TYPE_CODE,
    RESPROXY_FIRST,
    RESPROXY_PROVIDERS,
    VPN_FIRST,
    VPN_PROVIDERS,
)
from .difficulty import Difficulty
from .networks import (
    AS_TABLE,
    BUSINESS_AS,
    HOSTING_AS,
    MOBILE_AS,
    MOBILE_COUNT,
    N_AS,
    RESIDENTIAL_AS,
    RESIDENTIAL_COUNT,
    UNIVERSITY_AS,
    ip_strings,
)
from .population import GroupTraits, Population
from .reference import COUNTRIES, COUNTRY_INDEX, COUNTRY_WEIGHT

__all__ = ["AddressPools", "PoolBuilder", "plan_pools"]

# group kind -> range of its pool size (virtual-card rings: one address per 4-9 accounts, at least 3)
_GROUP_POOL_SIZE = (
    ("team", 1, 5),
    ("household", 1, 3),
    ("researcher", 1, 3),
    ("farm_small_prepaid", 2, 6),
    ("farm_company", 1, 4),
)


class PoolBuilder:
    """Allocates shared addresses: (AS, type, provider, IPv6 or not) per address."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.asn: list[np.ndarray] = []
        self.ip_type: list[np.ndarray] = []
        self.provider: list[np.ndarray] = []
        self.v6: list[np.ndarray] = []
        self.size = 0

    def add(
        self, asn: np.ndarray, ip_type: int | np.ndarray, provider: int | np.ndarray, v6_share: float
    ) -> tuple[int, int]:
        """Append addresses in the ASes `asn`; returns (first index, count)."""
        asn = np.asarray(asn, np.int64)
        count = len(asn)
        self.asn.append(asn)
        self.ip_type.append(np.broadcast_to(np.asarray(ip_type, np.int8), (count,)).copy())
        self.provider.append(np.broadcast_to(np.asarray(provider, np.int8), (count,)).copy())
        self.v6.append(self.rng.random(count) < v6_share)
        start = self.size
        self.size += count
        return start, count


@dataclass
class AddressPools:
    """Every shared address (AS, type code, provider code, text, used by some chunk yet),
    where each pool lies in it, and the allocation state of addresses of one account:
    the next free local index per AS and how many were allocated."""

    asn: np.ndarray
    ip_type: np.ndarray
    provider: np.ndarray
    ip: np.ndarray
    used: np.ndarray
    asn_next: np.ndarray
    cgnat_start: np.ndarray  # country x carrier
    cgnat_count: np.ndarray
    vpn: np.ndarray  # provider x (start, count)
    resproxy: np.ndarray
    dcproxy: np.ndarray
    tor: tuple[int, int]
    group_start: np.ndarray
    group_count: np.ndarray
    group_proxy_providers: np.ndarray  # ring x 2 residential-proxy services it rents from
    group_dc_provider: np.ndarray  # ring's datacenter-proxy service
    own_serial: int = 0

    def allocate_own(self, asn: np.ndarray) -> tuple[np.ndarray, int]:
        """Allocate new addresses of one account in the ASes `asn`: (local index inside
        its AS of each, key of the first; the others follow it)."""
        local = self.asn_next[asn] + cumcount(asn)
        self.asn_next += np.bincount(asn, minlength=N_AS)
        first_key = len(self.ip) + self.own_serial
        self.own_serial += len(asn)
        return local, first_key


def _cgnat_pools(builder: PoolBuilder, country: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Carrier-grade NAT: a few addresses per carrier for many subscribers."""
    accounts = np.bincount(country, minlength=len(COUNTRIES))
    start = np.zeros((len(COUNTRIES), 2), np.int64)
    count = np.zeros((len(COUNTRIES), 2), np.int64)
    for country in range(len(COUNTRIES)):
        for carrier in range(MOBILE_COUNT[country]):
            size = max(4, round(accounts[country] * 0.004 / MOBILE_COUNT[country]))
            addresses = np.full(size, MOBILE_AS[country, carrier])
            pool = builder.add(addresses, IP_TYPE_CODE["mobile"], -1, 0.0)
            start[country, carrier], count[country, carrier] = pool
    return start, count


def _vpn_exits(rng: np.random.Generator, builder: PoolBuilder, n_accounts: int) -> np.ndarray:
    """A handful of exits per VPN provider carry every subscriber."""
    pools = []
    for provider in range(len(VPN_PROVIDERS)):
        size = max(8, round(n_accounts * 0.00002))
        hosts = HOSTING_AS[rng.integers(0, len(HOSTING_AS), size)]
        pools.append(builder.add(hosts, IP_TYPE_CODE["vpn"], VPN_FIRST + provider, 0.1))
    return np.array(pools)


def _resproxy_exits(rng: np.random.Generator, builder: PoolBuilder, n_accounts: int, factor: float = 1.0) -> np.ndarray:
    """Residential exits are real home and phone lines (US-heavy); the intel feed knows
    80 % of them as the provider's, a third of those typed as proxies. `factor` scales
    every service's pool (harder worlds: larger pools, each exit seen by fewer accounts)."""
    pools = []
    country_weight = COUNTRY_WEIGHT + np.eye(len(COUNTRIES))[COUNTRY_INDEX["US"]] * 0.2
    for provider in range(len(RESPROXY_PROVIDERS)):
        size = max(round(300 * factor), round(n_accounts * 0.01 * factor))
        country = weighted_choice(rng, country_weight, size)
        mobile = rng.random(size) < 0.15
        isp = RESIDENTIAL_AS[country, np.floor(rng.random(size) * RESIDENTIAL_COUNT[country]).astype(int)]
        asn = np.where(mobile, MOBILE_AS[country, 0], isp)
        natural = np.where(mobile, IP_TYPE_CODE["mobile"], IP_TYPE_CODE["residential"])
        known = rng.random(size) < 0.8  # the intel feed does not know every exit
        ip_type = np.where(known & (rng.random(size) < 0.3), IP_TYPE_CODE["proxy"], natural)
        pools.append(builder.add(asn, ip_type, np.where(known, RESPROXY_FIRST + provider, -1), 0.1))
    return np.array(pools)


def _dcproxy_exits(rng: np.random.Generator, builder: PoolBuilder, n_accounts: int) -> np.ndarray:
    pools = []
    for provider in range(len(DCPROXY_PROVIDERS)):
        size = max(20, round(n_accounts * 0.0005))
        hosts = HOSTING_AS[rng.integers(0, len(HOSTING_AS), size)]
        pools.append(builder.add(hosts, IP_TYPE_CODE["proxy"], DCPROXY_FIRST + provider, 0.0))
    return np.array(pools)


def _group_pool_sizes(rng: np.random.Generator, population: Population) -> np.ndarray:
    kind = population.group_kind
    size = np.zeros(population.n_groups, np.int64)
    for name, low, high in _GROUP_POOL_SIZE:
        members = kind == CATEGORY_CODE[name]
        size[members] = rng.integers(low, high, members.sum())
    virtual = kind == CATEGORY_CODE["farm_virtual_cards"]
    size[virtual] = np.maximum(3, population.group_size[virtual] // rng.integers(4, 10, virtual.sum()))
    return size


def _group_networks(
    rng: np.random.Generator, population: Population, traits: GroupTraits
) -> tuple[np.ndarray, np.ndarray]:
    """(AS, IP type) of every group's pool: a business ISP of the company's country, the
    household's ISP, the university, or a hosting provider for rings."""
    n_groups = population.n_groups
    asn = np.zeros(n_groups, np.int64)
    ip_type = np.zeros(n_groups, np.int64)
    local_business = {int(AS_TABLE.country[as_index]): as_index for as_index in BUSINESS_AS}
    for group in range(n_groups):
        kind = CATEGORIES[population.group_kind[group]]
        country = traits.country[group]
        if kind in ("team", "farm_company"):
            fallback = BUSINESS_AS[rng.integers(0, len(BUSINESS_AS))]  # drawn even when not needed
            asn[group] = local_business.get(int(country), fallback)
            ip_type[group] = IP_TYPE_CODE["business"]
        elif kind == "household":
            asn[group] = RESIDENTIAL_AS[country, rng.integers(0, RESIDENTIAL_COUNT[country])]
            ip_type[group] = IP_TYPE_CODE["residential"]
        elif kind == "researcher":
            asn[group] = UNIVERSITY_AS[traits.university[group]]
            ip_type[group] = IP_TYPE_CODE["business"]
        else:
            asn[group] = HOSTING_AS[rng.integers(0, len(HOSTING_AS))]
            ip_type[group] = IP_TYPE_CODE["datacenter"]
    return asn, ip_type


def _group_pools(
    rng: np.random.Generator, builder: PoolBuilder, population: Population, traits: GroupTraits
) -> tuple[np.ndarray, np.ndarray]:
    """(first address, count) of every group's pool; households have more IPv6."""
    size = _group_pool_sizes(rng, population)
    asn, ip_type = _group_networks(rng, population, traits)
    owner = np.repeat(np.arange(population.n_groups), size)
    v6_share = np.where(population.group_kind[owner] == CATEGORY_CODE["household"], 0.2, 0.05)
    start, _ = builder.add(asn[owner], ip_type[owner], -1, 0.0)
    builder.v6[-1] = rng.random(len(owner)) < v6_share  # redrawn with the per-group share
    return start + np.r_[0, np.cumsum(size)[:-1]], size


def plan_pools(
    rng: np.random.Generator,
    population: Population,
    traits: GroupTraits,
    country: np.ndarray,
    key: np.uint64,
    difficulty: Difficulty = Difficulty(),
) -> AddressPools:
    """Plan every shared address of the world and spell it (`key` salts IPv6 interface ids)."""
    n_accounts, n_groups = population.n_accounts, population.n_groups
    builder = PoolBuilder(rng)
    cgnat_start, cgnat_count = _cgnat_pools(builder, country)
    vpn = _vpn_exits(rng, builder, n_accounts)
    resproxy = _resproxy_exits(rng, builder, n_accounts, difficulty.resproxy_pool_factor)
    dcproxy = _dcproxy_exits(rng, builder, n_accounts)
    tor = builder.add(HOSTING_AS[rng.integers(0, len(HOSTING_AS), 30)], IP_TYPE_CODE["tor"], -1, 0.0)
    group_start, group_count = _group_pools(rng, builder, population, traits)
    proxy_providers = rng.integers(0, len(RESPROXY_PROVIDERS), (n_groups, 2))  # proxy services of a ring
    dc_provider = rng.integers(0, len(DCPROXY_PROVIDERS), n_groups)
    asn = np.concatenate(builder.asn)
    return AddressPools(
        asn=asn,
        ip_type=np.concatenate(builder.ip_type),
        provider=np.concatenate(builder.provider),
        ip=ip_strings(asn, cumcount(asn), np.concatenate(builder.v6), key),
        used=np.zeros(len(asn), bool),
        asn_next=np.bincount(asn, minlength=N_AS).astype(np.int64),
        cgnat_start=cgnat_start,
        cgnat_count=cgnat_count,
        vpn=vpn,
        resproxy=resproxy,
        dcproxy=dcproxy,
        tor=tor,
        group_start=group_start,
        group_count=group_count,
        group_proxy_providers=proxy_providers,
        group_dc_provider=dc_provider,
    )
