"""The world plan: the whole population, decided before any row is written.

`plan_world(n_accounts, seed)` runs the planning steps in a fixed order on one numpy
Generator seeded with [seed, 0]: rings by style, benign groups, the layout of accounts,
group traits, countries, sign-up and activity windows, plans, e-mail domains, the
template catalogue, shared payment instruments, shared address pools, and the output
order. The order of the steps is part of the output: changing it changes every file.
O(n) numpy, a few dozen bytes per account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .benign import draw_benign_groups
from .difficulty import Difficulty
from .domains import plan_domains
from .encoding import mix64
from .farms import draw_rings
from .instruments import GroupInstruments, plan_instruments
from .pools import AddressPools, plan_pools
from .population import GroupTraits, Population, draw_countries, draw_group_traits, draw_plans, lay_out_population
from .templates import TemplateCatalogue, plan_templates
from .timeline import plan_timeline

__all__ = ["World", "plan_world", "world_key"]


@dataclass
class World:
    """Everything decided about a world. Per-account arrays are in the structured order of
    `population`; `order` maps an output position to an account. `pools` also holds the
    state chunks update (addresses used, addresses allocated)."""

    n_accounts: int
    seed: int
    key: np.uint64  # salts every hashed id of this world
    population: Population
    traits: GroupTraits
    country: np.ndarray  # where the account really is
    claimed_country: np.ndarray  # what it claims (-1: empty)
    created: np.ndarray
    end: np.ndarray
    plan: np.ndarray
    domain: np.ndarray
    domains: list[str]
    templates: TemplateCatalogue
    instruments: GroupInstruments
    pools: AddressPools
    order: np.ndarray
    difficulty: Difficulty = field(default_factory=Difficulty)


def world_key(seed: int) -> np.uint64:
    """The hashing key of the world of `seed`."""
    return mix64(np.array([seed * 0x1000193 + 17]))[0]


def plan_world(n_accounts: int, seed: int, difficulty: Difficulty | None = None) -> World:
    """Decide every account's category, group, country, plan, e-mail domain, sign-up and
    activity window, and every group's and shared pool's resources. `difficulty` (default:
    level 0) sets how hard the farms are to find (ingest.generate.difficulty)."""
    difficulty = difficulty or Difficulty()
    rng = np.random.default_rng([seed, 0])
    key = world_key(seed)
    rings = draw_rings(rng, n_accounts)
    benign = draw_benign_groups(rng, n_accounts - sum(size for _, size in rings))
    population = lay_out_population(n_accounts, rings, benign)
    traits = draw_group_traits(rng, population)
    country, claimed_country = draw_countries(rng, population, traits)
    created, end = plan_timeline(rng, population, traits, country, difficulty)
    plan = draw_plans(rng, population, traits)
    domain, domains = plan_domains(rng, population, traits, country)
    templates = plan_templates(rng, population, traits, difficulty)
    instruments = plan_instruments(rng, population, traits)
    pools = plan_pools(rng, population, traits, country, key, difficulty)
    order = rng.permutation(n_accounts)  # a shuffle, so no file reveals the structure by row order
    return World(
        n_accounts=n_accounts,
        seed=seed,
        key=key,
        population=population,
        traits=traits,
        country=country,
        claimed_country=claimed_country,
        created=created,
        end=end,
        plan=plan,
        domain=domain,
        domains=domains,
        templates=templates,
        instruments=instruments,
        pools=pools,
        order=order,
        difficulty=difficulty,
    )
