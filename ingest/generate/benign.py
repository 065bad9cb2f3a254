"""Benign look-alikes: the groups of innocent sharers and when benign accounts sign up.

Teams (companies; heavy-tailed sizes of 5 to 60), households (2-5) and university labs
(3-15) share cards, addresses and templates for innocent reasons. Benign sign-ups follow a
growing base rate plus bursts after model releases, at a local day-time hour; household
members join after the first one, team members mostly on one onboarding day, lab members
over months.
"""

from __future__ import annotations

import numpy as np

from .arrays import sizes_to_budget
from .constants import BENIGN, BENIGN_SHARE, CATEGORY_CODE, DAY, HOUR, RELEASES, T0, T1
from .population import BenignGroups, Population
from .reference import COUNTRY_UTC_OFFSET

__all__ = ["benign_signup", "draw_benign_groups", "group_signups"]


def _team_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Heavy-tailed: most companies small, a few of 60."""
    return np.clip(np.round(5 * (1 - rng.random(count)) ** (-1 / 1.4)), 5, 60)


def _household_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.choice([2, 2, 2, 3, 3, 4, 5], count)


def _lab_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(3, 16, count)


def draw_benign_groups(rng: np.random.Generator, n_benign: int) -> BenignGroups:
    """Split `n_benign` accounts into category shares and draw the group sizes; about 30 %
    of researchers work in labs."""
    wanted = {category: round(BENIGN_SHARE[category] * n_benign) for category in BENIGN}
    teams = sizes_to_budget(rng, wanted["team"], _team_sizes)
    households = sizes_to_budget(rng, wanted["household"], _household_sizes)
    labs = sizes_to_budget(rng, round(0.3 * wanted["researcher"]), _lab_sizes)
    return BenignGroups(wanted=wanted, teams=teams, households=households, labs=labs)


def benign_signup(rng: np.random.Generator, count: int, country: np.ndarray) -> np.ndarray:
    """Sign-up times: a growing base rate over the world's span plus bursts after model
    releases, at a local day-time hour of the account's country."""
    span_days = (T1 - T0) // DAY - 2
    growth = 1.5  # density grows linearly to 2.5x the start
    uniform = rng.random(count)
    fraction = (-1 + np.sqrt(1 + 2 * growth * uniform * (1 + growth / 2))) / growth
    day = np.floor(fraction * span_days)
    burst = rng.random(count) < 0.2
    release = RELEASES[rng.integers(0, len(RELEASES), count)]
    burst_day = np.floor((release - T0) / DAY + rng.exponential(7, count))
    day = np.where(burst, np.minimum(burst_day, span_days), day)
    hour = (rng.normal(14, 4.5, count) - COUNTRY_UTC_OFFSET[country]) % 24
    return (T0 + day * DAY + hour * HOUR).astype(np.int64)


def group_signups(
    rng: np.random.Generator,
    created: np.ndarray,
    population: Population,
    group_base: np.ndarray,
    group_country: np.ndarray,
) -> None:
    """Set the sign-up time of household, team and lab members in `created` (in place),
    relative to their group's base time `group_base`."""
    category, group = population.category, population.group_of
    house = category == CATEGORY_CODE["household"]
    created[house] = np.where(
        population.rank[house] == 0,
        group_base[group[house]],
        group_base[group[house]] + rng.exponential(60 * DAY, house.sum()),
    )
    team = category == CATEGORY_CODE["team"]
    onboard = (group_base // DAY) * DAY + ((9 - COUNTRY_UTC_OFFSET[group_country]) % 24 * HOUR).astype(np.int64)
    n_team = team.sum()
    created[team] = onboard[group[team]] + np.where(
        rng.random(n_team) < 0.7, rng.uniform(0, 9 * HOUR, n_team), rng.exponential(45 * DAY, n_team)
    )
    lab = (category == CATEGORY_CODE["researcher"]) & population.in_group
    created[lab] = group_base[group[lab]] + rng.exponential(90 * DAY, lab.sum())
