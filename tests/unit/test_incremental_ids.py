"""The community ids an incremental run stores never reuse an id of a community outside it."""

from __future__ import annotations

import pandas as pd

from graph.detection.incremental import remap_communities


def test_a_full_run_keeps_leidens_ids_and_the_next_id_is_above_them():
    raw = pd.Series([3, 3, 7], index=["a", "b", "c"], name="community")
    out, next_id = remap_communities(raw, None, 0)
    assert out.to_dict() == {"a": 3, "b": 3, "c": 7}
    assert next_id == 8


def test_a_region_keeps_the_id_most_members_had_and_numbers_new_communities_from_the_next_id():
    seeds = pd.Series([5, 5, 9, 9, 9], index=["a", "b", "c", "d", "f"])
    # Leiden's own ids say nothing of the seeds: 0 holds a and b (both 5 before), 1 holds c and
    # d (9) and the new e; 2 holds f (9 too, but 1 has more of 9's members): a new id
    raw = pd.Series([0, 0, 1, 1, 1, 2], index=["a", "b", "c", "d", "e", "f"], name="community")
    out, next_id = remap_communities(raw, seeds, 40)
    assert out.to_dict() == {"a": 5, "b": 5, "c": 9, "d": 9, "e": 9, "f": 40}
    assert next_id == 41
    assert out.index.tolist() == raw.index.tolist()


def test_a_community_of_only_new_accounts_gets_a_new_id_above_every_earlier_one():
    seeds = pd.Series([3], index=["a"])
    raw = pd.Series([7, 8, 8], index=["a", "n1", "n2"], name="community")
    out, next_id = remap_communities(raw, seeds, 12)
    assert out.to_dict() == {"a": 3, "n1": 12, "n2": 12} and next_id == 13


def test_an_empty_region_changes_no_id():
    out, next_id = remap_communities(pd.Series(dtype="int64"), pd.Series(dtype="int64"), 17)
    assert out.empty and next_id == 17
