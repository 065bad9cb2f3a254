"""The bulk load's memory check: the delivery's bytes of rows, the estimate, the refusal.

That `ringwatch ingest --bulk` refuses before it stops the server is tests/test_bulk.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from ingest.bulk_memory import (
    PEAK_BASE,
    PEAK_PER_BYTE,
    _meminfo_kib,
    delivered_bytes,
    memory_problem,
    peak_memory,
)

ROWS = "account_id,created_at\n" + "".join(f"acct_{i:05d},2026-01-01T00:00:00Z\n" for i in range(2000))


def test_a_csv_holds_its_size_and_a_gzip_its_uncompressed_size(tmp_path: Path):
    plain = tmp_path / "accounts.csv"
    plain.write_text(ROWS)
    packed = tmp_path / "ip_sightings.csv.gz"
    packed.write_bytes(gzip.compress(ROWS.encode()))
    assert packed.stat().st_size < len(ROWS) // 4  # the rows compress well: the trailer, not the size, counts
    assert delivered_bytes(plain) == len(ROWS)
    assert delivered_bytes(packed) == len(ROWS)


def test_a_parquet_file_holds_its_uncompressed_row_groups(tmp_path: Path):
    path = tmp_path / "accounts.parquet"
    frame = pd.DataFrame({"account_id": [f"acct_{i:05d}" for i in range(5000)], "n": range(5000)})
    frame.to_parquet(path, row_group_size=1000)
    assert delivered_bytes(path) > path.stat().st_size  # uncompressed and without the footer's savings
    assert delivered_bytes(path) >= 5000 * (10 + 8)  # at least the ids' characters and the integers


@pytest.mark.parametrize("name", ["broken.csv.gz", "broken.parquet", "x.gz"])
def test_a_file_the_reader_will_refuse_counts_its_size(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"no" if name == "x.gz" else b"not what its name says, but long enough\xff\xff\xff\x7f")
    assert delivered_bytes(path) == path.stat().st_size  # not 2 GiB from a trailer that is no trailer


def test_the_estimate_is_a_base_and_a_multiple_of_the_bytes(tmp_path: Path):
    files = []
    for name, size in (("a.csv", 1000), ("b.csv", 2500)):
        (tmp_path / name).write_bytes(b"x" * size)
        files.append(tmp_path / name)
    assert peak_memory(files) == PEAK_BASE + int(PEAK_PER_BYTE * 3500)
    assert peak_memory([]) == PEAK_BASE


def test_a_load_is_refused_only_above_what_is_available():
    assert memory_problem(10 << 30, 12 << 30) is None
    assert memory_problem(10 << 30, None) is None  # not known: not refused
    message = memory_problem(21 << 30, 18 << 30)
    assert message is not None and "\n" not in message
    assert "needs about 21.0 GiB" in message and "18.0 GiB is available" in message
    assert "without --bulk" in message


def test_meminfo_fields_are_read_in_kib():
    text = "MemTotal:       24684148 kB\nMemFree:        1000 kB\nMemAvailable:   9705340 kB\n"
    assert _meminfo_kib(text, "MemAvailable") == 9705340
    assert _meminfo_kib(text, "VmRSS") is None
