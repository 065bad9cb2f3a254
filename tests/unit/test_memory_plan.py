"""The local server's memory rule (graph.db.memory.plan) and size parsing."""

from __future__ import annotations

import pytest

from graph.db.memory import GiB, MiB, parse_size, plan, plan_for


def test_a_24_gib_machine_with_a_small_store():
    p = plan(24 * GiB, 100 * MiB)
    left = 24 * GiB - 6 * GiB  # a quarter kept for the OS and the client
    assert p.pagecache == left // 4  # room for a first load to grow into
    assert p.heap == left - left // 4  # the rest to GDS


def test_a_store_bigger_than_the_quarter_gets_its_size_and_a_fifth():
    p = plan(24 * GiB, 5 * GiB)
    assert p.pagecache == int(5 * GiB * 1.2)


def test_a_large_store_takes_at_most_half_of_what_is_left():
    p = plan(24 * GiB, 40 * GiB)
    left = 24 * GiB - 6 * GiB
    assert p.pagecache == left // 2 and p.heap == left - left // 2


def test_the_heap_stays_under_compressed_pointers_on_a_big_machine():
    p = plan(256 * GiB, 10 * GiB)
    assert p.heap == 31 * GiB and p.pagecache == (256 - 16) * GiB // 4  # the quarter is more than the store


def test_the_reserve_is_bounded_on_small_and_big_machines():
    assert plan(4 * GiB, 0).heap == 4 * GiB - 2 * GiB - 512 * MiB  # at least 2 GiB kept; the page cache's floor
    big = plan(128 * GiB, 100 * GiB)
    assert big.pagecache == (128 - 16) * GiB // 2  # at most 16 GiB kept, half of the rest for the store


def test_a_small_machine_still_gets_the_minimums():
    p = plan(2 * GiB, 5 * GiB)
    assert p.heap >= GiB and p.pagecache >= 512 * MiB


@pytest.mark.parametrize("text,size", [("4g", 4 * GiB), ("512m", 512 * MiB), ("1.5g", int(1.5 * GiB)), ("10", 10)])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


def test_the_environment_overrides_the_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("RINGWATCH_HEAP", "3g")
    monkeypatch.delenv("RINGWATCH_PAGECACHE", raising=False)
    p = plan_for(tmp_path)
    assert p.heap == 3 * GiB and p.source == "RINGWATCH_HEAP set" and p.store == 0
    monkeypatch.setenv("RINGWATCH_PAGECACHE", "lots")
    with pytest.raises(ValueError, match="lots"):
        plan_for(tmp_path)
