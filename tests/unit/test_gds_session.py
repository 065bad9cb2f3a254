"""The remote projection's parts that need no Aura: query text and parameters.

The Cypher itself runs against the real database in tests/test_remote_projection.py; here the
fakes only record what would be sent (as graphdatascience's own unit tests do).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from graph.detection import communities
from graph.detection.communities import (
    LINK_PARAMS,
    LINKS,
    PROJECTION,
    REMOTE_PROJECTION,
    leiden_config,
    link_params,
    number_literals,
    remote_projection_query,
)
from graph.detection.scoring import DEFAULT_PARAMS


def tail(query: str) -> str:
    assert query.startswith(LINKS)
    return query[len(LINKS) :]


def test_local_and_remote_projections_share_the_link_body_and_differ_only_in_their_tails():
    local, remote = tail(PROJECTION), tail(REMOTE_PROJECTION)
    assert "UNION ALL" not in local + remote and "MATCH" not in local + remote  # every link lives in LINKS
    assert LINKS.count("UNION ALL") == 2
    assert "gds.graph.project($graph, a, e, {relationshipProperties: {w: w}}" in local
    assert "gds.graph.project.remote" not in local


def test_the_remote_query_projects_accounts_to_entities_with_their_labels_and_weight():
    remote = tail(REMOTE_PROJECTION)
    call = re.search(r"RETURN gds\.graph\.project\.remote\(a, e, \{(.*)\}\)", remote, re.S)
    assert call, remote
    entries = {k.strip(): v.strip() for k, v in (e.split(":", 1) for e in call[1].split(",\n"))}
    assert entries == {
        "sourceNodeLabels": "labels(a)",
        "targetNodeLabels": "labels(e)",
        "relationshipProperties": "{w: w}",
    }
    assert "$" not in remote  # the graph name is the client's argument, not part of the query


def test_the_link_body_reads_exactly_the_link_parameters():
    assert set(re.findall(r"\$(\w+)", LINKS)) == set(LINK_PARAMS)
    assert set(link_params(10, DEFAULT_PARAMS)) == set(LINK_PARAMS)
    assert link_params(1, DEFAULT_PARAMS)["n"] == 2  # log(n / deg) stays defined


def test_the_local_projection_gets_its_values_as_parameters(monkeypatch):
    sent: list[tuple[str, dict]] = []

    class FakeGds:
        class graph:
            @staticmethod
            def drop(name, failIfMissing):
                sent.append(("drop", {"name": name}))

        def run_cypher(self, query, params):
            sent.append((query, params))
            if "estimate" in query:
                return pd.DataFrame([{"bytesMax": 1, "heapPercentageMax": 1.0}])
            if query == communities.COMMUNITIES:
                return pd.DataFrame([{"accounts": ["a1", "a2"], "communities": [0, 0]}])
            return pd.DataFrame([{}])

    monkeypatch.setattr(communities, "gds_client", lambda driver: FakeGds())
    found = communities.communities_gds(None, 500, DEFAULT_PARAMS)
    assert found.to_dict() == {"a1": 0, "a2": 0}
    query, params = sent[0]
    assert query == PROJECTION  # the text as written: no value formatted in
    assert params == {"graph": params["graph"], **link_params(500, DEFAULT_PARAMS)}
    assert sent[1][1]["config"] == sent[2][1]["config"] == leiden_config(DEFAULT_PARAMS)
    assert sent[-1] == ("drop", {"name": params["graph"]})


def test_number_literals_writes_only_numbers():
    values = {**link_params(500, DEFAULT_PARAMS), "w_ip": 1e-5, "w_template": -0.25}
    query = number_literals(LINKS, values)
    assert "$" not in query
    assert "1e-05 * log(toFloat(500) / deg)" in query
    assert "(-0.25) * log(" in query
    assert f"2 <= deg <= {values['max_ip_degree']}\n" in query
    for bad in ("1; MATCH (n) DETACH DELETE n", True, math.nan, math.inf, None):
        with pytest.raises(ValueError):
            number_literals(LINKS, {**values, "w_payment": bad})
    with pytest.raises(ValueError, match=r"\$n"):
        number_literals(LINKS, {k: v for k, v in values.items() if k != "n"})


def test_the_remote_query_is_the_remote_projection_with_its_numbers_written_in():
    query = remote_projection_query(500, {**DEFAULT_PARAMS, "w_payment": np.float64(0.75)})
    assert query == number_literals(REMOTE_PROJECTION, link_params(500, {**DEFAULT_PARAMS, "w_payment": 0.75}))
    assert "0.75 * log(toFloat(500) / deg)" in query
