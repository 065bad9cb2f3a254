"""Communities are scored in batches of bounded size (graph.detection.scoring.community_batches), each
as one pass over all would score it; the background population is scored but not explained."""

import numpy as np
import pandas as pd
import pytest

from graph.detection import scoring
from graph.detection.evidence import Evidence
from graph.detection.scoring import DEFAULT_PARAMS, community_batches, is_background, score_communities
from graph.vocabulary import FEATURES


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


FARM = [f"farm{i:02d}" for i in range(30)]
USERS = [f"user{i:02d}" for i in range(40)]
# small enough for the users' community to be the background population of this world
P = {**DEFAULT_PARAMS, "background_min_size": 10, "background_share": 0.0}


def world() -> tuple[Evidence, pd.Series]:
    """A farm of 30 on its own coding templates, scripted (no prompt of its own), uniform;
    40 ordinary users held together by two chat templates only they use, each with a prompt
    of its own and heavy-tailed volumes: one candidate, well below the threshold."""
    rng = np.random.default_rng(3)
    tpl = [(a, f"farm-tpl{t}", 12, "coding") for a in FARM for t in rng.choice(8, 3, replace=False)]
    for i, a in enumerate(USERS):
        tpl += [(a, "chat-1", 5 + i * i, "chat"), (a, "chat-2", 3, "chat"), (a, f"own-{a}", 4, "writing")]
    ev = Evidence(
        accounts=pd.DataFrame(
            {
                "account": FARM + USERS,
                "created": 1.7e9 + np.arange(70) * 9e5,
                "email_domain": "",
                "partner_flagged": False,
            }
        ),
        payments=pd.DataFrame(columns=["account", "entity", "method_type", "bin", "partner_flagged"]),
        ips=pd.DataFrame(columns=["account", "entity", "requests", "ip_type", "proxy", "partner_flagged"]),
        templates=pd.DataFrame(tpl, columns=["account", "entity", "requests", "capability"]).assign(
            partner_flagged=False
        ),
    )
    return ev, pd.Series([1] * len(FARM) + [2] * len(USERS), index=FARM + USERS, name="community")


def by_community(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.sort_values(["community", *columns]).reset_index(drop=True)


@pytest.mark.parametrize("batch", [1_000, 35])  # one batch; the farm and the users each in a batch of their own
def test_the_background_is_scored_but_not_explained_and_has_no_members(batch, monkeypatch):
    monkeypatch.setattr(scoring, "SCORE_BATCH", batch)
    ev, community = world()
    every_ring, every_member = score_communities(ev, community, P)
    rings, members = score_communities(ev, community, P, threshold=0.5)

    assert every_ring.set_index("community")["score"].lt(0.5).to_dict() == {1: False, 2: True}
    assert list(every_ring.loc[is_background(every_ring, 70, 0.5, P), "community"]) == [2]
    scored = ["community", "size", "score", *FEATURES]
    pd.testing.assert_frame_equal(by_community(rings)[scored], by_community(every_ring)[scored])
    background = rings.set_index("community").loc[2]
    assert (background["reason"], background["bound"], list(background["capabilities"])) == ("", "[]", [])
    pd.testing.assert_frame_equal(
        by_community(rings[rings["community"] == 1]), by_community(every_ring[every_ring["community"] == 1])
    )
    pd.testing.assert_frame_equal(
        by_community(members, "account"),
        by_community(every_member[every_member["community"] == 1], "account"),
    )
    assert set(every_member["community"]) == {1, 2}


def test_batches_score_as_one_pass_does(monkeypatch):
    ev, community = world()
    whole = score_communities(ev, community, P)
    monkeypatch.setattr(scoring, "SCORE_BATCH", 35)
    batched = score_communities(ev, community, P)
    pd.testing.assert_frame_equal(by_community(batched[0]), by_community(whole[0]))
    pd.testing.assert_frame_equal(by_community(batched[1], "account"), by_community(whole[1], "account"))
