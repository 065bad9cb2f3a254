"""Incremental re-detection: after a small delivery, detect again only the region it touched.

What a delivery touched is in the graph: ingest stamps the accounts and links it writes, and
the entities whose attributes it changes, with its delivery number (ingest.writes), and each
DetectionRun records the number it had seen (`delivery`). The next run starts from what
carries a higher number.

The region, grown in the database from the touched accounts T (expansion's rules,
graph.detection.expand, say which entities tie an account to a ring):

1. T, and the accounts on entities that lean to T (used by 2 to `reach` accounts, at least
   `expand_reach` of them in T): a new farm of new and old accounts is found whole;
2. every ring a touched entity may change: a found ring (at or above the threshold)
   holding `expand_reach` of the entity's users, any ring holding `bound_share` - NEAR_MARGIN
   of them (one user more can flip the bound rule); and every ring an account of 1 is in;
3. the accounts on entities that lean to the found rings of 2 or to T (those expansion may
   take in), and every ring these are in.

A ring is taken in whole, with all its members. Except a large watch ring far below the
threshold (more than SMALL_RING members, a score more than WATCH_MARGIN below it, no
touched account in it: the groups of ordinary users a popular app or benchmark binds,
thousands of accounts that any random delivery reaches): it is left as it is, and so are
its members. A few accounts cannot move its means across the threshold; until the next
full run it does not take in the new accounts that would join it, which may form a small
watch ring of their own instead.

Only the region's evidence is read (graph.detection.evidence.read_region_evidence: each link
with its entity's degree in the whole graph, and the whole population, so that weights,
bound entities and scores are the numbers a full read gives), communities are found on the
region's projection, Leiden seeded with the communities the previous runs found
(`Account.community`, GDS `seedProperty`), and the rest of the pipeline runs as for a full
run. Persist (graph.detection.rings.persist with `scope`) replaces the rings of steps 2-3 by
what the region yields, matched by overlap as always, and leaves every other ring as it is.

The result is a full run's only as far as the region holds everything that decides the
region's rings. It does not when (a) community detection over the whole graph would group
a region's accounts with accounts outside it (Leiden is global: a full run's communities
can move anywhere when the graph grows), (b) a touched entity changes a ring that holds
less of its users than the rules of 2 (a partner flag's `partner_max_users` crossed), or
(c) the population's growth moves a global limit (background size, scarce share, weights).
tests/test_incremental.py and bench/incremental.py compare the flagged sets of an
incremental and a full run on the same final graph.

When it cannot be trusted, a run is full and says why in one line: no previous run with a
delivery mark; a previous run with other parameters, weights, threshold or backend; partner
flags changed since; accounts or links that do not add up to the previous run's plus what
deliveries stamped since (a change made other than by ingest, a link deleted by hand); more
than MAX_TOUCHED of the accounts touched; or a region above MAX_REGION of them (no cheaper
than a full run). `ringwatch detect --full` forces one.

Cost: a few indexed reads for the mark and T, the region's growth (linear in the links of
the accounts reached; the rings a popular touched entity may change are found from the side
of the rings near the threshold), then detection on the region's evidence only. At 100,000
accounts after a random 1% delivery: a region of 23.8%, 10.5 s against 16.5 s for a full
run, 2.7 s of it growing the region (bench/incremental.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import neo4j
import pandas as pd

from graph.db.connection import read

__all__ = ["MAX_REGION", "MAX_TOUCHED", "Plan", "flagged_outside", "plan_run", "remap_communities"]

MAX_TOUCHED = 0.05  # share of all accounts a delivery may touch for an incremental run
MAX_REGION = 0.5  # share of all accounts the region may hold (else a full run is as cheap)
NEAR_MARGIN = 0.1  # a ring holding bound_share - this of a touched entity's users is near the bound rule
# A watch ring the region reaches is left as it is when it is larger than SMALL_RING and scores
# more than WATCH_MARGIN below the threshold (see the module docstring).
WATCH_MARGIN = 0.15
SMALL_RING = 50

LAST_RUN = """
MATCH (r:DetectionRun)
WITH r ORDER BY r.at DESC LIMIT 1
RETURN r.id AS id, r.params AS params, r.threshold AS threshold, r.backend AS backend,
       r.delivery AS delivery, r.communities AS communities, r.partner AS partner, r.counts AS counts
"""
# The highest delivery number whose rows are all in: a load still writing (a file `loading`)
# holds the mark below its number, so rows it writes after this run read are not missed.
DELIVERY_MARK = """
OPTIONAL MATCH (c:Counter {name: 'delivery'})
WITH coalesce(c.value, 0) AS last
OPTIONAL MATCH (f:IngestFile {status: 'loading'}) WHERE f.delivery IS NOT NULL
RETURN last, min(f.delivery) AS open
"""
# What partner flags look like (graph.sharing.flags): the FLAGS count (from the count store)
# and the latest indicator import.
PARTNER_STATE = """
CALL { MATCH ()-[f:FLAGS]->() RETURN count(f) AS flags }
CALL { OPTIONAL MATCH (pi:PartnerIndicator) RETURN max(pi.imported_at) AS latest }
RETURN flags, toString(latest) AS latest
"""
# How many accounts and links the graph holds (the count store: O(1)), and how many of them a
# delivery after $since stamped: a change made other than by ingest (a link deleted, or
# written without a stamp) shows as counts that do not add up.
COUNTS = """
CALL { MATCH (a:Account) RETURN count(a) AS accounts }
CALL { MATCH ()-[e:PAID_WITH|USED_IP|USED_TEMPLATE]->() RETURN count(e) AS links }
CALL { MATCH (a:Account) WHERE a.delivery > $since RETURN count(a) AS new_accounts }
CALL {
  MATCH ()-[e:PAID_WITH]->() WHERE e.delivery > $since RETURN count(e) AS n
  UNION ALL
  MATCH ()-[e:USED_IP]->() WHERE e.delivery > $since RETURN count(e) AS n
  UNION ALL
  MATCH ()-[e:USED_TEMPLATE]->() WHERE e.delivery > $since RETURN count(e) AS n
}
RETURN accounts, links, new_accounts, sum(n) AS new_links
"""
# Accounts a delivery after $since wrote, or whose links or entities it wrote (index seeks).
# The hints are needed: with the account labelled, the planner scanned every account and
# expanded its links instead of seeking the links' `delivery` index (9.4 s against 0.13 s
# at 1,000,000 accounts).
TOUCHED = """
CALL {
  MATCH (a:Account) WHERE a.delivery > $since RETURN a
  UNION
  MATCH (a:Account)-[e:PAID_WITH]->() USING INDEX e:PAID_WITH(delivery) WHERE e.delivery > $since RETURN a
  UNION
  MATCH (a:Account)-[e:USED_IP]->() USING INDEX e:USED_IP(delivery) WHERE e.delivery > $since RETURN a
  UNION
  MATCH (a:Account)-[e:USED_TEMPLATE]->() USING INDEX e:USED_TEMPLATE(delivery) WHERE e.delivery > $since RETURN a
  UNION
  MATCH (x:PaymentMethod) WHERE x.delivery > $since MATCH (a:Account)-[:PAID_WITH]->(x) RETURN a
  UNION
  MATCH (x:IP) WHERE x.delivery > $since MATCH (a:Account)-[:USED_IP]->(x) RETURN a
  UNION
  MATCH (x:PromptTemplate) WHERE x.delivery > $since MATCH (a:Account)-[:USED_TEMPLATE]->(x) RETURN a
}
RETURN collect(a.id) AS ids
"""
# Accounts on the entities that lean to $ids: used by 2 to $reach accounts, $share or more of
# them among $ids (expansion's reach, graph.detection.expand). Degrees from the store.
LEANING = """
UNWIND $ids AS id
MATCH (a:Account {id: id})-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
WITH e, count(DISTINCT a) AS mine
WITH e, mine, COUNT { (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-() } AS deg
WHERE 2 <= deg <= $reach AND mine >= $share * deg
MATCH (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-(b:Account)
RETURN collect(DISTINCT b.id) AS ids
"""
# ... the rings `r` found, each whole: its score and all its active members.
WHOLE_RINGS = """
WITH DISTINCT r
MATCH (b:Account)-[m:MEMBER_OF]->(r)
WHERE coalesce(m.active, true)
RETURN r.id AS ring, r.score AS score, collect(b.id) AS members
"""
# Rings whose standing an entity of $ids used by at most $popular accounts may change: a
# found ring (score >= $threshold) that holds $share of its users (it leans to the ring:
# expansion follows it), any ring that holds $near of them (near the bound rule's half; one
# user more or less can flip it).
AFFECTED = (
    """
UNWIND $ids AS id
MATCH (:Account {id: id})-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
WITH DISTINCT e
WITH e, COUNT { (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-() } AS deg
WHERE deg <= $popular
MATCH (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-(b:Account)-[m:MEMBER_OF]->(r:Ring)
WHERE coalesce(m.active, true) AND r.retired_run IS NULL
WITH r, e, deg, count(DISTINCT b) AS inside
WHERE inside >= CASE WHEN r.score >= $threshold THEN $share ELSE $near END * deg
"""
    + WHOLE_RINGS
)
# The entities of $ids used by more than $popular accounts (element ids).
POPULAR = """
UNWIND $ids AS id
MATCH (:Account {id: id})-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
WITH DISTINCT e
WHERE COUNT { (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-() } > $popular
RETURN collect(elementId(e)) AS entities
"""
# ... and the rings scoring $floor or more that hold $near of such an entity's users, found
# from the rings' side: expanding a popular template's thousands of users was most of the
# region's cost, and only a ring near the threshold can be taken in through one (holding
# $near of more than $popular users, it is larger than SMALL_RING).
AFFECTED_POPULAR = (
    """
MATCH (r:Ring)
WHERE r.retired_run IS NULL AND r.score >= $floor
MATCH (b:Account)-[m:MEMBER_OF]->(r)
WHERE coalesce(m.active, true)
MATCH (b)-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
WHERE elementId(e) IN $entities
WITH r, e, count(DISTINCT b) AS inside
WHERE inside >= $near * COUNT { (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-() }
"""
    + WHOLE_RINGS
)
# Every ring an account of $ids is an active member of, with all its active members.
RINGS_OF = (
    """
UNWIND $ids AS id
MATCH (:Account {id: id})-[m:MEMBER_OF]->(r:Ring)
WHERE coalesce(m.active, true) AND r.retired_run IS NULL
"""
    + WHOLE_RINGS
)
# The communities previous runs found for $ids (Leiden's seeds).
SEEDS = """
UNWIND $ids AS id
MATCH (a:Account {id: id})
WHERE a.community IS NOT NULL
RETURN collect(a.id) AS accounts, collect(a.community) AS communities
"""


# The flagged rings an incremental run leaves as they are (for the run's totals).
FLAGGED_OUTSIDE = """
MATCH (r:Ring)
WHERE r.retired_run IS NULL AND r.score >= $threshold AND NOT r.id IN $scope
RETURN count(r) AS rings, coalesce(sum(r.size), 0) AS accounts
"""


@dataclass
class Plan:
    """What a run covers: everything (`region` None) or a region, and why."""

    mark: int  # the delivery number this run has seen (recorded on its DetectionRun)
    partner: str  # partner flags' state (see PARTNER_STATE), recorded likewise
    counts: str  # accounts and links (see COUNTS), recorded likewise
    line: str  # the one line detect prints
    region: list[str] | None = None  # accounts of an incremental run
    rings: list[str] = field(default_factory=list)  # previous rings the region replaces
    touched: int = 0
    seeds: pd.Series | None = None  # account -> previous community, of the region
    next_community: int = 0  # the lowest community id no run has used

    @property
    def incremental(self) -> bool:
        return self.region is not None

    def record(self) -> dict:
        """What the DetectionRun records of the plan."""
        run = {"kind": "incremental" if self.incremental else "full", "delivery": self.mark}
        run |= {"partner": self.partner, "counts": self.counts}
        if self.incremental:
            run |= {"region": len(self.region or []), "touched": self.touched, "replaced": len(self.rings)}
        return run


def _mark(driver: neo4j.Driver) -> int:
    row = read(driver, DELIVERY_MARK)[0]
    return int(row["open"]) - 1 if row["open"] is not None else int(row["last"])


def _partner(driver: neo4j.Driver) -> str:
    row = read(driver, PARTNER_STATE)[0]
    return f"{row['flags']}|{row['latest']}"


def _same(previous: dict, params: dict, threshold: float, backend: str) -> str | None:
    """Why the previous run's results cannot be extended by this run (None when they can)."""
    if previous.get("delivery") is None or previous.get("communities") is None:
        return "the previous run recorded no delivery mark"
    if previous["backend"] != backend:
        return f"the previous run used {previous['backend']}"
    if previous["threshold"] != threshold:
        return f"the previous run used threshold {previous['threshold']}"
    if json.loads(previous["params"]) != json.loads(json.dumps(params, default=str)):
        return "the previous run used other parameters or weights"
    return None


def _pulled(ring: dict, touched: set[str], threshold: float) -> bool:
    """Whether the region takes in a ring it reaches: a found ring, a watch ring near the
    threshold or small (a few accounts can move its means), or one a touched account is in."""
    return (
        ring["score"] >= threshold - WATCH_MARGIN
        or len(ring["members"]) <= SMALL_RING
        or not touched.isdisjoint(ring["members"])
    )


def _split(rings: list[dict], touched: set[str], threshold: float) -> tuple[list[dict], set[str]]:
    """(the rings the region takes in, the members of those it leaves as they are)."""
    pulled = [r for r in rings if _pulled(r, touched, threshold)]
    left = {a for r in rings if not _pulled(r, touched, threshold) for a in r["members"]}
    return pulled, left


def _adds_up(before: str | None, now: dict) -> bool:
    """Whether the accounts and links now are those of the previous run plus what deliveries
    since stamped (at most: a delivery may stamp a link or an account it only updates)."""
    if before is None:
        return False
    was = json.loads(before)
    grew = (now["accounts"] - was["accounts"], now["links"] - was["links"])
    return 0 <= grew[0] <= now["new_accounts"] and 0 <= grew[1] <= now["new_links"]


def graph_counts(driver: neo4j.Driver) -> str:
    """The accounts and links now, as a DetectionRun records them (`counts`)."""
    row = read(driver, COUNTS, since=2**62)[0]
    return json.dumps({"accounts": int(row["accounts"]), "links": int(row["links"])})


def _region(driver: neo4j.Driver, touched: set[str], params: dict, threshold: float) -> tuple[set[str], set[str]]:
    """(the region's accounts, the previous rings in it): steps 1-3 of the module docstring."""
    reach = int(max(params["expand_max_users"], params["merge_max_users"]))
    lean = {"reach": reach, "share": params["expand_reach"]}
    near = params["bound_share"] - NEAR_MARGIN
    reached = touched | set(read(driver, LEANING, ids=sorted(touched), **lean)[0]["ids"])
    # with more users than this an entity ties no ring expansion follows, and only a ring larger
    # than SMALL_RING can hold `near` of them: only rings near the threshold are taken in
    popular = max(math.ceil(SMALL_RING / near), reach)
    ids = sorted(touched)
    shares = {"share": params["expand_reach"], "near": near, "threshold": threshold}
    rings = read(driver, AFFECTED, ids=ids, popular=popular, **shares)
    entities = read(driver, POPULAR, ids=ids, popular=popular)[0]["entities"]
    floor = threshold - WATCH_MARGIN
    rings += read(driver, AFFECTED_POPULAR, entities=entities, floor=floor, near=near, threshold=threshold)
    rings += read(driver, RINGS_OF, ids=sorted(reached), threshold=threshold)
    pulled, left = _split(rings, touched, threshold)
    core = (reached - left) | {a for r in pulled for a in r["members"]}
    found = {a for r in pulled if r["score"] >= threshold for a in r["members"]}
    context = set(read(driver, LEANING, ids=sorted(found | touched), **lean)[0]["ids"]) - core - left
    more, left_more = _split(read(driver, RINGS_OF, ids=sorted(context), threshold=threshold), touched, threshold)
    region = core | (context - left_more) | {a for r in more for a in r["members"]}
    return region, {r["ring"] for r in pulled + more}


def plan_run(driver: neo4j.Driver, params: dict, threshold: float, backend: str, incremental: bool) -> Plan:
    """Full or incremental (when asked for and trusted), and the region of an incremental
    run (see the module docstring)."""
    mark, partner, counts = _mark(driver), _partner(driver), graph_counts(driver)
    last = read(driver, LAST_RUN)
    if not incremental:
        return Plan(mark, partner, counts, "full run")
    if backend == "gds-session":
        return Plan(mark, partner, counts, "full run: a GDS session projects the whole graph")
    if not last:
        return Plan(mark, partner, counts, "full run: no previous detection run")
    previous = last[0]
    why = _same(previous, params, threshold, backend)
    if why is None and previous.get("partner") != partner:
        why = "partner flags changed since the previous run"
    if why:
        return Plan(mark, partner, counts, f"full run: {why}")
    now = read(driver, COUNTS, since=int(previous["delivery"]))[0]
    if not _adds_up(previous.get("counts"), now):
        return Plan(mark, partner, counts, "full run: the graph changed other than by ingest since the previous run")
    population = int(now["accounts"])
    touched = set(read(driver, TOUCHED, since=int(previous["delivery"]))[0]["ids"])
    if not touched:
        line = f"incremental: nothing delivered since run {previous['id']}; rings as they are"
        return Plan(mark, partner, counts, line, region=[], touched=0, next_community=int(previous["communities"]))
    if len(touched) > MAX_TOUCHED * population:
        share = len(touched) / population
        line = f"full run: the deliveries since the previous run touched {share:.1%} of accounts"
        return Plan(mark, partner, counts, line)
    region, rings = _region(driver, touched, params, threshold)
    if len(region) > MAX_REGION * population:
        share = len(region) / population
        return Plan(mark, partner, counts, f"full run: the region touched would hold {share:.1%} of accounts")
    seeds = read(driver, SEEDS, ids=sorted(region))[0]
    line = (
        f"incremental: {len(touched):,} accounts touched since run {previous['id']}, region of "
        f"{len(region):,} accounts ({len(region) / max(population, 1):.1%}), {len(rings):,} rings in it"
    )
    return Plan(
        mark,
        partner,
        counts,
        line,
        region=sorted(region),
        rings=sorted(rings),
        touched=len(touched),
        seeds=pd.Series(seeds["communities"], index=pd.Index(seeds["accounts"], dtype=object), dtype="int64"),
        next_community=int(previous["communities"]),
    )


def remap_communities(raw: pd.Series, seeds: pd.Series | None, next_id: int) -> tuple[pd.Series, int]:
    """Community ids to store (`Account.community`, the next run's seeds) and the next free id.

    A full run's ids are Leiden's own (`seeds` None). A region's: each community takes the
    earlier id most of its seeded members had (the pair with most members first, each id
    once), so an account whose community did not change keeps its id and is not written
    again; any other community becomes a new one from `next_id` up. (Leiden seeded with
    `seedProperty` numbers its communities afresh once it aggregates, so its own ids say
    nothing of the seeds, and could be an id a community outside the region holds.)
    """
    if raw.empty:
        return raw, next_id
    if seeds is None:
        return raw, int(raw.max()) + 1
    pairs = pd.DataFrame({"community": raw.to_numpy(), "seed": seeds.reindex(raw.index).to_numpy()}).dropna()
    counts = pairs.astype("int64").value_counts().reset_index(name="members")
    counts = counts.sort_values(["members", "community", "seed"], ascending=[False, True, True])
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    for community, seed in zip(counts["community"].tolist(), counts["seed"].tolist(), strict=True):
        if community not in chosen and seed not in taken:
            chosen[community] = seed
            taken.add(seed)
    fresh = sorted(set(raw.unique().tolist()) - chosen.keys())
    ids = chosen | {c: next_id + i for i, c in enumerate(fresh)}
    out = pd.Series(raw.map(ids).to_numpy(dtype="int64"), index=raw.index, name=raw.name)
    return out, next_id + len(fresh)


def flagged_outside(driver: neo4j.Driver, plan: Plan, threshold: float) -> tuple[int, int]:
    """(rings, accounts) flagged outside an incremental run's region: with the region's own,
    the totals its DetectionRun records, as a full run's does."""
    row = read(driver, FLAGGED_OUTSIDE, threshold=threshold, scope=plan.rings)[0]
    return int(row["rings"]), int(row["accounts"])
