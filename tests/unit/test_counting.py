"""The integer-code counting detection uses instead of group-bys of strings: same answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.detection.evidence import Evidence, distinct_accounts, entity_degrees, users_per_entity
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


def test_evidence_gives_links_without_a_degree_one_counted_over_their_rows():
    links = pd.DataFrame({"account": ["a", "b", "a", "c", "a"], "entity": ["x", "x", "x", "y", "z"]})
    ev = Evidence(
        accounts=pd.DataFrame({"account": ["a", "b", "c"]}),
        payments=pd.DataFrame({"account": [], "entity": []}),
        ips=links,
        templates=links.assign(degree=[7, 7, 7, 1, 3]),  # a region's: the store's counts, kept
    )
    assert ev.ips["degree"].tolist() == [2, 2, 2, 1, 1]
    assert "degree" not in links.columns  # the caller's frame is not changed
    assert entity_degrees(ev.templates).to_dict() == {"x": 7, "y": 1, "z": 3}
    assert ev.payments["degree"].empty


def test_ranked_puts_the_largest_first_then_the_key():
    s = pd.Series(
        [5, 9, 5, 1, 2],
        index=pd.MultiIndex.from_tuples([(1, "b"), (1, "c"), (1, "a"), (2, "z"), (2, "y")]),
    )
    ranked = _ranked(s)
    assert ranked == {1: [("c", 9), ("a", 5), ("b", 5)], 2: [("y", 2), ("z", 1)]}
    assert _shares(ranked[1]) == {"c": 0.474, "a": 0.263, "b": 0.263}
    assert _shares([("a", 0)]) == {}
