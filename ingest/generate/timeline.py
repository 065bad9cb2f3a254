"""When accounts sign up and when they stop: every account's activity window.

Benign accounts and their groups follow `benign.benign_signup` (group members relative to
their group's base time), ring members their ring's window or waves (`farms`). Activity
lasts a log-normal time (about two months) or, for a third of users, to the end of the
world's span; rings stay active for a ring-wide time with a little jitter.
"""

from __future__ import annotations

import numpy as np

from .benign import benign_signup, group_signups
from .constants import DAY, HOUR, T0, T1
from .difficulty import Difficulty
from .farms import ring_active_seconds, ring_signups
from .population import GroupTraits, Population

__all__ = ["activity_end", "plan_timeline"]


def plan_timeline(
    rng: np.random.Generator,
    population: Population,
    traits: GroupTraits,
    country: np.ndarray,
    difficulty: Difficulty = Difficulty(),
) -> tuple[np.ndarray, np.ndarray]:
    """(sign-up time, end of activity) per account, epoch seconds inside [T0, T1]."""
    created = benign_signup(rng, population.n_accounts, country)
    group_base = benign_signup(rng, population.n_groups, traits.country)
    group_signups(rng, created, population, group_base, traits.country)
    ring_signups(rng, created, population, difficulty)
    created = np.minimum(created, T1 - DAY).astype(np.int64)
    return created, activity_end(rng, created, population)


def activity_end(rng: np.random.Generator, created: np.ndarray, population: Population) -> np.ndarray:
    """End of each account's activity: at least two hours after sign-up, at most T1."""
    n_accounts, is_ring = population.n_accounts, population.is_ring
    duration = rng.lognormal(np.log(60 * DAY), 1.2, n_accounts)
    duration[rng.random(n_accounts) < 0.35] = T1 - T0  # retained users stay active to the end
    ring_duration = ring_active_seconds(rng, population.group_kind)
    duration[is_ring] = ring_duration[population.group_of[is_ring]] * rng.uniform(0.8, 1.2, is_ring.sum())
    return np.minimum(created + np.maximum(duration, 2 * HOUR), T1).astype(np.int64)
