"""Rows of `prompt_templates` for one chunk.

Every account uses some popular public templates and some personal one-off ones; team and
lab members a window of their group's private pool, app users a window of their app's,
researchers public benchmarks (each run is the benchmark's item count, so volumes are
uniform too). A few benign accounts use a template that is mostly a farm's. Farm accounts
use a window of their ring's private pool with uniform per-template volumes, plus a little
camouflage on popular templates. Benign volumes are heavy-tailed account totals split by
row weights.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.files import fixed_width_strings, iso_utc

from .arrays import RowParts, aggregate, expand, pick_window, row_times, weighted_choice
from .chunk import Chunk
from .constants import BENIGN, CAPS, CATEGORY_CODE, FARMS
from .encoding import code_strings, hex_matrix, mix64
from .plan import World
from .templates import POPULAR_CAPABILITIES

__all__ = ["prompt_template_rows"]

_PLAIN_USERS = ("normal", "household", "vpn_user", "resproxy_user", "mobile_nat")
# category, mean public templates, mean personal templates
_TEMPLATE_MEANS = (("team", 1.5, 1.5), ("app_user", 1.0, 1.0), ("researcher", 1.0, 3.0))
_PRIVATE_SHARE = (("team", 0.5), ("researcher", 0.6))  # share of the group's pool a member uses
_BENCHMARK_RUNS = np.array([1, 1, 1, 2, 3, 5])
_PERSONAL_NAMESPACE = np.int64(1) << 40


def _template_counts(rng: np.random.Generator, world: World, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """(public templates, personal templates) per account."""
    knobs = world.difficulty
    public = np.zeros(chunk.size, np.int64)
    personal = np.zeros(chunk.size, np.int64)
    plain = chunk.members_of(_PLAIN_USERS)
    public[plain] = 1 + np.minimum(rng.poisson(2.5, len(plain)), 11)
    personal[plain] = rng.poisson(2.0, len(plain))
    for name, public_mean, personal_mean in _TEMPLATE_MEANS:
        members = chunk.members[name]
        public[members] = rng.poisson(public_mean, len(members))
        personal[members] = rng.poisson(personal_mean, len(members))
    farm = chunk.members_of(FARMS)
    public[farm] = rng.integers(*knobs.camouflage_templates, len(farm))  # camouflage on popular templates
    company = chunk.members["farm_company"]
    imitation = knobs.company_imitation
    public[company] = rng.integers(round(imitation), 2 + round(2 * imitation), len(company))
    personal[farm] = rng.random(len(farm)) < 0.2
    return public, personal


def _public_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts, count: np.ndarray) -> None:
    """Popular public templates (Zipf): a share of a benign volume, a few requests for farms."""
    owner, _ = expand(count)
    template = np.searchsorted(world.templates.public_cdf, rng.random(len(owner)))
    farm = chunk.category[owner] >= len(BENIGN)
    parts.add(owner[~farm], template[~farm], weight=rng.exponential(1.0, (~farm).sum()))
    parts.add(owner[farm], template[farm], fixed=1 + rng.poisson(world.difficulty.camouflage_requests, farm.sum()))


def _personal_rows(rng: np.random.Generator, chunk: Chunk, parts: RowParts, count: np.ndarray) -> None:
    """Personal one-off templates: unique ids in a namespace of their own."""
    owner, _ = expand(count)
    template = _PERSONAL_NAMESPACE + (np.int64(chunk.index) << 24) + np.arange(len(owner))
    capability = weighted_choice(rng, POPULAR_CAPABILITIES, len(owner))
    capability[rng.random(len(owner)) < 0.03] = -1
    farm = chunk.category[owner] >= len(BENIGN)
    weight = rng.exponential(1.0, (~farm).sum())
    parts.add(owner[~farm], template[~farm], weight=weight, capability=capability[~farm])
    parts.add(owner[farm], template[farm], fixed=1 + rng.poisson(1.0, farm.sum()), capability=capability[farm])


def _private_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> None:
    """Team and lab members: a window of their group's private pool."""
    catalogue = world.templates
    for name, share in _PRIVATE_SHARE:
        members = chunk.members[name]
        members = members[chunk.group[members] >= 0]
        group = chunk.group_of[members]
        start, count = catalogue.group_start[group], catalogue.group_count[group]
        take = 1 + rng.binomial(np.maximum(count - 1, 0), share)
        account, template = pick_window(rng, members, start, count, take)
        parts.add(account, template, weight=3.0 * rng.exponential(1.0, len(account)))


def _app_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> None:
    """App users: 60-100 % of their app's templates."""
    catalogue = world.templates
    members = chunk.members["app_user"]
    app = catalogue.account_app[chunk.accounts[members]]
    count = catalogue.app_count[app]
    take = np.ceil(count * rng.uniform(0.6, 1.0, len(members))).astype(np.int64)
    account, template = pick_window(rng, members, catalogue.app_start[app], count, take)
    parts.add(account, template, weight=3.0 * rng.exponential(1.0, len(account)))


def _benchmark_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> None:
    """Researchers: 5-25 public benchmarks, each run in full (some partly) a few times."""
    catalogue = world.templates
    members = chunk.members["researcher"]
    owner, _ = expand(rng.integers(5, 26, len(members)))
    benchmark = np.searchsorted(catalogue.benchmark_cdf, rng.random(len(owner)))
    runs = _BENCHMARK_RUNS[rng.integers(0, 6, len(members))][owner]
    requests = catalogue.benchmark_items[benchmark] * runs
    partial = rng.random(len(owner)) < 0.2
    requests[partial] = np.maximum(1, np.round(requests[partial] * rng.uniform(0.05, 1, partial.sum())))
    parts.add(members[owner], catalogue.benchmark_start + benchmark, fixed=requests)


def _leak_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> None:
    """Rare benign use of a template that is mostly a farm's (copied from a shared prompt list)."""
    benign = np.flatnonzero(chunk.category < len(BENIGN))
    low, high = world.templates.farm_range
    leak = benign[rng.random(len(benign)) < world.difficulty.leak]
    if high > low and len(leak):
        parts.add(leak, rng.integers(low, high, len(leak)), fixed=1 + rng.poisson(3, len(leak)))


def _farm_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> None:
    """Farm accounts: a window of the ring's private pool, uniform volumes (harder worlds:
    some accounts pick their templates anywhere in the pool; a company imitating a team
    has heavy-tailed member volumes)."""
    catalogue, traffic, knobs = world.templates, world.templates.ring_traffic, world.difficulty
    farm = chunk.members_of(FARMS)
    ring = chunk.group_of[farm]
    take = np.clip(traffic.templates_per_account[ring] + rng.integers(-1, 2, len(farm)), 1, None)
    account, template = pick_window(rng, farm, catalogue.group_start[ring], catalogue.group_count[ring], take)
    if knobs.hydra_scatter > 0 or knobs.ring_scatter > 0:
        template = _scattered(rng, world, chunk, farm, account, template)
    ring = chunk.group_of[account]
    mean, spread = traffic.requests_per_template[ring], traffic.request_spread[ring]
    requests = np.maximum(1, np.round(mean * rng.normal(1, spread)))
    if knobs.company_imitation > 0:
        requests = _company_volumes(rng, chunk, account, requests, knobs.company_imitation)
    parts.add(account, template, fixed=requests)


def _scattered(
    rng: np.random.Generator, world: World, chunk: Chunk, farm: np.ndarray, account: np.ndarray, template: np.ndarray
) -> np.ndarray:
    """Templates of the farm accounts that pick at random in their ring's pool (a share of
    each ring by style) instead of a window of neighbouring templates: fewer accounts share
    two templates."""
    knobs, catalogue = world.difficulty, world.templates
    is_hydra = chunk.category[farm] == CATEGORY_CODE["farm_hydra"]
    share = np.where(is_hydra, knobs.hydra_scatter, knobs.ring_scatter)
    scattered = np.zeros(chunk.size, bool)
    scattered[farm] = rng.random(len(farm)) < share
    rows = np.flatnonzero(scattered[account])
    ring = chunk.group_of[account[rows]]
    pick = np.floor(rng.random(len(rows)) * catalogue.group_count[ring]).astype(np.int64)
    template = template.copy()
    template[rows] = catalogue.group_start[ring] + pick
    return template


def _company_volumes(
    rng: np.random.Generator, chunk: Chunk, account: np.ndarray, requests: np.ndarray, imitation: float
) -> np.ndarray:
    """A farm dressed as a company imitating a team: a log-normal volume per member."""
    factor = np.ones(chunk.size)
    company = chunk.members["farm_company"]
    factor[company] = rng.lognormal(0.0, 0.4 * imitation, len(company))
    return np.maximum(1, np.round(requests * factor[account]))


def _merged_rows(rng: np.random.Generator, world: World, chunk: Chunk, parts: RowParts) -> tuple[np.ndarray, ...]:
    """(account, template, requests, first, last, capability), one row per account and template."""
    account, key, weight, fixed, capability = parts.arrays()
    volume = rng.lognormal(np.log(40), 1.4, chunk.size)
    volume[chunk.members["team"]] *= 3
    volume[chunk.members["app_user"]] *= 2
    volume = np.minimum(volume, 200_000)
    shared = ~np.isnan(weight)
    weight_sum = np.bincount(account[shared], weight[shared], minlength=chunk.size)
    requests = fixed.copy()
    owner = account[shared]
    requests[shared] = np.maximum(1, np.round(volume[owner] * weight[shared] / weight_sum[owner]))
    known = world.templates.capability
    capability = np.where(capability == -2, known[np.minimum(key, len(known) - 1)], capability)
    first, last = row_times(rng, chunk.created[account], chunk.end[account], requests)
    return aggregate(account, key, requests, first, last, capability)


def prompt_template_rows(rng: np.random.Generator, world: World, chunk: Chunk) -> tuple[pa.Table, np.ndarray]:
    """(the chunk's prompt_templates table, total requests per account)."""
    parts = RowParts()
    public_count, personal_count = _template_counts(rng, world, chunk)
    _public_rows(rng, world, chunk, parts, public_count)
    _personal_rows(rng, chunk, parts, personal_count)
    _private_rows(rng, world, chunk, parts)
    _app_rows(rng, world, chunk, parts)
    _benchmark_rows(rng, world, chunk, parts)
    _leak_rows(rng, world, chunk, parts)
    _farm_rows(rng, world, chunk, parts)
    rows = _merged_rows(rng, world, chunk, parts)
    order = np.lexsort((rows[3], rows[0]))
    account, key, requests, first, last, capability = (column[order] for column in rows)
    hashed = key.astype(np.uint64)
    digest = hex_matrix(
        [mix64(hashed ^ world.key ^ np.uint64(0x5EED)), mix64(hashed + np.uint64(0x7F4A7C15) ^ world.key)], 32
    )
    table = pa.table(
        {
            "account_id": chunk.account_id.take(pa.array(account)),
            "template_hash": fixed_width_strings(digest),
            "requests": pa.array(requests),
            "first_seen": iso_utc(first),
            "last_seen": iso_utc(last),
            "capability": code_strings(capability, CAPS),
        }
    )
    return table, np.bincount(account, requests, minlength=chunk.size)
