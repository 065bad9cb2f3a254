"""Who is who: the layout of accounts into groups, the traits of groups, countries and plans.

Accounts are laid out in a structured order (rings, teams, households, labs, then the
individuals of each category); the output order is a separate shuffle. A group is a ring
(groups 0 .. n_ring-1), a team, a household or a university lab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import weighted_choice
from .constants import CATEGORY_CODE, INDIVIDUAL, MIN_ACCOUNTS, PLAN_CODE
from .reference import COUNTRIES, COUNTRY_INDEX, COUNTRY_WEIGHT, UNIVERSITIES

__all__ = [
    "BenignGroups",
    "GroupTraits",
    "Population",
    "draw_countries",
    "draw_group_traits",
    "draw_plans",
    "lay_out_population",
]

# plan weights (free, pro, team, api, enterprise); teams and farm companies take team or enterprise
_DEFAULT_PLAN = [55, 35, 0, 10, 0]
_PLAN_WEIGHTS = (("researcher", [10, 40, 0, 50, 0]), ("app_user", [45, 30, 0, 25, 0]))
_FARM_PLAN_WEIGHTS = (
    ("farm_small_prepaid", [0, 40, 0, 60, 0]),
    ("farm_resproxy_pool", [40, 60, 0, 0, 0]),
    ("farm_virtual_cards", [0, 60, 0, 40, 0]),
    ("farm_hydra", [70, 30, 0, 0, 0]),
)


@dataclass(frozen=True)
class BenignGroups:
    """Accounts wanted per benign category, and the sizes of teams, households and labs."""

    wanted: dict[str, int]
    teams: list[int]
    households: list[int]
    labs: list[int]


@dataclass(frozen=True)
class Population:
    """Per account (structured order): category code, group (-1: none), group or 0
    (`group_of`, for indexing), rank inside its group, whether in a group / in a ring.
    Per group: category code and size. Rings are groups 0 .. n_ring-1."""

    n_accounts: int
    category: np.ndarray
    group: np.ndarray
    group_of: np.ndarray
    rank: np.ndarray
    in_group: np.ndarray
    is_ring: np.ndarray
    group_kind: np.ndarray
    group_size: np.ndarray
    n_ring: int
    ring_styles: list[str]
    ring_sizes: list[int]
    individuals: dict[str, int]  # accounts per category outside any group

    @property
    def n_groups(self) -> int:
        """How many groups (rings, teams, households, labs)."""
        return len(self.group_kind)


def _individual_counts(n_benign: int, benign: BenignGroups) -> dict[str, int]:
    """Accounts per category outside any group; `normal` takes what is left."""
    individuals = {c: benign.wanted[c] for c in ("vpn_user", "resproxy_user", "mobile_nat", "app_user")}
    individuals["researcher"] = benign.wanted["researcher"] - sum(benign.labs)
    in_groups = sum(benign.teams) + sum(benign.households) + sum(benign.labs)
    individuals["normal"] = n_benign - in_groups - sum(individuals.values())
    return individuals


def lay_out_population(n_accounts: int, rings: list[tuple[str, int]], benign: BenignGroups) -> Population:
    """Lay `n_accounts` out as the rings, the benign groups and the individuals.

    Raises ValueError when the world is too small for its groups to leave enough normal users."""
    code = CATEGORY_CODE
    n_benign = n_accounts - sum(size for _, size in rings)
    groups = (
        [(code[style], size) for style, size in rings]
        + [(code["team"], size) for size in benign.teams]
        + [(code["household"], size) for size in benign.households]
        + [(code["researcher"], size) for size in benign.labs]
    )
    group_kind = np.array([kind for kind, _ in groups], np.int8)
    group_size = np.array([size for _, size in groups], np.int64)
    individuals = _individual_counts(n_benign, benign)
    if individuals["normal"] < 0.3 * n_benign:
        raise ValueError(f"world of {n_accounts} accounts is too small (at least {MIN_ACCOUNTS})")
    individual_category = np.concatenate([np.full(individuals[c], code[c], np.int8) for c in INDIVIDUAL])
    category = np.concatenate([np.repeat(group_kind, group_size), individual_category])
    group = np.r_[np.repeat(np.arange(len(groups)), group_size), np.full(len(individual_category), -1)]
    group = group.astype(np.int64)
    assert len(category) == n_accounts
    group_first = np.r_[0, np.cumsum(group_size)[:-1]]
    in_group = group >= 0
    group_of = np.maximum(group, 0)
    return Population(
        n_accounts=n_accounts,
        category=category,
        group=group,
        group_of=group_of,
        rank=np.where(in_group, np.arange(n_accounts) - group_first[group_of], 0),
        in_group=in_group,
        is_ring=in_group & (group < len(rings)),
        group_kind=group_kind,
        group_size=group_size,
        n_ring=len(rings),
        ring_styles=[style for style, _ in rings],
        ring_sizes=[size for _, size in rings],
        individuals=individuals,
    )


@dataclass(frozen=True)
class GroupTraits:
    """Per group: country, university (-1: not a lab), AI dev shop (teams), enterprise plan."""

    country: np.ndarray
    university: np.ndarray
    ai_shop: np.ndarray
    enterprise: np.ndarray


def draw_group_traits(rng: np.random.Generator, population: Population) -> GroupTraits:
    """Draw every group's country (a lab's is its university's) and traits."""
    n_groups, kind = population.n_groups, population.group_kind
    country = weighted_choice(rng, COUNTRY_WEIGHT, n_groups)
    university = np.full(n_groups, -1)
    labs = np.flatnonzero(kind == CATEGORY_CODE["researcher"])
    university[labs] = rng.integers(0, len(UNIVERSITIES), len(labs))
    country[labs] = [COUNTRY_INDEX[UNIVERSITIES[index][1]] for index in university[labs]]
    return GroupTraits(
        country=country,
        university=university,
        ai_shop=(kind == CATEGORY_CODE["team"]) & (rng.random(n_groups) < 0.2),
        enterprise=rng.random(n_groups) < 0.25,
    )


def draw_countries(
    rng: np.random.Generator, population: Population, traits: GroupTraits
) -> tuple[np.ndarray, np.ndarray]:
    """(true country, claimed country or -1) per account. Group members mostly live in
    their group's country; most of a ring claims one country per ring (often the US)."""
    n_accounts, n_groups = population.n_accounts, population.n_groups
    in_group, is_ring, group = population.in_group, population.is_ring, population.group_of
    country = weighted_choice(rng, COUNTRY_WEIGHT, n_accounts)
    roaming = (population.category == CATEGORY_CODE["researcher"]) & ~in_group & (rng.random(n_accounts) < 0.5)
    country[roaming] = rng.integers(0, len(COUNTRIES), roaming.sum())  # researchers are everywhere
    stay = in_group & ~is_ring & (rng.random(n_accounts) < 0.93)
    country[stay] = traits.country[group[stay]]
    ring_home = np.where(
        rng.random(n_groups) < 0.5, COUNTRY_INDEX["US"], weighted_choice(rng, COUNTRY_WEIGHT, n_groups)
    )
    claim = is_ring & (rng.random(n_accounts) < 0.7)
    country[claim] = ring_home[group[claim]]
    claimed = np.where((~in_group) & (rng.random(n_accounts) < 0.02), -1, country)
    return country, claimed


def draw_plans(rng: np.random.Generator, population: Population, traits: GroupTraits) -> np.ndarray:
    """Plan code per account; a company's members share its team or enterprise plan."""
    category = population.category
    plan = weighted_choice(rng, _DEFAULT_PLAN, population.n_accounts)
    for name, weights in _PLAN_WEIGHTS:
        members = category == CATEGORY_CODE[name]
        plan[members] = weighted_choice(rng, weights, members.sum())
    company = (category == CATEGORY_CODE["team"]) | (category == CATEGORY_CODE["farm_company"])
    plan[company] = np.where(
        traits.enterprise[population.group_of[company]], PLAN_CODE["enterprise"], PLAN_CODE["team"]
    )
    for style, weights in _FARM_PLAN_WEIGHTS:
        members = category == CATEGORY_CODE[style]
        plan[members] = weighted_choice(rng, weights, members.sum())
    return plan
