"""Fragments of one farm put back together (graph.detection.fragments), on made-up evidence: no database.

A thin farm of 60 accounts, each on 3 of 20 farm templates drawn at random, cut by "Leiden"
into 6 communities of 10; a team of 8 with its own 6 templates in one community, one of whose
members borrowed a farm template for a few requests; ordinary users on popular templates and
prompts of their own, each in a community of its own (popular: used by 40 and 100 accounts,
above the `merge_max_users` of 30 these tests use).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detection.evidence import Evidence
from graph.detection.fragments import merge_fragments
from graph.detection.scoring import DEFAULT_PARAMS

FARM = [f"farm{i:02d}" for i in range(60)]
TEAM = [f"team{i}" for i in range(8)]
USERS = [f"user{i:02d}" for i in range(40)]
# a world this small has no popular template with thousands of users: "scarce" is scaled down with it
P = {**DEFAULT_PARAMS, "merge_max_users": 30, "merge_max_share": 1.0}


def world(seed: int = 1) -> tuple[Evidence, pd.Series]:
    rng = np.random.default_rng(seed)
    tpl = []
    for a in FARM:
        tpl += [(a, f"farm-tpl{t}", int(rng.integers(10, 14)), "coding") for t in rng.choice(20, 3, replace=False)]
        tpl.append((a, "popular-0", 3, "chat"))
    for i, a in enumerate(TEAM):
        tpl += [(a, f"team-tpl{t}", 5 + 30 * i, "writing") for t in rng.choice(6, 3, replace=False)]
        tpl.append((a, f"own-{a}", 5, "writing"))
    tpl.append((TEAM[0], "farm-tpl0", 2, "coding"))  # borrowed: a small part of its traffic
    for i, a in enumerate(USERS):
        tpl += [(a, "popular-0", 10 + i, "chat"), (a, "popular-1", 4, "chat"), (a, f"own-{a}", 5, "writing")]
    templates = pd.DataFrame(tpl, columns=["account", "entity", "requests", "capability"])
    templates["partner_flagged"] = False
    accounts = FARM + TEAM + USERS
    ev = Evidence(
        accounts=pd.DataFrame({"account": accounts, "created": 1.7e9, "email_domain": "", "partner_flagged": False}),
        payments=pd.DataFrame(columns=["account", "entity", "method_type", "bin", "partner_flagged"]),
        ips=pd.DataFrame(columns=["account", "entity", "requests", "ip_type", "proxy", "partner_flagged"]),
        templates=templates,
    )
    community = pd.Series(
        [i // 10 for i in range(len(FARM))] + [100] * len(TEAM) + list(range(200, 200 + len(USERS))),
        index=accounts,
        name="community",
    )
    return ev, community


def test_the_fragments_of_a_thin_farm_become_one_candidate():
    ev, community = world()
    merged, what = merge_fragments(ev, community, P)
    assert merged[FARM].nunique() == 1
    assert (what.components, what.communities, what.accounts) == (1, 6, 60)


def test_a_borrowed_template_does_not_chain_the_team_to_the_farm():
    ev, community = world()
    merged, _ = merge_fragments(ev, community, P)
    assert merged[TEAM].nunique() == 1
    assert merged[TEAM[0]] != merged[FARM[0]]


def test_one_member_on_a_farm_template_does_not_tie_the_team_even_when_it_is_much_of_its_traffic():
    """The link rule does not hold here (the borrowed template is a third of the member's
    traffic); the tie rule does: one team account is not `merge_min_shared` accounts."""
    ev, community = world()
    heavy = (ev.templates["account"] == TEAM[0]) & (ev.templates["entity"] == "farm-tpl0")
    ev.templates.loc[heavy, "requests"] = 40
    merged, _ = merge_fragments(ev, community, P)
    assert merged[TEAM[0]] != merged[FARM[0]]
    assert (merged[TEAM] == community[TEAM]).all()


def test_without_either_rule_the_borrowed_template_would_chain_them():
    """The premise of `merge_min_link` and `merge_min_shared`: the borrower's other traffic is
    all on scarce templates, so with both rules off the team joins the farm."""
    ev, community = world()
    merged, _ = merge_fragments(ev, community, {**P, "merge_min_link": 0.0, "merge_min_shared": 1})
    assert merged[TEAM[0]] == merged[FARM[0]]


def test_ordinary_users_keep_their_communities():
    ev, community = world()
    merged, _ = merge_fragments(ev, community, P)
    assert (merged[USERS] == community[USERS]).all()


def test_nothing_to_merge_changes_nothing():
    ev, community = world()
    ev.templates = ev.templates[~ev.templates["account"].isin(FARM)]
    merged, what = merge_fragments(ev, community, P)
    assert merged.equals(community)
    assert what.components == 0
    assert what.summary(0.1).startswith("fragments: nothing to put together")


FARM2 = [f"other{i:02d}" for i in range(12)]


def glued(second_farm: bool = False) -> tuple[Evidence, pd.Series]:
    """The world above with half the farm (30 accounts) glued by "Leiden" to the ordinary users
    in one community of 70, where the farm's accounts are a minority; with `second_farm`, 12
    accounts of another farm on 6 templates of its own in that community too."""
    ev, community = world()
    if second_farm:
        rng = np.random.default_rng(2)
        rows = [(a, f"other-tpl{t}", 12, "coding", False) for a in FARM2 for t in rng.choice(6, 3, replace=False)]
        rows += [(a, "popular-0", 3, "chat", False) for a in FARM2]
        templates = pd.concat([ev.templates, pd.DataFrame(rows, columns=list(ev.templates.columns[:5]))])
        accounts = pd.concat([ev.accounts, pd.DataFrame({"account": FARM2, "created": 1.7e9, "email_domain": ""})])
        ev = Evidence(accounts.assign(partner_flagged=False), ev.payments, ev.ips, templates.reset_index(drop=True))
        community = pd.concat([community, pd.Series(300, index=FARM2)])
    community[FARM[30:]] = 300
    community[USERS] = 300
    return ev, community.rename("community")


def test_farm_accounts_glued_to_the_ordinary_users_rejoin_their_fragments():
    ev, community = glued()
    merged, _ = merge_fragments(ev, community, P)
    assert merged[FARM].nunique() == 1
    assert merged[FARM[0]] != 300
    assert (merged[USERS] == 300).all()


def test_two_farms_glued_to_the_same_users_do_not_become_one():
    ev, community = glued(second_farm=True)
    merged, _ = merge_fragments(ev, community, P)
    assert merged[FARM].nunique() == 1
    assert merged[FARM[0]] not in set(merged[FARM2])


def test_holders_split_off_but_tied_to_nothing_stay_where_they_were():
    """The second farm has no fragment outside the users' community: it is not pulled out on
    its own (scoring and expansion see it as before), and the users keep their community."""
    ev, community = glued(second_farm=True)
    merged, _ = merge_fragments(ev, community, P)
    assert (merged[FARM2] == 300).all()
    assert (merged[USERS] == 300).all()


def test_without_the_split_the_glued_half_stays_with_the_users():
    """The premise: the glued half is a minority of its community, which does not take part."""
    ev, community = glued()
    import graph.detection.fragments as fragments

    held = fragments._scarce_links(ev, P)
    in_users = held[held["account"].isin(FARM[30:] + USERS)]["account"].nunique()
    assert in_users / 70 <= 0.5
