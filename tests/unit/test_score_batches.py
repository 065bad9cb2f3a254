"""Communities are scored in batches of bounded size (graph.detection.scoring.community_batches)."""

import numpy as np
import pandas as pd
import pytest

from graph.detection.scoring import community_batches


@pytest.mark.parametrize("seed", range(10))
def test_every_community_in_one_batch_and_no_batch_over_the_limit_unless_alone(seed):
    rng = np.random.default_rng(seed)
    sizes = pd.Series(rng.integers(3, 400, int(rng.integers(1, 200))))
    most = int(rng.integers(50, 1000))
    batches = community_batches(sizes, most)
    held = np.concatenate(batches)
    assert sorted(held.tolist()) == sorted(sizes.index.tolist())  # each exactly once
    for batch in batches:
        total = int(sizes.loc[batch].sum())
        assert total <= most or len(batch) == 1
    # largest first: a batch never holds a community larger than one of an earlier batch's
    firsts = [int(sizes.loc[b].max()) for b in batches]
    assert firsts == sorted(firsts, reverse=True)


def test_a_community_larger_than_the_limit_is_a_batch_of_its_own():
    batches = community_batches(pd.Series({7: 500, 8: 20, 9: 30}), 100)
    assert [b.tolist() for b in batches] == [[7], [9, 8]]
