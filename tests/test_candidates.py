"""Which scored candidates detection keeps (pure computation, no database)."""

import pandas as pd

from graph.detection.detect import drop_background
from graph.detection.scoring import DEFAULT_PARAMS


def candidates(sizes_scores: list[tuple[int, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rings = pd.DataFrame(
        {
            "community": range(len(sizes_scores)),
            "size": [s for s, _ in sizes_scores],
            "score": [x for _, x in sizes_scores],
        }
    )
    members = pd.DataFrame(
        [{"community": c, "account": f"{c}-{i}"} for c, (size, _) in enumerate(sizes_scores) for i in range(size)]
    )
    return rings, members


def test_a_low_score_candidate_holding_much_of_the_world_is_not_kept() -> None:
    # 100,000 accounts: the limit is 5,000 members
    rings, members = candidates([(60_000, 0.11), (4_000, 0.30), (12_000, 0.62), (40, 0.90)])
    kept, kept_members, background = drop_background(rings, members, 100_000, 0.5, DEFAULT_PARAMS)
    assert list(background["community"]) == [0]
    assert list(kept["community"]) == [1, 2, 3]  # a big candidate above the threshold stays
    assert set(kept_members["community"]) == {1, 2, 3}
    assert len(kept_members) == 4_000 + 12_000 + 40


def test_small_worlds_keep_candidates_up_to_the_minimum_size() -> None:
    rings, members = candidates([(900, 0.10), (1_100, 0.10)])
    kept, _, background = drop_background(rings, members, 4_000, 0.5, DEFAULT_PARAMS)
    assert list(kept["community"]) == [0]
    assert list(background["community"]) == [1]
