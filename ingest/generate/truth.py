"""Ground truth of a generated world: which account belongs to which ring, and the rings.

`truth/accounts.csv` (account_id, ring_id, category) is written chunk by chunk with the
delivery; `truth/rings.csv` (ring_id, style, size) once at the end. Both are always CSV.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .chunk import Chunk
from .constants import CATEGORIES
from .encoding import code_strings
from .plan import World

__all__ = ["ACCOUNT_TRUTH", "RING_TRUTH", "account_truth", "ring_ids", "ring_truth"]

ACCOUNT_TRUTH = pa.schema([("account_id", pa.string()), ("ring_id", pa.string()), ("category", pa.string())])
RING_TRUTH = pa.schema([("ring_id", pa.string()), ("style", pa.string()), ("size", pa.int64())])


def ring_ids(n_ring: int) -> list[str]:
    """The ids of rings 0 .. n_ring-1: ring_0001, ring_0002, ..."""
    return [f"ring_{i + 1:04d}" for i in range(n_ring)]


def account_truth(world: World, chunk: Chunk) -> pa.Table:
    """The chunk's truth rows: every account's ring (empty for none) and category."""
    n_ring = world.population.n_ring
    ring = np.where((chunk.group >= 0) & (chunk.group < n_ring), chunk.group, -1)
    return pa.table(
        {
            "account_id": chunk.account_id,
            "ring_id": code_strings(ring, ring_ids(n_ring)),
            "category": code_strings(chunk.category, list(CATEGORIES)),
        }
    )


def ring_truth(world: World) -> pa.Table:
    """One row per ring: id, style and size."""
    population = world.population
    return pa.table(
        {
            "ring_id": ring_ids(population.n_ring),
            "style": population.ring_styles,
            "size": pa.array(population.ring_sizes, pa.int64()),
        }
    )
