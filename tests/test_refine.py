"""The two ways `refine` finds linked members give the same rings (pure computation, no database)."""

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import graph.detection.communities as gc


def components(a: np.ndarray, b: np.ndarray, n: int, extra: int = 0) -> np.ndarray:
    size = n + extra
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    return connected_components(graph, directed=False)[1][:n]


def same_partition(x: np.ndarray, y: np.ndarray) -> bool:
    return len(set(zip(x, y, strict=True))) == len(set(x)) == len(set(y))


@pytest.mark.parametrize("seed", range(20))
def test_pair_nodes_and_incidence_product_agree(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    n, m, n_links = int(rng.integers(5, 300)), int(rng.integers(3, 100)), int(rng.integers(5, 2000))
    links = pd.DataFrame({"r": rng.integers(0, n, n_links), "c": rng.integers(0, m, n_links)}).drop_duplicates()
    rows, cols = links["r"].to_numpy(np.int64), links["c"].to_numpy(np.int64)
    monkeypatch.setattr(gc, "PAIR_CHUNK", int(rng.integers(1, 50)))  # many chunks, accounts never split

    by_entity = components(*gc._linked_by_entity(rows, cols, n, 2), n)
    a, b, pair_nodes = gc._linked_by_pair(rows, cols, n)
    by_pair = components(a, b, n, pair_nodes)

    assert same_partition(by_entity, by_pair)


def test_one_shared_entity_does_not_link() -> None:
    # accounts 0,1 share entities 0 and 1; account 2 shares only entity 1 with them
    rows = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    cols = np.array([0, 1, 0, 1, 1, 2], dtype=np.int64)
    a, b, pair_nodes = gc._linked_by_pair(rows, cols, 3)
    for labels in (components(*gc._linked_by_entity(rows, cols, 3, 2), 3), components(a, b, 3, pair_nodes)):
        assert labels[0] == labels[1] != labels[2]
