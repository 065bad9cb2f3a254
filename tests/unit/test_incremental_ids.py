"""The community ids an incremental run stores never reuse an id of a community outside it."""

from __future__ import annotations

import pandas as pd

from graph.detection.incremental import remap_communities


def test_a_full_run_keeps_leidens_ids_and_the_next_id_is_above_them():
    raw = pd.Series([3, 3, 7], index=["a", "b", "c"], name="community")
    out, next_id = remap_communities(raw, None, 0)
    assert out.to_dict() == {"a": 3, "b": 3, "c": 7}
    assert next_id == 8


def test_a_region_keeps_seeded_ids_and_numbers_new_communities_from_the_next_id():
    seeds = pd.Series([5, 5, 9], index=["a", "b", "c"])
    # Leiden kept 5 for a and b, made c and the new d a community numbered above the seeds (10),
    # an id a community outside the region may hold
    raw = pd.Series([5, 5, 10, 10, 12], index=["a", "b", "c", "d", "e"], name="community")
    out, next_id = remap_communities(raw, seeds, 40)
    assert out[["a", "b"]].tolist() == [5, 5]
    assert out["c"] == out["d"] and out["c"] >= 40 and out["e"] >= 40 and out["e"] != out["c"]
    assert next_id == max(out) + 1
    assert out.index.tolist() == raw.index.tolist()


def test_an_empty_region_changes_no_id():
    out, next_id = remap_communities(pd.Series(dtype="int64"), pd.Series(dtype="int64"), 17)
    assert out.empty and next_id == 17
