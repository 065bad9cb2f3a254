"""The GDS-session backend against the real local database, as far as it goes without Aura.

No session can be created here, so what is checked is what the database does for one:
the remote projection's data query (the query sent, up to its gds.graph.project.remote
call) reads exactly the links and weights the local projection holds, and the node ids a
session streams back map to the accounts the local GDS finds. And the CLI without
credentials: one line, no traceback.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import run_cli

from graph.db.connection import gds_client, read
from graph.detection import communities
from graph.detection.calibrate import detection_params
from graph.detection.communities import (
    COMMUNITIES,
    PROJECTION,
    REMOTE_PROJECTION,
    communities_from_stream,
    leiden_config,
    link_params,
)
from graph.detection.scoring import DEFAULT_PARAMS

REMOTE_CALL = "RETURN gds.graph.project.remote("


@pytest.fixture()
def params(world, driver) -> dict:
    p, _ = detection_params(driver, {**DEFAULT_PARAMS})
    return p


@pytest.fixture()
def projection(world, driver, params):
    """The local projection of the world (dropped afterwards): (name, number of accounts)."""
    n = read(driver, "MATCH (a:Account) RETURN count(a) AS n")[0]["n"]
    gds = gds_client(driver)
    name = "test-links"
    gds.run_cypher(PROJECTION, {"graph": name, **link_params(n, params)})
    yield name, n
    gds.graph.drop(name, failIfMissing=False)


def test_the_remote_data_query_reads_the_links_the_local_projection_holds(driver, params, projection):
    name, n = projection
    body = REMOTE_PROJECTION[: REMOTE_PROJECTION.index(REMOTE_CALL)]  # what the database would stream to the session
    links = pd.DataFrame(read(driver, body + "RETURN id(a) AS source, id(e) AS target, w", **link_params(n, params)))
    assert len(links) > 1000, "the world has too few shared links to compare"

    local = gds_client(driver).run_cypher(
        "CALL gds.graph.relationshipProperty.stream($graph, 'w') "
        "YIELD sourceNodeId, targetNodeId, propertyValue "
        "RETURN sourceNodeId AS source, targetNodeId AS target, propertyValue AS w",
        {"graph": name},
    )
    info = read(driver, "CALL gds.graph.list($graph) YIELD relationshipCount RETURN relationshipCount", graph=name)
    assert info[0]["relationshipCount"] == 2 * len(links) == len(local)  # undirected: each link both ways
    assert local["w"].sum() == pytest.approx(2 * links["w"].sum(), rel=1e-12)
    # link by link: the local projection holds each remote row, in both directions, with its weight
    forward = links.sort_values(["source", "target"], ignore_index=True)
    both = pd.concat([forward, forward.rename(columns={"source": "target", "target": "source"})])
    pd.testing.assert_frame_equal(
        local.sort_values(["source", "target"], ignore_index=True)[["source", "target", "w"]],
        both.sort_values(["source", "target"], ignore_index=True)[["source", "target", "w"]],
        check_dtype=False,
        rtol=1e-12,
    )


def test_streamed_node_ids_map_back_to_the_accounts_gds_finds(driver, params, projection, monkeypatch):
    name, _ = projection
    gds = gds_client(driver)
    config = leiden_config(params)
    raw = gds.run_cypher(
        "CALL gds.leiden.stream($graph, $config) YIELD nodeId, communityId "
        "RETURN collect(nodeId) AS nodes, collect(communityId) AS communities",
        {"graph": name, "config": config},
    ).iloc[0]
    by_name = gds.run_cypher(COMMUNITIES, {"graph": name, "config": config}).iloc[0]
    expected = pd.Series(by_name["communities"], index=by_name["accounts"]).sort_index()

    monkeypatch.setattr(communities, "ACCOUNT_IDS_BATCH", 997)  # several batches
    mapped = communities_from_stream(driver, raw["nodes"], raw["communities"])
    assert len(raw["nodes"]) > len(mapped) > 3 * 997  # entities were streamed too and left out
    assert mapped.index.is_unique
    assert mapped.sort_index().to_dict() == expected.to_dict()


def test_detect_with_gds_session_and_no_credentials_is_one_line():
    env = {"RINGWATCH_AURA_CLIENT_ID": "", "RINGWATCH_AURA_CLIENT_SECRET": ""}
    done = run_cli("detect", "--backend", "gds-session", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "RINGWATCH_AURA_CLIENT_ID" in lines[0] and "RINGWATCH_AURA_CLIENT_SECRET" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_backend_is_refused_by_the_parser():
    done = run_cli("detect", "--backend", "gds-sessions")
    assert done.returncode == 2
    assert "gds-session" in done.stderr and "Traceback" not in done.stderr
