"""The integer-code counting detection uses instead of group-bys of strings: same answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.detection import fragments
from graph.detection.communities import with_evidence_ids
from graph.detection.evidence import (
    Evidence,
    chunked_pairs,
    distinct_accounts,
    entity_degrees,
    pairs_within,
    users_per_entity,
)
from graph.detection.scoring import _ranked, _shares


@pytest.mark.parametrize("seed", range(5))
def test_distinct_accounts_is_a_group_by_nunique(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    group, account = rng.integers(0, 40, n), rng.integers(0, 30, n)  # with repeated (group, account) pairs
    expected = pd.DataFrame({"g": group, "a": account}).groupby("g")["a"].transform("nunique").to_numpy()
    np.testing.assert_array_equal(distinct_accounts(group, account), expected)


def test_users_per_entity_counts_each_account_once():
    links = pd.DataFrame({"account": ["a", "b", "a", "c", "a"], "entity": ["x", "x", "x", "y", "z"]})
    users = users_per_entity(links)
    assert users.to_dict() == {"x": 2, "y": 1, "z": 1}
    assert users.equals(users.astype("int64")) and users.index.name == "entity"


def test_an_empty_frame_has_no_users():
    assert users_per_entity(pd.DataFrame({"account": [], "entity": []})).empty


def test_evidence_counts_degrees_then_keeps_shared_links_and_totals_of_the_rest():
    links = pd.DataFrame({"account": ["a", "b", "a", "c", "a"], "entity": ["x", "x", "x", "y", "z"]})
    templates = links.assign(
        degree=[7, 7, 7, 1, 3],  # a region's: the store's counts, kept
        requests=[1, 2, 3, 4, 5],
        capability=["coding", "writing", "coding", "coding", "chat"],
    )
    ev = Evidence(
        accounts=pd.DataFrame({"account": ["a", "b", "c", "d"]}),
        payments=pd.DataFrame({"account": ["d"], "entity": ["card"], "method_type": ["prepaid_card"]}),
        ips=links.assign(proxy=[None, None, None, None, "pool"]),
        templates=templates,
    )
    assert "degree" not in links.columns  # the caller's frame is not changed
    # counted over the rows (x: a and b), then only shared links and proxy exits kept
    assert ev.ips[["entity", "degree"]].values.tolist() == [["x", 2]] * 3 + [["z", 1]]
    assert entity_degrees(ev.templates).to_dict() == {"x": 7, "z": 3}  # y is c's own prompt
    assert ev.payments.empty  # d's card is d's alone
    totals = ev.accounts.set_index("account")
    assert totals["template_requests"].to_dict() == {"a": 9, "b": 2, "c": 4, "d": 0}
    assert totals["template_links"].to_dict() == {"a": 3, "b": 1, "c": 1, "d": 0}
    assert totals["eliciting_requests"].to_dict() == {"a": 4, "b": 0, "c": 4, "d": 0}
    assert totals["own_prompts"].to_dict() == {"a": 0, "b": 0, "c": 1, "d": 0}
    assert totals["anonymous_payment"].to_dict() == {"a": False, "b": False, "c": False, "d": True}
    assert ev.private.sort_values("kind").values.tolist() == [
        ["d", "payment", "prepaid_card", 0, 1],
        ["c", "template", "coding", 4, 1],
    ]


def test_ranked_puts_the_largest_first_then_the_key():
    s = pd.Series(
        [5, 9, 5, 1, 2],
        index=pd.MultiIndex.from_tuples([(1, "b"), (1, "c"), (1, "a"), (2, "z"), (2, "y")]),
    )
    ranked = _ranked(s)
    assert ranked == {1: [("c", 9), ("a", 5), ("b", 5)], 2: [("y", 2), ("z", 1)]}
    assert _shares(ranked[1]) == {"c": 0.474, "a": 0.263, "b": 0.263}
    assert _shares([("a", 0)]) == {}


@pytest.mark.parametrize("seed", range(5))
def test_pairs_within_are_the_rows_of_a_self_join(seed):
    rng = np.random.default_rng(seed)
    key = np.sort(rng.integers(0, 30, int(rng.integers(0, 200))))  # groups laid out one after another
    frame = pd.DataFrame({"key": key, "pos": np.arange(len(key))})
    join = frame.merge(frame, on="key")
    expected = sorted(zip(*(join.loc[join["pos_x"] < join["pos_y"], c] for c in ("pos_x", "pos_y")), strict=True))
    sizes = np.bincount(pd.factorize(key)[0]) if len(key) else np.zeros(0, np.int64)
    first, second = pairs_within(sizes)
    assert sorted(zip(first.tolist(), second.tolist(), strict=True)) == expected


@pytest.mark.parametrize("seed", range(8))
def test_sharing_accounts_counts_what_the_self_join_counts(seed, monkeypatch):
    monkeypatch.setattr(fragments, "PAIR_CHUNK", int(np.random.default_rng(seed).integers(1, 40)))  # many chunks
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    held = pd.DataFrame(
        {
            "community": rng.integers(0, 12, n) * 7,  # ids that are not codes
            "entity": [f"t{e}" for e in rng.integers(0, 25, n)],
            "account": [f"a{a}" for a in rng.integers(0, 60, n)],
        }
    ).drop_duplicates()
    pairs = held.merge(held, on="entity")
    pairs = pairs[pairs["community_x"] < pairs["community_y"]]
    expected = pairs.groupby(["community_x", "community_y"]).agg(x=("account_x", "nunique"), y=("account_y", "nunique"))
    got = fragments.sharing_accounts(held)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_index_type=False)


def test_no_template_held_in_common_ties_no_communities():
    held = pd.DataFrame({"community": [1, 2], "entity": ["t1", "t2"], "account": ["a", "b"]})
    assert fragments.sharing_accounts(held).empty
    assert fragments.sharing_accounts(held.iloc[:0]).empty


@pytest.mark.parametrize("most", [1, 3, 10, 1_000])
def test_chunked_pairs_are_pairs_within_a_chunk_of_whole_groups_at_a_time(most):
    sizes = np.random.default_rng(most).integers(0, 9, 40)
    chunks = list(chunked_pairs(sizes, most))
    first, second = pairs_within(sizes)
    assert np.array_equal(np.concatenate([i for i, _ in chunks]), first)
    assert np.array_equal(np.concatenate([j for _, j in chunks]), second)
    group = np.repeat(np.arange(len(sizes)), sizes)
    seen = [set(group[i]) for i, _ in chunks]
    assert all(not (a & b) for k, a in enumerate(seen) for b in seen[k + 1 :])  # no group split across chunks


def test_communities_are_indexed_by_the_evidences_own_id_strings():
    ids = [f"acct-{i}" for i in range(4)]
    empty = pd.DataFrame({"account": [], "entity": []})
    ev = Evidence(accounts=pd.DataFrame({"account": ids}), payments=empty, ips=empty, templates=empty)
    # a backend's stream: equal strings, other objects, and one account the read did not see
    streamed = ["".join(list(ids[2])), "".join(list(ids[0])), "acct-late"]
    raw = pd.Series([7, 8, 9], index=pd.Index(streamed, dtype=object), name="community")
    assert streamed[0] is not ids[2]

    community = with_evidence_ids(raw, ev)

    assert community.to_dict() == {"acct-2": 7, "acct-0": 8, "acct-late": 9}
    assert community.index[0] is ev.accounts["account"].iloc[2]
    assert community.index[1] is ev.accounts["account"].iloc[0]
    assert community.index[2] is streamed[2]
