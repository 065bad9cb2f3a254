"""Community detection over accounts and the rare things they share, in GDS or networkx.

Both backends build the same bipartite graph: accounts linked to the payment methods,
IP addresses and prompt templates they share, each link weighted by the entity's
rarity, log(N / degree) (see graph.detection.evidence.link_edges for the rule). Communities of that
graph group accounts that share many rare things; scoring then decides which are rings.

GDS: a Cypher-aggregation projection (the weights computed in the database), memory
estimated before the run, Leiden with a fixed seed, the projection dropped afterwards. A
region (incremental detection) is projected from the links its evidence already holds, sent
as lists of numbers, and Leiden starts from the communities earlier runs stored.
Cost: linear in shared links; with refine, about 4 s for a 100,000-account world here
(2 cores) and 54 s for 1,000,000.

GDS session (Aura Graph Analytics, graph.db.gds_session): the same link body sent as a
remote projection, so the database streams the links to a session sized for them; Leiden
with the same configuration runs there, and only (node, community) pairs come back.
Untested here against Aura (none is reachable); the link body and the mapping of the
streamed node ids back to accounts are tested against the local database.

networkx: the same edges read into Python, Louvain (networkx has no Leiden) with a fixed
seed. Cost: all in this process's memory; the whole `detect` took about 1.5 times as
long as with GDS at 100,000 accounts (62-75 s against 44-47 s, measured before the
evidence was read in batches); meant for databases without the GDS plugin (managed Neo4j
without it), not for very large worlds.
"""

from __future__ import annotations

import uuid

import neo4j
import networkx as nx
import numpy as np
import pandas as pd

from graph.db.connection import DatabaseUnavailable, gds_client, read, target_of
from graph.db.gds_session import GdsSessionError, SessionConfig, first_line, open_session, session_config
from graph.detection.evidence import Evidence, chunked_pairs, has_link_edges, link_edges

# Per kind of entity: its label, the account's relationship to it, and the parameters of
# its degree cap and weight. Every projection's link body is built from this one table.
LINK_KINDS = (
    ("PaymentMethod", "PAID_WITH", "max_payment_degree", "w_payment"),
    ("IP", "USED_IP", "max_ip_degree", "w_ip"),
    ("PromptTemplate", "USED_TEMPLATE", "max_template_degree", "w_template"),
)


def _link_branches() -> str:
    """The three link branches of the whole graph's projection, joined by UNION ALL: each
    shared entity with a label-less degree (read from the store in O(1)) within its cap,
    then its accounts, weighted by rarity. Entity first: a per-link degree through
    (:Account) would expand every popular template again and again."""
    branches = []
    for label, rel, cap, weight in LINK_KINDS:
        degree = f"WITH e, COUNT {{ (e)<-[:{rel}]-() }} AS deg\n  WHERE 2 <= deg <= ${cap}"
        w = f"${weight} * log(toFloat($n) / deg) AS w"
        branches.append(f"MATCH (e:{label})\n  {degree}\n  MATCH (a:Account)-[:{rel}]->(e)\n  RETURN a, e, {w}")
    return "\n  UNION ALL\n  ".join(branches)


# The link body of the whole graph, written once: the local and the remote projection differ
# only in their tails.
LINKS = "\nCALL {\n  " + _link_branches() + "\n}\n"
LINK_PARAMS = ("n", "max_payment_degree", "max_ip_degree", "max_template_degree", "w_payment", "w_ip", "w_template")

# In the database's own GDS (the plugin): a Cypher-aggregation projection, undirected.
PROJECTION = (
    LINKS
    + """WITH gds.graph.project($graph, a, e, {relationshipProperties: {w: w}},
                       {undirectedRelationshipTypes: ['*']}) AS g
RETURN g.graphName AS graph, g.nodeCount AS nodes, g.relationshipCount AS relationships
"""
)

# Into a GDS session: the database runs this query and streams its rows to the session
# over Arrow. The graph name and undirectedness are arguments of the client's
# gds.graph.project(name, query, ...), not part of the query.
REMOTE_PROJECTION = (
    LINKS
    + """RETURN gds.graph.project.remote(a, e, {
  sourceNodeLabels: labels(a),
  targetNodeLabels: labels(e),
  relationshipProperties: {w: w}
})
"""
)

# A region's links (incremental detection, graph.detection.incremental), from the region's
# evidence, which holds each with its entity's degree in the whole graph: sent as three
# parallel lists (`region_links`: accounts numbered 0..n-1, entities after them), each account
# with the community an earlier run found as its seed ($seed by account number, -1: none; a
# new account and the entities start alone: seeds must not be negative). Walking the region's
# links again in the database took as long as reading them (20 s at 1,000,000 accounts).
PROJECTION_REGION = """
UNWIND range(0, size($source) - 1) AS i
WITH $source[i] AS a, $target[i] AS e, $w[i] AS w
WITH gds.graph.project($graph, a, e,
       {sourceNodeProperties: CASE WHEN $seed[a] < 0 THEN {} ELSE {seed: $seed[a]} END,
        targetNodeProperties: {},
        relationshipProperties: {w: w}},
       {undirectedRelationshipTypes: ['*']}) AS g
RETURN g.graphName AS graph, g.nodeCount AS nodes, g.relationshipCount AS relationships
"""
# ... and its communities, by account number.
REGION_COMMUNITIES = """
CALL gds.leiden.stream($graph, $config) YIELD nodeId, communityId
WITH nodeId, communityId WHERE nodeId < $accounts
RETURN collect(nodeId) AS nodes, collect(communityId) AS communities
"""

# One record of two lists: a record per account would be most of the time (as in evidence.BATCHED).
COMMUNITIES = """
CALL gds.leiden.stream($graph, $config) YIELD nodeId, communityId
WITH gds.util.asNode(nodeId) AS node, communityId
WHERE node:Account
RETURN collect(node.id) AS accounts, collect(communityId) AS communities
"""


# The session streams database node ids (what gds.graph.project.remote sent); their account ids
# are read back from the database, batch by batch.
ACCOUNT_IDS = """
UNWIND $nodes AS node
MATCH (a:Account) WHERE id(a) = node
RETURN collect(node) AS nodes, collect(a.id) AS accounts
"""
ACCOUNT_IDS_BATCH = 200_000


class MemoryTooSmall(RuntimeError):
    pass


def link_params(n_accounts: int, params: dict) -> dict:
    """The values the link body reads: the world's size, and the degree caps and weights of `params`."""
    return {"n": max(n_accounts, 2), **{k: params[k] for k in LINK_PARAMS if k != "n"}}


def leiden_config(params: dict) -> dict:
    """Leiden's configuration, the same in the database's GDS and in a session."""
    return {
        "relationshipWeightProperty": "w",
        "randomSeed": params["seed"],
        "concurrency": 1,  # with a seed, deterministic
        "gamma": params["resolution"],
        "maxLevels": 10,
    }


def check_estimate(estimate: pd.Series, where: str, remedy: str) -> None:
    """Refuse to run Leiden where it would need more than 80% of the heap."""
    if estimate["heapPercentageMax"] > 80:
        raise MemoryTooSmall(
            f"Leiden would need {estimate['heapPercentageMax']:.0f}% of the {where} heap "
            f"({estimate['bytesMax'] / 2**20:.0f} MiB): {remedy}"
        )


def communities_gds(driver: neo4j.Driver, n_accounts: int, params: dict) -> pd.Series:
    """account id -> community id, computed in GDS (Leiden on the weighted projection)."""
    gds = gds_client(driver)
    name = f"ringwatch-{uuid.uuid4().hex[:8]}"
    gds.run_cypher(PROJECTION, {"graph": name, **link_params(n_accounts, params)})
    try:
        found = gds.run_cypher(COMMUNITIES, {"graph": name, "config": _checked_leiden(gds, name, params)}).iloc[0]
    finally:
        gds.graph.drop(name, failIfMissing=False)
    return pd.Series(
        np.asarray(found["communities"], dtype="int64"),
        index=pd.Index(found["accounts"], dtype=object, name="account"),
        name="community",
    )


def communities_gds_region(driver: neo4j.Driver, ev: Evidence, params: dict, seeds: pd.Series) -> pd.Series:
    """account id -> community id of a region (`ev`, its evidence), computed in GDS: Leiden
    on the region's links, each account seeded with its community in `seeds` (account ->
    earlier community; a new account has none)."""
    accounts = pd.Index(ev.accounts["account"])
    source, target, w = region_links(ev, params)
    seed = seeds.reindex(accounts).fillna(-1).to_numpy(dtype="int64")
    gds = gds_client(driver)
    name = f"ringwatch-{uuid.uuid4().hex[:8]}"
    lists = {"source": source.tolist(), "target": target.tolist(), "w": w.tolist(), "seed": seed.tolist()}
    gds.run_cypher(PROJECTION_REGION, {"graph": name, **lists})
    del lists
    try:
        config = _checked_leiden(gds, name, params)
        # GDS 2.13 estimates seeded Leiden at the square of the node count (307 MB for 4,360
        # nodes, 2.1 GB for 11,466, 42 GB for a 36,000-account region) and refuses to run it;
        # the run itself took 1.0 s on 93,171 nodes here. The unseeded estimate is the check;
        # `sudo` lets the seeded run past GDS's own.
        config |= {"seedProperty": "seed", "sudo": True}
        found = gds.run_cypher(REGION_COMMUNITIES, {"graph": name, "config": config, "accounts": len(accounts)}).iloc[0]
    finally:
        gds.graph.drop(name, failIfMissing=False)
    return pd.Series(
        np.asarray(found["communities"], dtype="int64"),
        index=pd.Index(accounts.to_numpy()[np.asarray(found["nodes"], dtype="int64")], dtype=object, name="account"),
        name="community",
    )


def _checked_leiden(gds, name: str, params: dict) -> dict:
    """Leiden's configuration for the projection `name`, once its estimate fits the heap."""
    config = leiden_config(params)
    estimate = gds.run_cypher(
        "CALL gds.leiden.stream.estimate($graph, $config) YIELD bytesMax, heapPercentageMax "
        "RETURN bytesMax, heapPercentageMax",
        {"graph": name, "config": config},
    ).iloc[0]
    check_estimate(estimate, "database", "raise RINGWATCH_HEAP or use --backend networkx")
    return config


def region_links(ev: Evidence, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account number, entity number, weight) of each link a region's projection carries: the
    links of `ev` to an entity of 2 to its kind's cap users in the whole graph (`degree`),
    weighted log(N / degree) as the projection of the whole graph weighs them.

    Accounts are numbered by their row in `ev.accounts`, entities after them, kind by kind;
    the links come account by account, each account's payment methods, then addresses, then
    templates, the order in which the database walked them for the projection before.
    """
    accounts = pd.Index(ev.accounts["account"])
    n = max(ev.n_accounts, 2)
    sources, targets, weights = [], [], []
    numbered = len(accounts)
    for (_, _, cap, weight), frame in zip(LINK_KINDS, (ev.payments, ev.ips, ev.templates), strict=True):
        degree = frame["degree"].to_numpy()
        keep = (degree >= 2) & (degree <= params[cap])
        entity, uniques = pd.factorize(frame["entity"].to_numpy()[keep])
        sources.append(accounts.get_indexer(frame["account"].to_numpy()[keep]))
        targets.append(entity + numbered)
        weights.append(params[weight] * np.log(n / degree[keep].astype(float)))
        numbered += len(uniques)
    source = np.concatenate(sources)
    order = np.argsort(source, kind="stable")
    return source[order], np.concatenate(targets)[order], np.concatenate(weights)[order]


def communities_from_stream(driver: neo4j.Driver, nodes: np.ndarray, communities: np.ndarray) -> pd.Series:
    """account id -> community id from a stream of (database node id, community id); other nodes are left out."""
    community_of = pd.Series(np.asarray(communities, dtype="int64"), index=np.asarray(nodes, dtype="int64"))
    ids, accounts = [], []
    for start in range(0, len(community_of), ACCOUNT_IDS_BATCH):
        batch = community_of.index[start : start + ACCOUNT_IDS_BATCH].tolist()
        found = read(driver, ACCOUNT_IDS, nodes=batch)[0]
        ids.extend(found["nodes"])
        accounts.extend(found["accounts"])
    return pd.Series(
        community_of.loc[ids].to_numpy(dtype="int64"),
        index=pd.Index(accounts, dtype=object, name="account"),
        name="community",
    )


def communities_gds_session(driver: neo4j.Driver, ev: Evidence, params: dict, config: SessionConfig) -> pd.Series:
    """account id -> community id, computed in a GDS session (see graph.db.gds_session).

    The same links, weights and Leiden configuration as communities_gds; the projection
    is dropped afterwards, and the session deleted unless RINGWATCH_GDS_SESSION_KEEP is set.
    """
    edges = link_edges(ev, params)
    node_count = edges["account"].nunique() + edges["entity"].nunique()
    with open_session(target_of(driver), config, node_count, 2 * len(edges)) as gds:
        name = f"ringwatch-{uuid.uuid4().hex[:8]}"
        try:
            graph, _ = gds.graph.project(
                name,
                REMOTE_PROJECTION,
                query_parameters=link_params(ev.n_accounts, params),
                undirected_relationship_types=["*"],
            )
        except Exception as error:  # most likely the database: it runs the query and streams to the session
            raise GdsSessionError(
                f"remote projection into GDS session {config.name!r} failed: {first_line(error)} "
                "(the database must be AuraDB or a self-managed Neo4j >= 5.24 that the session can reach)"
            ) from error
        try:
            leiden = leiden_config(params)
            check_estimate(
                gds.leiden.stream.estimate(graph, **leiden), "session", "set a larger RINGWATCH_GDS_SESSION_MEMORY"
            )
            found = gds.leiden.stream(graph, **leiden)
        finally:
            gds.graph.drop(name, failIfMissing=False)
    return communities_from_stream(driver, found["nodeId"].to_numpy(), found["communityId"].to_numpy())


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


def resolve_backend(driver: neo4j.Driver, backend: str) -> str:
    """'gds', 'gds-session' or 'networkx' for the backend asked for ('auto': GDS when the
    database has it); a GDS session's missing credentials fail here, before any work."""
    from graph.db.connection import gds_available

    if backend == "auto":
        return "gds" if gds_available(driver) else "networkx"
    if backend == "gds" and not gds_available(driver):
        raise DatabaseUnavailable("this Neo4j has no Graph Data Science library: use --backend networkx (or auto)")
    if backend == "gds-session":
        session_config()
    if backend not in ("gds", "gds-session", "networkx"):
        raise ValueError(f"unknown backend {backend!r}")
    return backend


def detect_communities(driver: neo4j.Driver, ev: Evidence, backend: str, params: dict) -> tuple[pd.Series, str]:
    """Run the chosen backend ('gds', 'gds-session', 'networkx' or 'auto'); returns (communities, backend used)."""
    community, _, used = find_communities(driver, ev, backend, params)
    return community, used


def find_communities(
    driver: neo4j.Driver, ev: Evidence, backend: str, params: dict, seeds: pd.Series | None = None
) -> tuple[pd.Series, pd.Series, str]:
    """(communities, the backend's own before `refine`, backend used).

    With `seeds` (incremental detection: `ev` is a region's evidence, `seeds` its accounts'
    earlier communities), GDS projects the region's links only and seeds Leiden with them (an
    account without one starts alone); networkx has no seeding
    and runs Louvain on the region's links; a GDS session projects the whole graph, so
    incremental detection does not use one (graph.detection.incremental). Persist stores
    the backend's own communities as the next run's seeds."""
    backend = resolve_backend(driver, backend)
    if backend == "networkx":
        raw = communities_networkx(ev, params)
    elif not has_link_edges(ev, params):  # nothing shared: no community (GDS cannot estimate an empty graph)
        raw = pd.Series(dtype="int64", name="community")
    elif backend == "gds" and seeds is not None:
        raw = communities_gds_region(driver, ev, params, seeds)
    elif backend == "gds":
        raw = communities_gds(driver, ev.n_accounts, params)
    else:
        raw = communities_gds_session(driver, ev, params, session_config())
    raw = with_evidence_ids(raw, ev)
    return (refine(ev, raw, params) if len(raw) else raw), raw, backend


def with_evidence_ids(community: pd.Series, ev: Evidence) -> pd.Series:
    """`community` indexed by the evidence's own account id strings, the objects every link
    of the evidence holds, instead of the copies a backend's stream made (at 1,000,000
    accounts 60 MB, kept from the communities to the end of the run). An account the
    evidence does not hold (one loaded after the read) keeps the backend's string."""
    ids = pd.Index(ev.accounts["account"])
    at = ids.get_indexer(community.index)
    found = at >= 0
    values = community.index.to_numpy(dtype=object, copy=True)
    values[found] = ids.to_numpy()[at[found]]
    return pd.Series(community.to_numpy(), index=pd.Index(values, dtype=object, name="account"), name=community.name)


def refine(ev: Evidence, community: pd.Series, params: dict) -> pd.Series:
    """Split each community where only a single shared thing holds it together.

    Modularity methods merge small groups into a neighbour through one weak bridge (a team
    member who once used a farm's template). Within each community we link two members
    when they share at least `min_shared` entities that are bound to the community (used
    by >= 2 members, and by members for at least half of their users), and keep the
    connected components. Farms stay whole: their members share many private templates,
    cards or exits with each other.

    Cost: per community, the cheaper of two exact ways to find the linked members: the
    sum over its bound entities of (members using it)^2 (`_linked_by_entity`), or, for
    `min_shared` = 2, the sum over its members of (bound entities)^2 (`_linked_by_pair`).
    The first is small for farms (many private entities with few users each), the second
    for a large community held together by a few popular bound templates, where the first
    would need a billion pairs at 100,000 accounts.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from graph.detection.scoring import bound_links

    links = bound_links(ev, community, params["bound_share"])
    accounts = pd.Index(community.index)
    n = len(accounts)
    if links.empty:
        return pd.Series(range(n), index=accounts, name="community", dtype="int64")
    k = int(params["min_shared"])
    # an entity bound to a community is a column of its own for that community
    comm = pd.factorize(links["community"])[0].astype(np.int64)
    cols = pd.factorize(links["entity"].to_numpy() * (int(comm.max()) + 1) + comm)[0].astype(np.int64)
    rows = accounts.get_indexer(links["account"]).astype(np.int64)
    del links  # (the account ids are the largest part of the frame, and rows holds them now)
    use_entity = np.ones(len(rows), dtype=bool)
    if k == 2:
        users = np.bincount(cols).astype(np.float64)
        degree = np.bincount(rows, minlength=n).astype(np.float64)
        first_col = ~pd.Series(cols).duplicated().to_numpy()
        first_row = ~pd.Series(rows).duplicated().to_numpy()
        by_entity = np.bincount(comm[first_col], weights=users[cols[first_col]] ** 2)
        by_pair = np.bincount(comm[first_row], weights=degree[rows[first_row]] ** 2, minlength=len(by_entity))
        use_entity = (by_entity <= by_pair)[comm]
        del users, degree, first_col, first_row
    del comm

    a1, b1 = _linked_by_entity(rows[use_entity], cols[use_entity], n, k)
    a2, b2, pair_nodes = _linked_by_pair(rows[~use_entity], cols[~use_entity], n)
    size = n + pair_nodes
    graph = coo_matrix(
        (np.ones(len(a1) + len(a2), dtype=np.int8), (np.concatenate([a1, a2]), np.concatenate([b1, b2]))),
        shape=(size, size),
    )
    _, labels = connected_components(graph, directed=False)
    return pd.Series(labels[:n], index=accounts, name="community", dtype="int64")


def _linked_by_entity(rows: np.ndarray, cols: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of accounts sharing >= k entities: B @ B.T of the account x entity incidence."""
    from scipy.sparse import coo_matrix

    if len(rows) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    incidence = coo_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n, cols.max() + 1)).tocsr()
    shared = (incidence @ incidence.T).tocoo()
    keep = (shared.data >= k) & (shared.row < shared.col)
    return shared.row[keep].astype(np.int64), shared.col[keep].astype(np.int64)


PAIR_CHUNK = 1_000_000  # pairs of one account's entities made at once


def _linked_by_pair(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Account pairs (a, b) whose connected components are those of "shares >= 2 entities".

    Every pair of entities an account uses is a key; two accounts share >= 2 entities
    exactly when they hold a common key. Keys are made PAIR_CHUNK at a time, for whole
    accounts: each account is linked to the first account that held its key (in this
    chunk or an earlier one), and the links found so far are folded into one
    representative per component before the next chunk. So memory holds one chunk's
    pairs (position arrays, `chunked_pairs`), the distinct keys and a label per account,
    not every key of every account (at 1,000,000 accounts, 1.4 GB for the large
    communities held together by a few popular templates). Returns (a, b, 0): no extra nodes.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    empty = np.empty(0, np.int64)
    if len(rows) == 0:
        return empty, empty, 0
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    del order
    width = int(cols.max()) + 1
    degree = np.unique(rows, return_counts=True)[1]
    seen_keys, seen_first = empty, empty  # sorted keys met so far, and the first account that held each
    rep = np.arange(n, dtype=np.int64)  # per account, its component's representative so far
    for i, j in chunked_pairs(degree, PAIR_CHUNK):  # chunks of whole accounts
        col_i, col_j = cols[i], cols[j]
        differ = col_i != col_j  # (an entity listed twice for one account is not two)
        acc = rows[i[differ]]
        keys = np.minimum(col_i, col_j)[differ] * width + np.maximum(col_i, col_j)[differ]
        del i, j, col_i, col_j, differ
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        del keys
        at = np.minimum(np.searchsorted(seen_keys, distinct), max(len(seen_keys) - 1, 0))
        known = (seen_keys[at] == distinct) if len(seen_keys) else np.zeros(len(distinct), dtype=bool)
        holder = np.where(known, seen_first[at] if len(seen_keys) else 0, acc[first])
        # union: each account with its key's first holder, and with its representative so far
        graph = coo_matrix(
            (
                np.ones(len(acc) + n, dtype=np.int8),
                (np.concatenate([acc, np.arange(n)]), np.concatenate([holder[inverse], rep])),
            ),
            shape=(n, n),
        )
        del holder, inverse
        _, label = connected_components(graph, directed=False)
        del graph
        rep = np.unique(label, return_index=True)[1][label].astype(np.int64)
        order = np.argsort(np.concatenate([seen_keys, distinct[~known]]), kind="stable")
        seen_keys = np.concatenate([seen_keys, distinct[~known]])[order]
        seen_first = np.concatenate([seen_first, acc[first][~known]])[order]
    linked = np.flatnonzero(rep != np.arange(n))
    return linked, rep[linked], 0
