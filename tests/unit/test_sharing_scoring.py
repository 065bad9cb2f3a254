"""The partner bonus in ring scores (graph.detection.scoring.partner_share): only flags on
entities that bind the ring count, weighted by confidence, and only entities few accounts
use; a ring's bonus is at most `partner_bonus`, reached when partners flagged everything
that binds it. Synthetic evidence, no database."""

from __future__ import annotations

import pandas as pd
import pytest

from graph.detection.evidence import Evidence
from graph.detection.scoring import DEFAULT_PARAMS, score_communities

FARM = [f"farm{i}" for i in range(6)]
TEAM = [f"team{i}" for i in range(5)]
CROWD = [f"user{i}" for i in range(70)]  # one community of ordinary users of a popular app
LONERS = [f"loner{i}" for i in range(60)]  # strangers behind one carrier NAT, each on their own


def world(flags: dict[str, float] | None = None, weights: bool = False) -> tuple[Evidence, pd.Series]:
    """Evidence with a farm, a team, a crowd on a popular template, and a carrier NAT.

    `flags`: entity -> weight of a partner flag on it; `weights`: carry the weights as the
    `partner_weight` column (else only `partner_flagged`, as before weights existed).
    """
    flags = flags or {}
    accounts = FARM + TEAM + CROWD + LONERS
    tpl, pay, ips = [], [], []
    for a in FARM:
        tpl += [(a, f"farm-tpl{j}", 40, "coding") for j in range(4)]
        pay.append((a, "farm-card", "prepaid_card"))
        ips.append((a, "198.51.100.9", 40, "datacenter"))
    for i, a in enumerate(TEAM):
        tpl += [(a, "team-tpl0", 5 + 20 * i, "writing"), (a, "team-tpl1", 3 + 10 * i, "writing")]
        pay.append((a, "team-card", "card"))
        ips.append((a, "203.0.113.10", 10 + 30 * i, "business"))
    for i, a in enumerate(CROWD):
        tpl += [(a, "popular-tpl", 2 + i, "writing"), (a, "app-tpl", 1 + i % 7, "writing")]
        pay.append((a, f"card-{a}", "card"))
    for i, a in enumerate(LONERS + TEAM[:1]):
        ips.append((a, "100.64.0.1", 1 + i, "mobile"))
        pay.append((a, f"card-{a}", "card"))
    frames = {
        "templates": pd.DataFrame(tpl, columns=["account", "entity", "requests", "capability"]),
        "payments": pd.DataFrame(pay, columns=["account", "entity", "method_type"]).assign(bin=None),
        "ips": pd.DataFrame(ips, columns=["account", "entity", "requests", "ip_type"]).assign(proxy=None),
    }
    for f in frames.values():
        f["partner_flagged"] = f["entity"].isin(list(flags))
        if weights:
            f["partner_weight"] = f["entity"].map(flags)
    acc = pd.DataFrame(
        {
            "account": accounts,
            "created": [1.7e9 + 3600 * i for i in range(len(accounts))],
            "email_domain": "example.com",
            "partner_flagged": False,
        }
    )
    ev = Evidence(accounts=acc, payments=frames["payments"], ips=frames["ips"], templates=frames["templates"])
    community = pd.Series(
        {
            **{a: 0 for a in FARM},
            **{a: 1 for a in TEAM},
            **{a: 2 for a in CROWD},
            **{a: 3 + i for i, a in enumerate(LONERS)},
        },
        dtype="int64",
    )
    return ev, community


def rings(flags=None, weights=False, **params) -> pd.DataFrame:
    ev, community = world(flags, weights)
    r, _ = score_communities(ev, community, {**DEFAULT_PARAMS, **params})
    return r.set_index("community")


FARM_THINGS = {"farm-card": 1.0, "198.51.100.9": 1.0, **{f"farm-tpl{j}": 1.0 for j in range(4)}}


def test_the_rings_are_what_the_world_says():
    r = rings()
    assert set(r.index) == {0, 1, 2}
    assert (r["partner_flagged"] == 0).all()


def test_a_partner_who_found_the_farm_lifts_it_by_the_full_bonus():
    before, after = rings(), rings(FARM_THINGS)
    assert after.loc[0, "partner_flagged"] == 1.0
    assert after.loc[0, "score"] == pytest.approx(min(1.0, before.loc[0, "score"] + DEFAULT_PARAMS["partner_bonus"]))
    assert "partners flagged 100% of what binds it" in after.loc[0, "reason"]
    assert (after.loc[[1, 2], "score"] == before.loc[[1, 2], "score"]).all()


def test_a_flag_on_something_many_accounts_use_adds_nothing():
    flags = {"popular-tpl": 1.0, "app-tpl": 1.0, "100.64.0.1": 1.0}
    before, after = rings(), rings(flags)
    assert (after["partner_flagged"] == 0).all()
    assert (after["score"] == before["score"]).all()
    # the crowd's templates bind the crowd (all their users are in it): only the cap keeps them out
    uncapped = rings(flags, partner_max_users=10_000)
    assert uncapped.loc[2, "partner_flagged"] == 1.0 and uncapped.loc[1, "partner_flagged"] == 0.0


def test_a_flag_on_one_of_the_things_a_group_shares_adds_its_share_only():
    after = rings({"203.0.113.10": 1.0})  # the team's office address; it also shares a card and two templates
    assert after.loc[1, "partner_flagged"] == pytest.approx(1 / 4)
    assert after.loc[1, "score"] - rings().loc[1, "score"] == pytest.approx(DEFAULT_PARAMS["partner_bonus"] / 4)


def test_flags_weigh_by_confidence():
    half = {k: 0.5 for k in FARM_THINGS}
    assert rings(half, weights=True).loc[0, "partner_flagged"] == pytest.approx(0.5)
    assert rings({**half, "farm-card": 0.9}, weights=True).loc[0, "partner_flagged"] == pytest.approx(
        (0.5 * 5 + 0.9) / 6
    )
    assert rings({k: 0.0 for k in FARM_THINGS}, weights=True).loc[0, "partner_flagged"] == 0.0
    # a flag whose weight was never recorded (imported before weights) counts fully, as it did
    legacy = {k: float("nan") for k in FARM_THINGS}
    assert rings(legacy, weights=True).loc[0, "partner_flagged"] == 1.0
