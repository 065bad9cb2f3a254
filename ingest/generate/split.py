"""A generated world cut into two deliveries: most of it first, a few accounts later.

Incremental detection (graph.detection.incremental) is measured and tested on a small
second delivery into a graph already detected: `pick_later` chooses about `share` of the
accounts (a few members of existing farms, so that accounts join known rings, and benign
accounts at random), and `split_delivery` writes the world's rows of the other accounts as
the first delivery and theirs as the second. Loading both gives the whole world, so a full
detection of the final graph is the reference an incremental one is compared with.

IP intelligence is about addresses, not accounts: all of it goes with the first delivery.
Files are read and written as CSV text (every value as it is), so the two deliveries hold
exactly the world's rows. Cost: the world's files through pandas once (a few seconds per
100,000 accounts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FARM_STYLES", "pick_later", "split_delivery"]

# farms that later accounts join: one of each style, a share of its members each
FARM_STYLES = ("farm_small_prepaid", "farm_virtual_cards", "farm_resproxy_pool")
FARM_SHARE = 0.15


def pick_later(truth_dir: Path, share: float, seed: int) -> tuple[set[str], set[str]]:
    """(later accounts, those of them that are farm members): `share` of all accounts, of
    which FARM_SHARE of the members of the largest farm of each FARM_STYLES style (at least
    one each) and the rest benign accounts at random."""
    truth = pd.read_csv(truth_dir / "accounts.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    total = max(1, round(share * len(truth)))
    farm: set[str] = set()
    for style in FARM_STYLES:
        members = truth[truth["category"] == style]
        if members.empty:
            continue
        largest = members["ring_id"].value_counts().index[0]
        ring = sorted(members.loc[members["ring_id"] == largest, "account_id"])
        k = max(1, round(FARM_SHARE * len(ring)))
        farm |= set(rng.choice(ring, size=k, replace=False))
    benign = sorted(truth.loc[truth["ring_id"] == "", "account_id"])
    k = max(0, min(len(benign), total - len(farm)))
    return farm | set(rng.choice(benign, size=k, replace=False)), farm


def split_delivery(world: Path, later: set[str], first: Path, second: Path) -> dict[str, tuple[int, int]]:
    """Write the world's contract files without the `later` accounts' rows to `first` and
    with only theirs to `second` (ip_intel whole to `first`); returns file -> (rows first,
    rows second; a file without rows for `second` is not written there)."""
    first.mkdir(parents=True, exist_ok=True)
    second.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in sorted(world.glob("*.csv*")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "account_id" in frame.columns:
            mask = frame["account_id"].isin(later)
        else:
            mask = pd.Series(False, index=frame.index)
        frame[~mask].to_csv(first / path.name, index=False)
        if mask.any():  # no empty files in the later delivery
            frame[mask].to_csv(second / path.name, index=False)
        counts[path.name] = (int((~mask).sum()), int(mask.sum()))
    return counts
