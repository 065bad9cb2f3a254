"""Community detection over accounts and the rare things they share, in GDS or networkx.

Both backends build the same bipartite graph: accounts linked to the payment methods,
IP addresses and prompt templates they share, each link weighted by the entity's
rarity, log(N / degree) (see graph.evidence.link_edges for the rule). Communities of that
graph group accounts that share many rare things; scoring then decides which are rings.

GDS: a Cypher-aggregation projection (the weights computed in the database), memory
estimated before the run, Leiden with a fixed seed, the projection dropped afterwards.
Cost: linear in shared links; about 15 s for a 100,000-account world here.

networkx: the same edges read into Python, Louvain (networkx has no Leiden) with a fixed
seed. Cost: a few times slower and all in this process's memory; meant for databases
without the GDS plugin (managed Neo4j without it), not for very large worlds.
"""

from __future__ import annotations

import uuid

import neo4j
import networkx as nx
import pandas as pd

from graph.connection import DatabaseUnavailable, gds_client
from graph.evidence import Evidence, link_edges

PROJECTION = """
CALL {
  MATCH (a:Account)-[:PAID_WITH]->(e:PaymentMethod)
  WITH a, e, COUNT { (e)<-[:PAID_WITH]-(:Account) } AS deg
  WHERE deg >= 2 AND deg <= $max_payment_degree
  RETURN a, e, $w_payment * log(toFloat($n) / deg) AS w
  UNION ALL
  MATCH (a:Account)-[:USED_IP]->(e:IP)
  WITH a, e, COUNT { (e)<-[:USED_IP]-(:Account) } AS deg
  WHERE deg >= 2 AND deg <= $max_ip_degree
  RETURN a, e, $w_ip * log(toFloat($n) / deg) AS w
  UNION ALL
  MATCH (a:Account)-[:USED_TEMPLATE]->(e:PromptTemplate)
  WITH a, e, COUNT { (e)<-[:USED_TEMPLATE]-(:Account) } AS deg
  WHERE deg >= 2 AND deg <= $max_template_degree
  RETURN a, e, $w_template * log(toFloat($n) / deg) AS w
}
WITH gds.graph.project($graph, a, e, {relationshipProperties: {w: w}},
                       {undirectedRelationshipTypes: ['*']}) AS g
RETURN g.graphName AS graph, g.nodeCount AS nodes, g.relationshipCount AS relationships
"""

COMMUNITIES = """
CALL gds.leiden.stream($graph, $config) YIELD nodeId, communityId
WITH gds.util.asNode(nodeId) AS node, communityId
WHERE node:Account
RETURN node.id AS account, communityId AS community
"""


class MemoryTooSmall(RuntimeError):
    pass


def communities_gds(driver: neo4j.Driver, n_accounts: int, params: dict) -> pd.Series:
    """account id -> community id, computed in GDS (Leiden on the weighted projection)."""
    gds = gds_client(driver)
    name = f"ringwatch-{uuid.uuid4().hex[:8]}"
    keys = ("max_payment_degree", "max_ip_degree", "max_template_degree", "w_payment", "w_ip", "w_template")
    query_params = {k: params[k] for k in keys}
    gds.run_cypher(PROJECTION, {"graph": name, "n": max(n_accounts, 2), **query_params})
    try:
        config = {
            "relationshipWeightProperty": "w",
            "randomSeed": params["seed"],
            "concurrency": 1,  # with a seed, deterministic
            "gamma": params["resolution"],
            "maxLevels": 10,
        }
        estimate = gds.run_cypher(
            "CALL gds.leiden.stream.estimate($graph, $config) YIELD bytesMax, heapPercentageMax "
            "RETURN bytesMax, heapPercentageMax",
            {"graph": name, "config": config},
        ).iloc[0]
        if estimate["heapPercentageMax"] > 80:
            raise MemoryTooSmall(
                f"Leiden would need {estimate['heapPercentageMax']:.0f}% of the database heap "
                f"({estimate['bytesMax'] / 2**20:.0f} MiB): raise RINGWATCH_HEAP or use --backend networkx"
            )
        rows = gds.run_cypher(COMMUNITIES, {"graph": name, "config": config})
    finally:
        gds.graph.drop(name, failIfMissing=False)
    if rows.empty:
        return pd.Series(dtype="int64", name="community")
    return rows.set_index("account")["community"].astype("int64")


def communities_networkx(ev: Evidence, params: dict) -> pd.Series:
    """account id -> community id, computed in this process (Louvain)."""
    edges = link_edges(ev, params)
    if edges.empty:
        return pd.Series(dtype="int64", name="community")
    g = nx.Graph()
    g.add_weighted_edges_from(
        zip("a:" + edges["account"].astype(str), edges["entity"], edges["w"], strict=True), weight="w"
    )
    parts = nx.community.louvain_communities(g, weight="w", resolution=params["resolution"], seed=params["seed"])
    out = {node[2:]: i for i, part in enumerate(parts) for node in part if node.startswith("a:")}
    return pd.Series(out, name="community", dtype="int64")


def detect_communities(driver: neo4j.Driver, ev: Evidence, backend: str, params: dict) -> tuple[pd.Series, str]:
    """Run the chosen backend ('gds', 'networkx' or 'auto'); returns (communities, backend used)."""
    from graph.connection import gds_available

    if backend == "auto":
        backend = "gds" if gds_available(driver) else "networkx"
    if backend == "gds":
        if not gds_available(driver):
            raise DatabaseUnavailable(
                "this Neo4j has no Graph Data Science library: use --backend networkx (or auto)"
            )
        return communities_gds(driver, ev.n_accounts, params), "gds"
    if backend == "networkx":
        return communities_networkx(ev, params), "networkx"
    raise ValueError(f"unknown backend {backend!r}")
