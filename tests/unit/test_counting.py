"""The integer-code counting detection uses instead of group-bys of strings: same answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.detection.evidence import distinct_accounts, entity_degrees
from graph.detection.scoring import _ranked, _shares


@pytest.mark.parametrize("seed", range(5))
def test_distinct_accounts_is_a_group_by_nunique(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    group, account = rng.integers(0, 40, n), rng.integers(0, 30, n)  # with repeated (group, account) pairs
    expected = pd.DataFrame({"g": group, "a": account}).groupby("g")["a"].transform("nunique").to_numpy()
    np.testing.assert_array_equal(distinct_accounts(group, account), expected)


def test_entity_degrees_counts_each_account_once():
    links = pd.DataFrame({"account": ["a", "b", "a", "c", "a"], "entity": ["x", "x", "x", "y", "z"]})
    degrees = entity_degrees(links)
    assert degrees.to_dict() == {"x": 2, "y": 1, "z": 1}
    assert degrees.equals(degrees.astype("int64")) and degrees.index.name == "entity"


def test_an_empty_frame_has_no_degrees():
    assert entity_degrees(pd.DataFrame({"account": [], "entity": []})).empty


def test_ranked_puts_the_largest_first_then_the_key():
    s = pd.Series(
        [5, 9, 5, 1, 2],
        index=pd.MultiIndex.from_tuples([(1, "b"), (1, "c"), (1, "a"), (2, "z"), (2, "y")]),
    )
    ranked = _ranked(s)
    assert ranked == {1: [("c", 9), ("a", 5), ("b", 5)], 2: [("y", 2), ("z", 1)]}
    assert _shares(ranked[1]) == {"c": 0.474, "a": 0.263, "b": 0.263}
    assert _shares([("a", 0)]) == {}
