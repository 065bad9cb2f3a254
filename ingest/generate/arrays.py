"""Small vectorised helpers shared by the plan and the row builders.

Pure functions of numpy arrays; those that draw take the numpy Generator to draw from, so
the caller fixes the order of draws (which a seed's byte-identical output depends on).
`RowParts` collects the parts of one kind of row (templates or addresses) per category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "RowParts",
    "aggregate",
    "cumcount",
    "expand",
    "ones",
    "pick_window",
    "row_times",
    "sample",
    "sizes_to_budget",
    "weighted_choice",
]


def cumcount(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among the earlier elements with the same key (O(n log n))."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    start = np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]
    runs = np.diff(np.r_[start, len(sorted_keys)])
    rank = np.arange(len(sorted_keys)) - np.repeat(start, runs)
    out = np.empty(len(keys), np.int64)
    out[order] = rank
    return out


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-owner counts: (owner of each new row, index of the row within its owner)."""
    counts = np.asarray(counts, np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, index


def ones(members: np.ndarray) -> np.ndarray:
    """A count of one per member."""
    return np.ones(len(members), np.int64)


def weighted_choice(rng: np.random.Generator, weights: np.ndarray | list[float], count: int) -> np.ndarray:
    """`count` draws of an index with probabilities `weights` (inverse CDF; need not be normalised)."""
    cdf = np.cumsum(weights, dtype=float)
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(count), side="right"), len(weights) - 1)


def sample(rng: np.random.Generator, members: np.ndarray, share: float) -> np.ndarray:
    """Each of `members` kept with probability `share` (one draw per member)."""
    return members[rng.random(len(members)) < share]


def sizes_to_budget(
    rng: np.random.Generator, budget: int, draw: Callable[[np.random.Generator, int], np.ndarray]
) -> list[int]:
    """Group sizes from `draw(rng, m)` until `budget` accounts are used; a remainder too
    small for a group is left over (the caller gives it to `normal`)."""
    sizes: list[int] = []
    left = budget
    while True:
        for size in draw(rng, 256):
            if size > left:
                return sizes
            sizes.append(int(size))
            left -= int(size)


def pick_window(
    rng: np.random.Generator, accounts: np.ndarray, start: np.ndarray, count: np.ndarray, take: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each account takes `take` consecutive items (cyclically, from a random offset) of its pool
    [start, start+count): distinct items, spread evenly over the pool. Returns (account,
    item) per row."""
    take = np.minimum(take, count)
    owner, index = expand(take)
    offset = np.floor(rng.random(len(accounts)) * count).astype(np.int64)
    return accounts[owner], start[owner] + (offset[owner] + index) % count[owner]


def aggregate(
    account: np.ndarray,
    key: np.ndarray,
    requests: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    extra: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Merge rows with equal (account, key): requests add, first/last widen, the first
    row's `extra` is kept. O(n log n)."""
    order = np.lexsort((key, account))
    account, key, requests, first, last, extra = (
        column[order] for column in (account, key, requests, first, last, extra)
    )
    new = np.r_[True, (account[1:] != account[:-1]) | (key[1:] != key[:-1])]
    idx = np.flatnonzero(new)
    return (
        account[idx],
        key[idx],
        np.add.reduceat(requests, idx),
        np.minimum.reduceat(first, idx),
        np.maximum.reduceat(last, idx),
        extra[idx],
    )


def row_times(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, requests: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """first_seen/last_seen of a row inside the account's window; one request is one instant."""
    span = (end - start).astype(float)
    first = start + (rng.random(len(start)) ** 1.5 * span).astype(np.int64)
    last = first + ((end - first) * rng.random(len(start)) * np.minimum(1.0, requests / 20)).astype(np.int64)
    return first, np.where(requests <= 1, first, last)


@dataclass
class RowParts:
    """Row parts of one kind (templates or addresses) collected per category: the account
    (position in the chunk), the key (template or address id), and either a weight (share
    of the account's volume) or a fixed request count, and a capability (-2: the key's)."""

    account: list[np.ndarray] = field(default_factory=list)
    key: list[np.ndarray] = field(default_factory=list)
    weight: list[np.ndarray] = field(default_factory=list)  # nan: fixed count
    fixed: list[np.ndarray] = field(default_factory=list)
    capability: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        account: np.ndarray,
        key: np.ndarray,
        weight: np.ndarray | float | None = None,
        fixed: np.ndarray | None = None,
        capability: np.ndarray | None = None,
    ) -> None:
        """Append rows; give `weight` (a share of the account's volume) or `fixed` (requests)."""
        n_rows = len(account)
        self.account.append(np.asarray(account, np.int64))
        self.key.append(np.asarray(key, np.int64))
        self.weight.append(
            np.full(n_rows, np.nan) if weight is None else np.broadcast_to(weight, (n_rows,)).astype(float)
        )
        self.fixed.append(np.zeros(n_rows, np.int64) if fixed is None else np.asarray(fixed, np.int64))
        self.capability.append(
            np.full(n_rows, -2, np.int64) if capability is None else np.asarray(capability, np.int64)
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(account, key, weight, fixed, capability), each concatenated over the parts."""
        parts = (self.account, self.key, self.weight, self.fixed, self.capability)
        return tuple(np.concatenate(part) for part in parts)
