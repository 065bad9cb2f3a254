"""How much memory the local Neo4j gets: heap (Java objects, GDS projections) and page cache (the store).

`plan(total, store)` is a pure rule, in the spirit of `neo4j-admin server
memory-recommendation` but written for this workload, where GDS projections live on the
heap and detection reads the whole store:

1. Keep memory for the operating system and ringwatch's own processes on the same
   machine (the detect client, the app, a second server for tests): a quarter of the
   machine, at least 2 GiB and at most 16 GiB. (It was 10%, at most 8 GiB: on a 24 GiB
   machine that gave a server a 20.9 GiB heap, and with a detect client and the test
   suite's server beside it the kernel killed it.)
2. Give the page cache what the store needs to stay resident (its size plus 20% to grow),
   and at least a quarter of what is left (at least 512 MiB), but never more than half of
   it. The quarter is for the first load: the plan is made when the server starts, and a
   server started on an empty store would otherwise load a million accounts (a 2-4 GB
   store) through a 512 MiB cache, at half the rate.
3. Give the heap the rest, at most 31 GiB (beyond that the JVM loses compressed object
   pointers) and at least 1 GiB.

`RINGWATCH_HEAP` and `RINGWATCH_PAGECACHE` (e.g. 4g, 512m) override either; `ringwatch db
status` shows what the server runs with, the store size and the page-cache hit ratio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryPlan", "machine_memory", "parse_size", "plan", "plan_for", "show_size", "store_size"]

GiB = 1 << 30
MiB = 1 << 20
MAX_HEAP = 31 * GiB
MIN_HEAP = GiB
MIN_PAGECACHE = 512 * MiB


@dataclass(frozen=True)
class MemoryPlan:
    heap: int
    pagecache: int
    total: int
    store: int
    source: str  # "sized" or which variables set it

    def jvm_heap(self) -> str:
        return f"{max(1, self.heap // MiB)}m"

    def pagecache_setting(self) -> str:
        return f"{max(1, self.pagecache // MiB)}m"


def parse_size(text: str) -> int:
    """'4g', '512m', '1024k', '123' (bytes) -> bytes; ValueError naming the text otherwise."""
    t = text.strip().lower()
    units = {"k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError as e:
        raise ValueError(f"not a memory size: {text!r} (write it like 4g or 512m)") from e


def show_size(n: int) -> str:
    """Bytes as GiB or MiB text."""
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def plan(total: int, store: int) -> MemoryPlan:
    """Heap and page cache for a machine of `total` bytes and a store of `store` bytes."""
    reserve = min(max(2 * GiB, total // 4), 16 * GiB)
    left = max(total - reserve, MIN_HEAP + MIN_PAGECACHE)
    pagecache = min(max(int(store * 1.2), left // 4, MIN_PAGECACHE), left // 2)
    heap = min(max(left - pagecache, MIN_HEAP), MAX_HEAP)
    return MemoryPlan(heap=heap, pagecache=pagecache, total=total, store=store, source="sized")


def machine_memory() -> int:
    """Physical memory of this machine, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def store_size(data_dir: Path) -> int:
    """Bytes of the store files under the server's data directory (0 if none yet)."""
    if not data_dir.exists():
        return 0
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())


def plan_for(data_dir: Path) -> MemoryPlan:
    """The plan for this machine and store, with RINGWATCH_HEAP / RINGWATCH_PAGECACHE overriding."""
    sized = plan(machine_memory(), store_size(data_dir))
    heap_env, cache_env = os.environ.get("RINGWATCH_HEAP"), os.environ.get("RINGWATCH_PAGECACHE")
    set_by = [name for name, v in (("RINGWATCH_HEAP", heap_env), ("RINGWATCH_PAGECACHE", cache_env)) if v]
    return MemoryPlan(
        heap=parse_size(heap_env) if heap_env else sized.heap,
        pagecache=parse_size(cache_env) if cache_env else sized.pagecache,
        total=sized.total,
        store=sized.store,
        source=" and ".join(set_by) + " set" if set_by else "sized",
    )
