"""Writing a generated world: the contract files chunk by chunk, then the shared addresses'
intel and the rings' truth.

`generate_world` plans the world, visits its accounts in chunks of `CHUNK` and appends each
chunk's rows to every file through `ingest.files.TableSink`, so memory is bounded by one
chunk plus the plan and the output does not depend on the format. Progress goes to the
logger of this module and, when asked, to a callback (the CLI's stderr lines).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingest.files import FORMATS, TableSink

from .address_rows import intel_table
from .constants import CHUNK, MIN_ACCOUNTS
from .difficulty import Difficulty
from .plan import World, plan_world
from .rows import chunk_tables
from .truth import ACCOUNT_TRUTH, RING_TRUTH, ring_truth

__all__ = ["CONTRACT_FILES", "Progress", "generate_world"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]  # receives one line of progress text

CONTRACT_FILES = ("accounts", "payment_methods", "ip_sightings", "ip_intel", "prompt_templates")  # output order
_INTEL_BATCH = 500_000  # shared addresses per ip_intel write


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _reporter(progress: bool | Progress) -> Progress:
    """A function that logs a progress line and passes it to the callback, if any
    (`True`: write it to stderr)."""
    callback = _to_stderr if progress is True else (progress or None)

    def report(line: str) -> None:
        logger.info(line)
        if callback is not None:
            callback(line)

    return report


def _open_sinks(out_dir: Path, fmt: str) -> dict[str, TableSink]:
    extension = FORMATS[fmt]
    sinks = {name: TableSink(out_dir / f"{name}{extension}", name, fmt) for name in CONTRACT_FILES}
    sinks["truth/accounts"] = TableSink(out_dir / "truth" / "accounts.csv", ACCOUNT_TRUTH, "csv")
    sinks["truth/rings"] = TableSink(out_dir / "truth" / "rings.csv", RING_TRUTH, "csv")
    return sinks


def shared_intel(world: World) -> Iterator[pa.Table]:
    """ip_intel rows of the shared addresses some chunk used, in a shuffled order, in batches."""
    pools = world.pools
    used = np.flatnonzero(pools.used)
    used = used[np.random.default_rng([world.seed, 2]).permutation(len(used))]
    for start in range(0, len(used), _INTEL_BATCH):
        batch = used[start : start + _INTEL_BATCH]
        yield intel_table(
            pools.ip[batch],
            pools.asn[batch],
            pools.ip_type[batch].astype(np.int64),
            pools.provider[batch].astype(np.int64),
        )


def generate_world(
    out_dir: Path,
    accounts: int,
    seed: int,
    fmt: str = "csv",
    progress: bool | Progress = False,
    difficulty: float = 0.0,
) -> dict[str, int]:
    """Write a synthetic delivery of `accounts` accounts to `out_dir` and return the row
    count of every file written ("accounts", ..., "truth/accounts", "truth/rings").

    fmt is "csv", "csv.gz" or "parquet" for the five contract files; the truth files are
    always CSV. Deterministic: a seed gives byte-identical files; the rows do not depend
    on fmt. `progress`: True writes a line per chunk to stderr, a callable receives the
    lines; they are logged (INFO) either way. `difficulty` in [0, 1]: how hard the farms
    are to find (0, the default, is the world this function has always written; see
    ingest.generate.difficulty). Raises ValueError for an unknown fmt, fewer than
    MIN_ACCOUNTS accounts or a difficulty outside [0, 1]. Cost: O(accounts) time (about 40 s per million with
    csv) and memory bounded by one chunk of CHUNK accounts plus ~100 bytes per account of
    plan."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, not {fmt!r}")
    if accounts < MIN_ACCOUNTS:
        raise ValueError(f"a world needs at least {MIN_ACCOUNTS} accounts, not {accounts}")
    knobs = Difficulty.at(difficulty)
    report = _reporter(progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = plan_world(int(accounts), int(seed), knobs)
    sinks = _open_sinks(out_dir, fmt)
    n_chunks = -(-world.n_accounts // CHUNK)
    try:
        for index in range(n_chunks):
            for name, table in chunk_tables(world, index).items():
                sinks[name].write(table)
            done = min((index + 1) * CHUNK, world.n_accounts)
            report(f"generate: chunk {index + 1}/{n_chunks} ({done} accounts, {time.perf_counter() - started:.1f} s)")
        for table in shared_intel(world):
            sinks["ip_intel"].write(table)
        sinks["truth/rings"].write(ring_truth(world))
    finally:
        for sink in sinks.values():
            sink.close()
    report(f"generate: done in {time.perf_counter() - started:.1f} s")
    return {name: sink.rows for name, sink in sinks.items()}
