"""Whether this machine has the memory a bulk first load of a delivery needs.

`ringwatch ingest --bulk` holds every valid row of the delivery in the client until it folds
them and writes the importer's files (ingest.bulk), so its peak grows with the delivery: 0.9
GiB for the 114 MB of the 100,000-account world, 4.2 GiB for the 1.12 GB of the 1,000,000-account
world (bench/results/scale_suite.json, scale_suite_1m_2026-12-03.json). A delivery several
times that would be killed by the kernel part way, after minutes of reading, with the server
stopped. So the load is refused first, in one line, when the estimate is above what the
machine has available; the online path (a chunk at a time, about 0.5 GiB at any size) still
loads it.

The estimate is PEAK_BASE + PEAK_PER_BYTE x the delivery's bytes of rows (a CSV's size, a
gzip's uncompressed size from its trailer, a Parquet file's uncompressed row groups), a line
through the two measured worlds. What is available is the kernel's MemAvailable plus the
local server's resident memory, which the load frees by stopping it. Cost: a stat per file,
a 4-byte read per gzip, a footer per Parquet file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graph.db.memory import MiB, show_size
from ingest.reader import GZIP_MAGIC

__all__ = ["PEAK_BASE", "PEAK_PER_BYTE", "available_memory", "delivered_bytes", "memory_problem", "peak_memory"]

PEAK_BASE = 600 * MiB  # the interpreter, pandas and Arrow, and the fold's working tables
PEAK_PER_BYTE = 3.5  # client bytes per delivered byte (3.3 on 2026-12-01's code, 3.5 on 2026-12-03's)
GZIP_TRAILER = 4  # a gzip member ends with its uncompressed size modulo 2**32, little-endian


def delivered_bytes(path: Path) -> int:
    """The bytes of rows `path` holds once decompressed; its size where that cannot be told
    (a file the reader will refuse with its reason)."""
    size = path.stat().st_size
    try:
        if path.name.endswith(".gz") and size > GZIP_TRAILER:
            with path.open("rb") as f:
                if f.read(2) != GZIP_MAGIC:  # not gzip: refused by the reader, its trailer means nothing
                    return size
                f.seek(-GZIP_TRAILER, os.SEEK_END)
                recorded = int.from_bytes(f.read(GZIP_TRAILER), "little")
            return max(recorded, size)  # modulo 2**32: a larger file is at least its compressed size
        if path.name.endswith(".parquet"):
            meta = pq.ParquetFile(path).metadata
            return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except (OSError, pa.ArrowException):
        return size
    return size


def peak_memory(paths: list[Path]) -> int:
    """The client's estimated peak, in bytes, for a bulk load of these files."""
    return PEAK_BASE + int(PEAK_PER_BYTE * sum(delivered_bytes(p) for p in paths))


def _meminfo_kib(text: str, field: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == field and value.split():
            return int(value.split()[0])
    return None


def available_memory(server_pid: int | None) -> int | None:
    """MemAvailable plus the resident memory of `server_pid` (stopped for the import), in bytes;
    None where the kernel does not say (not Linux)."""
    try:
        available = _meminfo_kib(Path("/proc/meminfo").read_text(), "MemAvailable")
    except OSError:
        return None
    if available is None:
        return None
    server = 0
    if server_pid is not None:
        try:
            server = _meminfo_kib(Path(f"/proc/{server_pid}/status").read_text(), "VmRSS") or 0
        except OSError:
            server = 0
    return (available + server) * 1024


def memory_problem(needed: int, available: int | None) -> str | None:
    """The one-line refusal when `needed` is above `available`, else None (also when unknown)."""
    if available is None or needed <= available:
        return None
    return (
        f"a bulk load of this delivery needs about {show_size(needed)} in this process and "
        f"{show_size(available)} is available: load it without --bulk (the online load holds one "
        "chunk at a time), or split it and load the first part with --bulk"
    )
