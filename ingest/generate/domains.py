"""E-mail domains of accounts.

Individuals mostly use consumer webmail, some a local provider of their country, a few
a small company's domain or a disposable inbox. Companies (teams and farm companies) have
their own domain, labs their university's. Some farms use an operator catch-all domain
(two per ring), others disposable inboxes. Invented domains are word + word (+ number)
+ TLD, never repeated.
"""

from __future__ import annotations

import numpy as np

from .arrays import weighted_choice
from .constants import CATEGORY_CODE
from .population import GroupTraits, Population
from .reference import (
    CONSUMER_DOMAINS,
    COUNTRIES,
    COUNTRY_INDEX,
    DISPOSABLE_DOMAINS,
    DOMAIN_HEADS,
    DOMAIN_TAILS,
    LOCAL_DOMAINS,
    TLDS,
    UNIVERSITIES,
)

__all__ = ["DomainNames", "plan_domains"]

# farm style, share on an operator catch-all domain, share on a disposable inbox
_FARM_DOMAINS = (
    ("farm_resproxy_pool", 0.3, 0.05),
    ("farm_virtual_cards", 0.6, 0.05),
    ("farm_small_prepaid", 0.0, 0.4),
    ("farm_hydra", 0.0, 0.1),
)


class DomainNames:
    """The domain vocabulary of a world: consumer, disposable and local domains first,
    then invented and university ones as they are needed. A domain's code is its position."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.names: list[str] = [name for name, _ in CONSUMER_DOMAINS] + DISPOSABLE_DOMAINS
        self.consumer_weight = np.array([weight for _, weight in CONSUMER_DOMAINS], float)
        self.local_index = np.full((len(COUNTRIES), 3), -1)  # country x up to 3 local providers
        self.local_count = np.zeros(len(COUNTRIES), int)
        for country, names in LOCAL_DOMAINS.items():
            for j, name in enumerate(names):
                self.local_index[COUNTRY_INDEX[country], j] = self.add(name)
            self.local_count[COUNTRY_INDEX[country]] = len(names)
        self._seen = set(self.names)

    def add(self, name: str) -> int:
        """Append a known domain; returns its code."""
        self.names.append(name)
        return len(self.names) - 1

    def invent(self, count: int) -> list[int]:
        """Codes of `count` new invented domains."""
        rng = self.rng
        codes: list[int] = []
        while len(codes) < count:
            name = f"{rng.choice(DOMAIN_HEADS)}{rng.choice(DOMAIN_TAILS)}"
            if rng.random() < 0.2:
                name += str(rng.integers(2, 99))
            name = f"{name}.{rng.choice(TLDS)}"
            if name not in self._seen:
                self._seen.add(name)
                codes.append(self.add(name))
        return codes

    def disposable(self, count: int) -> np.ndarray:
        """Codes of `count` random disposable domains."""
        return len(CONSUMER_DOMAINS) + self.rng.integers(0, len(DISPOSABLE_DOMAINS), count)


def _personal_domains(
    rng: np.random.Generator, names: DomainNames, custom: np.ndarray, country: np.ndarray
) -> np.ndarray:
    """Everybody's own domain: consumer (78 %), local (15 %), small company, disposable."""
    share = rng.random(len(country))
    domain = weighted_choice(rng, names.consumer_weight, len(country))
    local = (share >= 0.78) & (share < 0.93) & (names.local_count[country] > 0)
    pick = np.floor(rng.random(local.sum()) * names.local_count[country[local]]).astype(int)
    domain[local] = names.local_index[country[local], pick]
    company = (share >= 0.93) & (share < 0.995)
    domain[company] = custom[rng.integers(0, len(custom), company.sum())]
    disposable = share >= 0.995
    domain[disposable] = names.disposable(disposable.sum())
    return domain


def _group_domains(names: DomainNames, population: Population, traits: GroupTraits) -> np.ndarray:
    """Per group: a company's own domain, a lab's university domain, else -1."""
    kind = population.group_kind
    group_domain = np.full(population.n_groups, -1)
    companies = np.flatnonzero((kind == CATEGORY_CODE["team"]) | (kind == CATEGORY_CODE["farm_company"]))
    group_domain[companies] = names.invent(len(companies))
    university_domain: dict[str, int] = {}
    for group in np.flatnonzero(kind == CATEGORY_CODE["researcher"]):
        name = UNIVERSITIES[traits.university[group]][2]
        if name not in university_domain:
            university_domain[name] = names.add(name)
        group_domain[group] = university_domain[name]
    return group_domain


def _farm_domains(rng: np.random.Generator, names: DomainNames, domain: np.ndarray, population: Population) -> None:
    """Operator catch-all domains on some farm accounts; disposable inboxes on others."""
    kind, category, group = population.group_kind, population.category, population.group_of
    operated = np.flatnonzero(np.isin(kind, [CATEGORY_CODE["farm_resproxy_pool"], CATEGORY_CODE["farm_virtual_cards"]]))
    operator_domain = np.full((population.n_groups, 2), -1)
    for ring in operated:
        operator_domain[ring] = names.invent(2)
    for style, operator_share, disposable_share in _FARM_DOMAINS:
        members = np.flatnonzero(category == CATEGORY_CODE[style])
        share = rng.random(len(members))
        on_operator = members[share < operator_share]
        domain[on_operator] = operator_domain[group[on_operator], rng.integers(0, 2, len(on_operator))]
        on_disposable = members[(share >= operator_share) & (share < operator_share + disposable_share)]
        domain[on_disposable] = names.disposable(len(on_disposable))


def plan_domains(
    rng: np.random.Generator, population: Population, traits: GroupTraits, country: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """(domain code per account, -1 for none; the domain names)."""
    n_accounts, category, group = population.n_accounts, population.category, population.group_of
    names = DomainNames(rng)
    custom = np.array(names.invent(max(20, n_accounts // 60)))
    domain = _personal_domains(rng, names, custom, country)
    group_domain = _group_domains(names, population, traits)
    company = (category == CATEGORY_CODE["team"]) | (category == CATEGORY_CODE["farm_company"])
    domain[company] = group_domain[group[company]]
    lab = (category == CATEGORY_CODE["researcher"]) & population.in_group & (rng.random(n_accounts) < 0.85)
    domain[lab] = group_domain[group[lab]]
    _farm_domains(rng, names, domain, population)
    domain[(~population.in_group) & (rng.random(n_accounts) < 0.01)] = -1
    return domain, names.names
