"""The links a region's projection carries (graph.detection.communities.region_links): those to
an entity of 2 to its kind's cap users in the whole graph, weighted as the whole graph's
projection weighs them, numbered account by account."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detection.communities import region_links
from graph.detection.evidence import Evidence, link_edges
from graph.detection.scoring import DEFAULT_PARAMS


def region(population: int) -> Evidence:
    """Three accounts of a graph of `population`, their links with whole-graph degrees."""
    return Evidence(
        accounts=pd.DataFrame({"account": ["a1", "a2", "a3"]}),
        payments=pd.DataFrame({"account": ["a2", "a1"], "entity": ["p1", "p1"], "degree": [3, 3]}),
        ips=pd.DataFrame(
            {
                "account": ["a1", "a3", "a1"],
                "entity": ["exit-alone", "carrier", "i3"],
                # a proxy exit only a1 uses; an address above the cap; one shared by two
                "degree": [1, DEFAULT_PARAMS["max_ip_degree"] + 1, 2],
            }
        ),
        templates=pd.DataFrame({"account": ["a2"], "entity": ["t1"], "degree": [2]}),
        population=population,
        private=pd.DataFrame(),
    )


def test_links_within_the_caps_account_by_account_with_the_whole_graphs_weights():
    p = DEFAULT_PARAMS
    source, target, w = region_links(region(1000), p)
    # a1: its card, then its shared address; a2: the card, then its template; a3: nothing
    assert source.tolist() == [0, 0, 1, 1]
    assert target.tolist() == [3, 4, 3, 5]  # entities numbered after the 3 accounts
    expected = [p["w_payment"] * np.log(1000 / 3), p["w_ip"] * np.log(1000 / 2)]
    expected += [p["w_payment"] * np.log(1000 / 3), p["w_template"] * np.log(1000 / 2)]
    assert np.allclose(w, expected)


def test_on_the_whole_graph_they_are_the_edges_every_other_backend_builds():
    ev = Evidence(
        accounts=pd.DataFrame({"account": [f"a{i}" for i in range(6)]}),
        payments=pd.DataFrame({"account": ["a0", "a1", "a2", "a5"], "entity": ["p", "p", "p", "q"]}),
        ips=pd.DataFrame({"account": ["a3", "a4", "a0"], "entity": ["i", "i", "j"]}),
        templates=pd.DataFrame({"account": ["a1", "a2", "a3", "a4"], "entity": ["t", "t", "t", "u"]}),
        private=pd.DataFrame(),
    )
    source, target, w = region_links(ev, DEFAULT_PARAMS)
    accounts = ev.accounts["account"].to_numpy()
    entity_of = {}
    for kind, frame in (("pay", ev.payments), ("ip", ev.ips), ("tpl", ev.templates)):
        numbered = len(accounts) + len(entity_of)
        for code, key in enumerate(pd.unique(frame.loc[frame["degree"] >= 2, "entity"])):
            entity_of[numbered + code] = f"{kind}:{key}"
    mine = sorted(zip(accounts[source], [entity_of[t] for t in target], np.round(w, 9), strict=True))
    edges = link_edges(ev, DEFAULT_PARAMS)
    theirs = sorted(zip(edges["account"], edges["entity"], np.round(edges["w"], 9), strict=True))
    assert mine == theirs and len(mine) == 8  # p: 3 links, i: 2, t: 3
