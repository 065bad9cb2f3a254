"""The catalogue of prompt templates: which ids exist, their capability, who may use them.

Template ids are laid out as: 600 popular public templates (Zipf popularity), 32 public
benchmarks (each a fixed number of items), the templates of third-party apps, then the
private pools of groups, rings first so farm templates form one contiguous id range.
Personal one-off templates are made per chunk in a namespace of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import weighted_choice
from .constants import CATEGORY_CODE
from .difficulty import Difficulty
from .farms import RingTraffic, draw_ring_traffic
from .population import GroupTraits, Population

__all__ = ["N_BENCHMARKS", "N_PUBLIC", "POPULAR_CAPABILITIES", "TemplateCatalogue", "plan_templates"]

N_PUBLIC = 600
N_BENCHMARKS = 32
# capability weights, in the order of constants.CAPS
POPULAR_CAPABILITIES = [30, 20, 15, 10, 12, 5, 5, 1, 1, 1]
_BENCHMARK_CAPABILITIES = [0, 0, 0, 0, 35, 55, 10, 0, 0, 0]
_APP_CAPABILITIES = [20, 30, 20, 10, 20, 0, 0, 0, 0, 0]  # coding assistants among them
_FARM_CAPABILITIES = [0, 0, 0, 0, 30, 30, 10, 15, 15, 0]
_AI_SHOP_CAPABILITIES = [0, 0, 5, 0, 45, 15, 5, 15, 15, 0]
_TEAM_CAPABILITIES = [15, 20, 25, 5, 5, 0, 20, 0, 0, 10]
_LAB_CAPABILITIES = [0, 0, 0, 0, 40, 50, 10, 0, 0, 0]
# private templates per group: a count range, or a share of the ring's size clipped to a range
_GROUP_TEMPLATES = {"team": (3, 21), "researcher": (2, 9), "farm_small_prepaid": (6, 21), "farm_company": (15, 61)}
_RING_TEMPLATES = (
    ("farm_resproxy_pool", (0.1, 0.3), 15, 250),
    ("farm_virtual_cards", (0.1, 0.3), 15, 250),
    ("farm_hydra", (0.05, 0.15), 25, 400),
)


@dataclass(frozen=True)
class TemplateCatalogue:
    """Capability code per template id; popularity CDFs of public templates and benchmarks;
    benchmark item counts; each app's and each group's id range; each account's app (-1:
    none); the farm id range [low, high); the rings' traffic shape."""

    capability: np.ndarray
    public_cdf: np.ndarray
    benchmark_start: int
    benchmark_items: np.ndarray
    benchmark_cdf: np.ndarray
    app_start: np.ndarray
    app_count: np.ndarray
    account_app: np.ndarray
    farm_range: tuple[int, int]
    group_start: np.ndarray
    group_count: np.ndarray
    ring_traffic: RingTraffic


def _zipf_cdf(count: int, exponent: float) -> np.ndarray:
    weight = 1.0 / np.arange(1, count + 1) ** exponent
    return np.cumsum(weight) / weight.sum()


def _plan_apps(
    rng: np.random.Generator, population: Population, first_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(capability per app template, first id and template count per app, app per account).
    One app per ~700 app users (3 to 80); most of an app's templates share its main use."""
    n_apps = int(np.clip(round(population.individuals["app_user"] / 700), 3, 80))
    app_count = rng.integers(3, 13, n_apps)
    app_start = first_id + np.r_[0, np.cumsum(app_count)[:-1]]
    main_use = weighted_choice(rng, _APP_CAPABILITIES, n_apps)
    n_templates = app_count.sum()
    capability = np.where(
        rng.random(n_templates) < 0.8,
        np.repeat(main_use, app_count),
        weighted_choice(rng, POPULAR_CAPABILITIES, n_templates),
    )
    account_app = np.full(population.n_accounts, -1)
    app_users = population.category == CATEGORY_CODE["app_user"]
    account_app[app_users] = weighted_choice(rng, 1.0 / np.arange(1, n_apps + 1) ** 1.1, app_users.sum())
    return capability, app_start, app_count, account_app


def _group_template_counts(
    rng: np.random.Generator, population: Population, difficulty: Difficulty = Difficulty()
) -> np.ndarray:
    """Private templates per group (0 for households); a harder hydra has a larger pool."""
    kind, size = population.group_kind, population.group_size
    count = np.zeros(population.n_groups, np.int64)
    for name, (low, high) in _GROUP_TEMPLATES.items():
        members = kind == CATEGORY_CODE[name]
        count[members] = rng.integers(low, high, members.sum())
    for style, share, low, high in _RING_TEMPLATES:
        if style == "farm_hydra":
            share, high = difficulty.hydra_template_share, difficulty.hydra_template_cap
        members = kind == CATEGORY_CODE[style]
        count[members] = np.clip(np.round(size[members] * rng.uniform(*share, members.sum())), low, high)
    return count


def _group_capabilities(
    rng: np.random.Generator,
    population: Population,
    traits: GroupTraits,
    group_count: np.ndarray,
    difficulty: Difficulty = Difficulty(),
) -> np.ndarray:
    """Capability per private group template: AI dev shops code and build agents, other
    teams write and summarise, labs code and reason, farms elicit (a farm dressed as a
    company that imitates a team gives up to a fifth of its templates a team's mix)."""
    total = int(group_count.sum())
    owner = np.repeat(np.arange(population.n_groups), group_count)
    farm = weighted_choice(rng, _FARM_CAPABILITIES, total)
    ai_shop = weighted_choice(rng, _AI_SHOP_CAPABILITIES, total)
    team = weighted_choice(rng, _TEAM_CAPABILITIES, total)
    lab = weighted_choice(rng, _LAB_CAPABILITIES, total)
    owner_kind = population.group_kind[owner]
    if difficulty.company_imitation > 0:
        dressed = (owner_kind == CATEGORY_CODE["farm_company"]) & (rng.random(total) < difficulty.company_imitation / 5)
        farm = np.where(dressed, team, farm)
    return np.where(
        owner_kind == CATEGORY_CODE["team"],
        np.where(traits.ai_shop[owner], ai_shop, team),
        np.where(owner_kind == CATEGORY_CODE["researcher"], lab, farm),
    )


def plan_templates(
    rng: np.random.Generator, population: Population, traits: GroupTraits, difficulty: Difficulty = Difficulty()
) -> TemplateCatalogue:
    """Lay out every template id of the world and draw its capability."""
    public_capability = weighted_choice(rng, POPULAR_CAPABILITIES, N_PUBLIC)
    benchmark_capability = weighted_choice(rng, _BENCHMARK_CAPABILITIES, N_BENCHMARKS)
    benchmark_items = np.round(np.exp(rng.uniform(np.log(50), np.log(1000), N_BENCHMARKS))).astype(np.int64)
    next_id = N_PUBLIC + N_BENCHMARKS
    app_capability, app_start, app_count, account_app = _plan_apps(rng, population, next_id)
    next_id += int(app_count.sum())
    group_count = _group_template_counts(rng, population, difficulty)
    group_capability = _group_capabilities(rng, population, traits, group_count, difficulty)
    capability = np.concatenate([public_capability, benchmark_capability, app_capability, group_capability])
    return TemplateCatalogue(
        capability=capability.astype(np.int8),
        public_cdf=_zipf_cdf(N_PUBLIC, 1.05),
        benchmark_start=N_PUBLIC,
        benchmark_items=benchmark_items,
        benchmark_cdf=_zipf_cdf(N_BENCHMARKS, 0.8),
        app_start=app_start,
        app_count=app_count,
        account_app=account_app,
        farm_range=(next_id, next_id + int(group_count[: population.n_ring].sum())),
        group_start=next_id + np.r_[0, np.cumsum(group_count)[:-1]],
        group_count=group_count,
        ring_traffic=draw_ring_traffic(rng, population.group_kind, group_count, difficulty),
    )
