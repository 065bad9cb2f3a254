"""Farms by style: how many rings of what size, when their accounts sign up, how long they
stay active, and the shape of their traffic.

Five styles share about 7 % of the world (`FARM_FRACTION`, `FARM_SHARE`). Rings other than
hydras sign up inside a tight window (hours for small prepaid farms, days to weeks for
the others); hydras sign up in waves a day or three after model releases. Each ring has a
typical number of private templates per account and requests per template, with a small
spread, so per-account volumes are uniform inside a ring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import CATEGORY_CODE, DAY, FARM_FRACTION, FARM_SHARE, FARM_SIZE, FARMS, HOUR, RELEASES, T0, T1
from .difficulty import Difficulty
from .population import Population

__all__ = ["RingTraffic", "draw_ring_traffic", "draw_rings", "ring_active_seconds", "ring_signups", "ring_sizes"]

# sign-up window of a ring: (style, low, high, unit); hydras sign up in waves instead
_SIGNUP_WINDOW = (
    ("farm_small_prepaid", 1, 3, HOUR),
    ("farm_resproxy_pool", 7, 21, DAY),
    ("farm_virtual_cards", 2, 5, DAY),
    ("farm_company", 1, 2, DAY),
)
# days a ring's accounts stay active
_ACTIVE_DAYS = {
    "farm_small_prepaid": (5, 30),
    "farm_resproxy_pool": (20, 60),
    "farm_virtual_cards": (10, 40),
    "farm_hydra": (3, 20),
    "farm_company": (30, 90),
}
# private templates per account, requests per template (ranges a ring's value is drawn from)
_TEMPLATES_PER_ACCOUNT = {
    "farm_small_prepaid": (4, 9),
    "farm_resproxy_pool": (3, 9),
    "farm_virtual_cards": (3, 9),
    "farm_hydra": (2, 6),
    "farm_company": (5, 13),
}
_REQUESTS_PER_TEMPLATE = {
    "farm_small_prepaid": (40, 150),
    "farm_resproxy_pool": (20, 80),
    "farm_virtual_cards": (30, 100),
    "farm_hydra": (5, 20),
    "farm_company": (50, 200),
}


def ring_sizes(rng: np.random.Generator, budget: int, low: int, high: int, smallest: int) -> list[int]:
    """Ring sizes drawn in [low, high] and rescaled to fill `budget`; at least one ring,
    which a small world scales down (never below `smallest`)."""
    n_rings = max(1, round(budget / ((low + high) / 2)))
    raw = rng.uniform(low, high, n_rings)
    sizes = np.maximum(smallest, np.round(raw * budget / raw.sum())).astype(int)
    return [int(size) for size in sizes]


def draw_rings(rng: np.random.Generator, n_accounts: int) -> list[tuple[str, int]]:
    """(style, size) of every ring of a world of `n_accounts`, in a shuffled order."""
    farm_budget = round(FARM_FRACTION * n_accounts)
    rings: list[tuple[str, int]] = []
    for style in FARMS:
        low, high, smallest = FARM_SIZE[style]
        budget = round(farm_budget * FARM_SHARE[style])
        rings += [(style, size) for size in ring_sizes(rng, budget, low, high, smallest)]
    return [rings[i] for i in rng.permutation(len(rings))]


def ring_signups(
    rng: np.random.Generator, created: np.ndarray, population: Population, difficulty: Difficulty = Difficulty()
) -> None:
    """Set the sign-up time of every ring member in `created` (in place): a window per ring,
    waves after model releases for hydras; a company that imitates a team has stragglers."""
    kind, group, n_groups = population.group_kind, population.group_of, population.n_groups
    start = rng.uniform(T0 + 10 * DAY, T1 - 30 * DAY, n_groups).astype(np.int64)
    span = np.select(
        [kind == CATEGORY_CODE[style] for style, _, _, _ in _SIGNUP_WINDOW],
        [rng.uniform(low, high, n_groups) * unit for _, low, high, unit in _SIGNUP_WINDOW],
        DAY,
    )
    windowed = population.is_ring & (population.category != CATEGORY_CODE["farm_hydra"])
    created[windowed] = start[group[windowed]] + rng.random(windowed.sum()) * span[group[windowed]]
    _hydra_waves(rng, created, population, difficulty)
    if difficulty.company_imitation > 0:
        _company_stragglers(rng, created, population, difficulty.company_imitation)


def _hydra_waves(
    rng: np.random.Generator, created: np.ndarray, population: Population, difficulty: Difficulty = Difficulty()
) -> None:
    """Hydra members sign up in 2-3 waves of a few days, a day or three after a release
    (harder worlds: more, longer and later waves)."""
    n_groups = population.n_groups
    hydra = population.category == CATEGORY_CODE["farm_hydra"]
    n_hydra = hydra.sum()
    member_group = population.group_of[hydra]
    wave_release = np.sort(rng.random((n_groups, len(RELEASES))).argsort(axis=1)[:, :3], axis=1)
    n_waves = rng.integers(*difficulty.hydra_waves, n_groups)
    wave = np.floor(rng.random(n_hydra) * n_waves[member_group]).astype(int)
    release = RELEASES[wave_release[member_group, wave]]
    offset = rng.uniform(*difficulty.hydra_wave_offset_days, (n_groups, 3)) * DAY
    length = rng.uniform(*difficulty.hydra_wave_days, (n_groups, 3)) * DAY
    created[hydra] = release + offset[member_group, wave] + rng.random(n_hydra) * length[member_group, wave]


def _company_stragglers(rng: np.random.Generator, created: np.ndarray, population: Population, share: float) -> None:
    """A farm dressed as a company, imitating a team's onboarding: up to 25 % of its members
    (at full imitation) sign up over the following weeks, like a team's late joiners."""
    company = np.flatnonzero(population.category == CATEGORY_CODE["farm_company"])
    late = company[rng.random(len(company)) < 0.25 * share]
    created[late] += rng.exponential(30 * DAY, len(late)).astype(np.int64)


def ring_active_seconds(rng: np.random.Generator, group_kind: np.ndarray) -> np.ndarray:
    """Per group: how long a ring's accounts stay active (0 for benign groups)."""
    n_groups = len(group_kind)
    days = np.select(
        [group_kind == CATEGORY_CODE[style] for style in FARMS],
        [rng.uniform(*_ACTIVE_DAYS[style], n_groups) for style in FARMS],
        0,
    )
    return days * DAY


@dataclass(frozen=True)
class RingTraffic:
    """Per group (zero for benign groups): private templates an account uses, mean requests
    per template, and the relative spread of those requests."""

    templates_per_account: np.ndarray
    requests_per_template: np.ndarray
    request_spread: np.ndarray


def draw_ring_traffic(
    rng: np.random.Generator, group_kind: np.ndarray, template_count: np.ndarray, difficulty: Difficulty = Difficulty()
) -> RingTraffic:
    """Draw every ring's traffic shape; an account never uses more templates than its ring has."""
    n_groups = len(group_kind)
    per_account = np.zeros(n_groups, np.int64)
    mean = np.zeros(n_groups)
    for style in FARMS:
        members = group_kind == CATEGORY_CODE[style]
        per_account[members] = rng.integers(
            *difficulty.templates_per_account(style, _TEMPLATES_PER_ACCOUNT[style]), members.sum()
        )
        mean[members] = rng.uniform(*_REQUESTS_PER_TEMPLATE[style], members.sum())
    return RingTraffic(
        templates_per_account=np.minimum(per_account, np.maximum(template_count, 1)),
        requests_per_template=mean,
        request_spread=rng.uniform(0.04, 0.15, n_groups),
    )
