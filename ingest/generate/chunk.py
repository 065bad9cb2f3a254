"""One chunk of accounts: what the row builders of every file know about it.

Accounts are visited in the world's output order in fixed chunks of `CHUNK` accounts.
Inside a chunk an account is named by its position (0 .. size-1); `members` lists the
positions of each category. Account ids are a keyed hash of the account's plan index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ingest.files import fixed_width_strings

from .constants import CATEGORY_CODE, CHUNK
from .encoding import hex_matrix, mix64
from .plan import World

__all__ = ["Chunk", "chunk_of"]


@dataclass(frozen=True)
class Chunk:
    """Per account of the chunk (by position): plan index, category, group (-1: none),
    group or 0 (`group_of`), true country, sign-up, end of activity, plan, and account id."""

    index: int
    accounts: np.ndarray
    category: np.ndarray
    group: np.ndarray
    group_of: np.ndarray
    country: np.ndarray
    created: np.ndarray
    end: np.ndarray
    plan: np.ndarray
    members: dict[str, np.ndarray]
    account_id: pa.Array

    @property
    def size(self) -> int:
        """How many accounts the chunk holds."""
        return len(self.accounts)

    def members_of(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Positions of the accounts of any of the categories `names`."""
        return np.flatnonzero(np.isin(self.category, [CATEGORY_CODE[name] for name in names]))


def chunk_of(world: World, index: int) -> Chunk:
    """The accounts at output positions [index*CHUNK, (index+1)*CHUNK)."""
    accounts = world.order[index * CHUNK : (index + 1) * CHUNK]
    category = world.population.category[accounts]
    group = world.population.group[accounts]
    hashed = mix64(accounts.astype(np.uint64) ^ world.key)
    return Chunk(
        index=index,
        accounts=accounts,
        category=category,
        group=group,
        group_of=np.maximum(group, 0),
        country=world.country[accounts],
        created=world.created[accounts],
        end=world.end[accounts],
        plan=world.plan[accounts],
        members={name: np.flatnonzero(category == code) for name, code in CATEGORY_CODE.items()},
        account_id=fixed_width_strings(hex_matrix([hashed], 16), b"acct_"),
    )
