"""Rows of `ip_sightings` and `ip_intel` for one chunk.

Each category has its own habits: normal and app users their home lines, sometimes a phone
(carrier NAT or IPv6), a VPN, a cloud box, Tor; households and teams their group's pool;
VPN and residential-proxy users the very exits farms use; mobile users carrier NATs;
researchers lab pools and cloud machines. Farms use rented subnets, datacenter proxies or
their ring's residential-proxy services. Addresses of one account are allocated fresh (the
next local indices of their AS); shared ones come from the planned pools. A sighting's
requests split the account's template volume; intel rows list the fresh addresses (the
shared ones are written once, at the end of the world).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.files import iso_utc

from .arrays import RowParts, aggregate, expand, ones, pick_window, row_times, sample, weighted_choice
from .chunk import Chunk
from .constants import DCPROXY_PROVIDERS, IP_TYPE_CODE, IP_TYPES, PLAN_CODE, PROVIDERS, VPN_PROVIDERS
from .encoding import code_strings
from .networks import AS_TABLE, HOSTING_AS, MOBILE_AS, MOBILE_COUNT, RESIDENTIAL_AS, RESIDENTIAL_COUNT, ip_strings
from .plan import World

__all__ = ["AddressDraws", "address_rows", "intel_table"]

_VPN_POPULARITY = [30, 25, 15, 12, 10, 8]
_RESPROXY_POPULARITY = [35, 25, 15, 15, 10]


class AddressDraws:
    """Collects one chunk's address rows: picks from shared pools (`shared`, keyed by pool
    index) and fresh addresses of one account (`own_*`, allocated at the end)."""

    def __init__(self, rng: np.random.Generator, world: World, chunk: Chunk):
        self.rng = rng
        self.pools = world.pools
        self.difficulty = world.difficulty
        self.chunk = chunk
        self.shared = RowParts()
        self.own_account: list[np.ndarray] = []
        self.own_asn: list[np.ndarray] = []
        self.own_type: list[np.ndarray] = []
        self.own_v6: list[np.ndarray] = []
        self.own_weight: list[np.ndarray] = []

    def maybe(self, members: np.ndarray, share: float) -> np.ndarray:
        """Each member kept with probability `share`."""
        return sample(self.rng, members, share)

    def own(
        self, accounts: np.ndarray, asn: np.ndarray, ip_type: int, v6_share: float, weight: float | np.ndarray
    ) -> None:
        """A fresh address in AS `asn` for each of `accounts` (1 % typed unknown by the feed)."""
        rng = self.rng
        self.own_account.append(accounts)
        self.own_asn.append(np.asarray(asn, np.int64))
        typed = np.broadcast_to(np.asarray(ip_type, np.int64), (len(accounts),)).copy()
        typed[rng.random(len(accounts)) < 0.01] = IP_TYPE_CODE["unknown"]
        self.own_type.append(typed)
        self.own_v6.append(rng.random(len(accounts)) < v6_share)
        self.own_weight.append(np.broadcast_to(np.asarray(weight, float), (len(accounts),)))

    def home(self, members: np.ndarray, count: np.ndarray, weight: float = 3.0) -> None:
        """`count` own residential lines per member, of an ISP of its country."""
        owner, _ = expand(count)
        account = members[owner]
        country = self.chunk.country[account]
        isp = RESIDENTIAL_AS[country, np.floor(self.rng.random(len(account)) * RESIDENTIAL_COUNT[country]).astype(int)]
        self.own(account, isp, IP_TYPE_CODE["residential"], 0.2, weight)

    def cgnat(self, members: np.ndarray, count: np.ndarray) -> None:
        """`count` carrier-NAT addresses per member, of a carrier of its country."""
        rng = self.rng
        owner, _ = expand(count)
        account = members[owner]
        country = self.chunk.country[account]
        carrier = np.floor(rng.random(len(account)) * MOBILE_COUNT[country]).astype(int)
        start, size = self.pools.cgnat_start[country, carrier], self.pools.cgnat_count[country, carrier]
        self.shared.add(account, start + np.floor(rng.random(len(account)) * size).astype(np.int64), weight=1.0)

    def mobile_v6(self, members: np.ndarray) -> None:
        """An own IPv6 phone address per member, of its country's first carrier."""
        self.own(members, MOBILE_AS[self.chunk.country[members], 0], IP_TYPE_CODE["mobile"], 1.0, 1.0)

    def exits(
        self, members: np.ndarray, pool: np.ndarray, provider: np.ndarray, count: np.ndarray, weight: float = 1.0
    ) -> None:
        """`count` exits per member of `pool` (provider x (start, count)); `provider` per member."""
        owner, _ = expand(count)
        account = members[owner]
        start, size = pool[provider[owner], 0], pool[provider[owner], 1]
        self.shared.add(account, start + np.floor(self.rng.random(len(account)) * size).astype(np.int64), weight=weight)

    def datacenter(self, members: np.ndarray, count: np.ndarray) -> None:
        """`count` own cloud machines per member."""
        owner, _ = expand(count)
        hosts = HOSTING_AS[self.rng.integers(0, len(HOSTING_AS), len(owner))]
        self.own(members[owner], hosts, IP_TYPE_CODE["datacenter"], 0.1, 1.0)

    def group_ips(self, members: np.ndarray, count: np.ndarray, weight: float = 3.0) -> None:
        """A window of `count` addresses of the member's group pool."""
        group = self.chunk.group_of[members]
        account, key = pick_window(
            self.rng, members, self.pools.group_start[group], self.pools.group_count[group], count
        )
        self.shared.add(account, key, weight=weight)

    def tor(self, members: np.ndarray) -> None:
        """A Tor exit per member."""
        start, size = self.pools.tor
        self.shared.add(members, start + self.rng.integers(0, size, len(members)), weight=1.0)


def _individual_users(draws: AddressDraws, chunk: Chunk) -> None:
    """Normal and app users: home lines, sometimes a phone, a VPN, a cloud box, Tor."""
    rng = draws.rng
    for name in ("normal", "app_user"):
        members = chunk.members[name]
        draws.home(members, 1 + rng.binomial(2, 0.35 if name == "normal" else 0.2, len(members)))
        some = draws.maybe(members, 0.3 if name == "normal" else 0.4)
        draws.cgnat(some, ones(some))
        draws.mobile_v6(draws.maybe(members, 0.1))
        some = draws.maybe(members, 0.03)
        draws.exits(some, draws.pools.vpn, rng.integers(0, len(VPN_PROVIDERS), len(some)), ones(some))
        is_api = chunk.plan[members] == PLAN_CODE["api"]
        some = np.r_[draws.maybe(members[is_api], 0.25), draws.maybe(members[~is_api], 0.01)]
        draws.datacenter(some, ones(some))
        draws.tor(draws.maybe(members, 0.003))


def _households_and_teams(draws: AddressDraws, chunk: Chunk) -> None:
    """Households and teams: their group's pool, sometimes a home line or a phone."""
    members = chunk.members["household"]
    draws.group_ips(members, draws.pools.group_count[chunk.group_of[members]])
    some = draws.maybe(members, 0.4)
    draws.cgnat(some, ones(some))
    some = draws.maybe(members, 0.1)
    draws.home(some, ones(some), 1.0)
    members = chunk.members["team"]
    draws.group_ips(members, draws.rng.integers(1, 4, len(members)))
    some = draws.maybe(members, 0.4)
    draws.home(some, ones(some), 1.0)
    some = draws.maybe(members, 0.2)
    draws.cgnat(some, ones(some))


def _vpn_and_proxy_users(draws: AddressDraws, chunk: Chunk) -> None:
    """VPN users on a few exits of their provider; benign residential-proxy users on the
    exits farms use too."""
    rng, pools = draws.rng, draws.pools
    members = chunk.members["vpn_user"]
    provider = weighted_choice(rng, _VPN_POPULARITY, len(members))
    draws.exits(members, pools.vpn, provider, rng.integers(1, 4, len(members)), weight=3.0)
    some = draws.maybe(members, 0.1)
    draws.exits(some, pools.vpn, rng.integers(0, len(VPN_PROVIDERS), len(some)), ones(some))
    some = draws.maybe(members, 0.5)
    draws.home(some, ones(some), 1.0)
    some = draws.maybe(members, 0.2)
    draws.cgnat(some, ones(some))
    members = chunk.members["resproxy_user"]
    provider = weighted_choice(rng, _RESPROXY_POPULARITY, len(members))
    draws.exits(members, pools.resproxy, provider, rng.integers(2, 9, len(members)), weight=2.0)
    some = draws.maybe(members, 0.4)
    draws.home(some, ones(some), 1.0)
    some = draws.maybe(members, 0.1)
    draws.exits(some, pools.dcproxy, rng.integers(0, len(DCPROXY_PROVIDERS), len(some)), ones(some))


def _mobile_users_and_researchers(draws: AddressDraws, chunk: Chunk) -> None:
    """Mobile users behind carrier NATs; researchers in labs, at home, on cloud machines."""
    rng = draws.rng
    members = chunk.members["mobile_nat"]
    draws.cgnat(members, rng.integers(1, 4, len(members)))
    some = draws.maybe(members, 0.3)
    draws.home(some, ones(some), 1.0)
    draws.mobile_v6(draws.maybe(members, 0.3))
    members = chunk.members["researcher"]
    lab = members[chunk.group[members] >= 0]
    draws.group_ips(lab, draws.pools.group_count[chunk.group_of[lab]])
    some = draws.maybe(lab, 0.5)
    draws.home(some, ones(some), 1.0)
    solo = members[chunk.group[members] < 0]
    draws.home(solo, rng.integers(1, 3, len(solo)))
    some = draws.maybe(solo, 0.3)
    draws.datacenter(some, rng.integers(1, 3, len(some)))  # eval jobs on cloud machines
    some = draws.maybe(members, 0.2)
    draws.cgnat(some, ones(some))


def _farms(draws: AddressDraws, chunk: Chunk) -> None:
    """Rented subnets, datacenter proxies and the ring's residential-proxy services."""
    rng, pools = draws.rng, draws.pools
    for name in ("farm_small_prepaid", "farm_company"):
        members = chunk.members[name]
        draws.group_ips(members, rng.integers(1, 3, len(members)))
    members = chunk.members["farm_virtual_cards"]
    draws.group_ips(members, rng.integers(1, 3, len(members)))
    some = draws.maybe(members, 0.3)
    draws.exits(some, pools.dcproxy, pools.group_dc_provider[chunk.group_of[some]], ones(some))
    knobs = draws.difficulty
    members = chunk.members["farm_resproxy_pool"]
    provider = pools.group_proxy_providers[chunk.group_of[members], 0]
    draws.exits(members, pools.resproxy, provider, rng.integers(*knobs.pool_exits, len(members)))
    members = chunk.members["farm_hydra"]
    owner, _ = expand(rng.integers(*knobs.hydra_exits, len(members)))
    account = members[owner]
    provider = pools.group_proxy_providers[chunk.group_of[account], rng.integers(0, 2, len(account))]
    draws.exits(account, pools.resproxy, provider, ones(account))


def intel_table(ip: np.ndarray, as_index: np.ndarray, ip_type: np.ndarray, provider: np.ndarray) -> pa.Table:
    """`ip_intel` rows: address, AS number and organisation, IP type, proxy provider (-1: none)."""
    return pa.table(
        {
            "ip": pa.array(ip, pa.string()),
            "asn": pa.array(AS_TABLE.number[as_index]),
            "as_org": code_strings(as_index, AS_TABLE.org),
            "ip_type": code_strings(ip_type, IP_TYPES),
            "proxy_provider": code_strings(provider, PROVIDERS),
        }
    )


def _sightings(
    rng: np.random.Generator, world: World, chunk: Chunk, draws: AddressDraws, total: np.ndarray
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """(ip_sightings table, fresh addresses' text, their AS); marks shared addresses used."""
    pools = world.pools
    own_account, own_asn = np.concatenate(draws.own_account), np.concatenate(draws.own_asn)
    local, first_key = pools.allocate_own(own_asn)
    draws.shared.add(own_account, first_key + np.arange(len(own_account)), weight=np.concatenate(draws.own_weight))
    own_ip = ip_strings(own_asn, local, np.concatenate(draws.own_v6), world.key)
    account, key, weight, _, _ = draws.shared.arrays()
    jitter = weight * rng.exponential(1.0, len(account))
    jitter_sum = np.bincount(account, jitter, minlength=chunk.size)
    requests = np.maximum(1, np.round(np.maximum(total[account], 1) * jitter / jitter_sum[account])).astype(np.int64)
    first, last = row_times(rng, chunk.created[account], chunk.end[account], requests)
    rows = aggregate(account, key, requests, first, last, np.zeros(len(account), np.int64))
    order = np.lexsort((rows[3], rows[0]))
    account, key, requests, first, last = (column[order] for column in rows[:5])
    is_pool = key < len(pools.ip)
    pools.used[key[is_pool]] = True
    ip = np.empty(len(key), dtype=object)
    ip[is_pool] = pools.ip[key[is_pool]]
    ip[~is_pool] = own_ip[key[~is_pool] - first_key]
    table = pa.table(
        {
            "account_id": chunk.account_id.take(pa.array(account)),
            "ip": pa.array(ip, pa.string()),
            "first_seen": iso_utc(first),
            "last_seen": iso_utc(last),
            "requests": pa.array(requests),
        }
    )
    return table, own_ip, own_asn


def address_rows(rng: np.random.Generator, world: World, chunk: Chunk, total: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """(ip_sightings, ip_intel of the chunk's fresh addresses); `total` is each account's
    template requests, which its sightings split."""
    draws = AddressDraws(rng, world, chunk)
    _individual_users(draws, chunk)
    _households_and_teams(draws, chunk)
    _vpn_and_proxy_users(draws, chunk)
    _mobile_users_and_researchers(draws, chunk)
    _farms(draws, chunk)
    sightings, own_ip, own_asn = _sightings(rng, world, chunk, draws, total)
    shuffle = rng.permutation(len(own_ip))
    own_type = np.concatenate(draws.own_type)
    intel = intel_table(own_ip[shuffle], own_asn[shuffle], own_type[shuffle], np.full(len(own_ip), -1))
    return sightings, intel
