"""Persist detected rings, keeping identities stable across runs and never destroying a decision.

A rerun matches each new ring to a previous one by member overlap: the overlap
coefficient |new & old| / min(|new|, |old|) >= MATCH_OVERLAP, best pairs first, each old
ring used once. A matched ring keeps its id, its first detection time and its status (a
blocked ring stays blocked, with its score refreshed). What a decision covers does not
grow with it: a decision names its accounts (graph.review.decisions), so accounts that
join a decided ring later carry no status and are "awaiting review" (`r.awaiting`) until
someone extends the decision to them. When a decided ring's members have changed a lot
since its decision (Jaccard of the decided and current sets below REVIEW_JACCARD), the
ring is marked `needs_review`.

Nothing a person decided is deleted: a membership that carries a status stays (marked
`active: false` when the account leaves the ring), and a previous ring no run matches is
kept as `retired` if nobody decided on it (its memberships inactive), or keeps its
decided status with `retired_run` set. Only undecided memberships of accounts that left
are deleted.

An incremental run (graph.detection.incremental) passes `scope`, the previous rings its
region replaces: only those are matched, updated or retired; every other ring, its id,
status, members and decisions, is left as it is. Each run also stores the community each
account it covered was found in (`Account.community`), Leiden's seeds for the next
incremental run.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import neo4j
import pandas as pd

from graph.db.connection import read, session, write
from graph.vocabulary import DECIDED_STATUSES

MATCH_OVERLAP = 0.5
REVIEW_JACCARD = 0.8  # a decided ring whose members changed more than this needs review

# A ring's current members, and which of them a decision covers: of every ring (PREVIOUS),
# or of the rings $ids only (PREVIOUS_IN, an incremental run's scope).
RING_STATE = """
RETURN r.id AS id, r.status AS status,
       COLLECT { MATCH (a:Account)-[m:MEMBER_OF]->(r) WHERE coalesce(m.active, true) RETURN a.id } AS members,
       COLLECT { MATCH (a:Account)-[m:MEMBER_OF]->(r) WHERE m.status IS NOT NULL RETURN a.id } AS decided
"""
PREVIOUS = "MATCH (r:Ring)" + RING_STATE
PREVIOUS_IN = "UNWIND $ids AS id\nMATCH (r:Ring {id: id})" + RING_STATE
NEXT_IDS = """
MERGE (c:Counter {name: 'ring'})
SET c.value = coalesce(c.value, 0) + $k
RETURN c.value AS last
"""
# `kind` full or incremental; `delivery`, the delivery number it saw; an incremental run's
# region, touched accounts and rings replaced; `communities`, the lowest unused community id.
CREATE_RUN = """
CREATE (run:DetectionRun {id: $run.id, at: datetime($run.at), backend: $run.backend,
        threshold: $run.threshold, params: $run.params, seconds: $run.seconds,
        rings: $run.rings, flagged: $run.flagged, kind: $run.kind, delivery: $run.delivery,
        partner: $run.partner, counts: $run.counts, communities: $run.communities, region: $run.region,
        touched: $run.touched, replaced: $run.replaced})
"""
SET_COMMUNITIES = """
UNWIND $rows AS x
MATCH (a:Account {id: x[0]})
SET a.community = x[1]
"""
UPSERT_RINGS = """
UNWIND $rings AS x
MERGE (r:Ring {id: x.id})
ON CREATE SET r.first_detected = datetime($at), r.status = x.status
SET r.previous_size = r.size,
    r += x.props,
    r.status = CASE WHEN r.status IN $decided THEN r.status ELSE x.status END,
    r.needs_review = CASE WHEN r.status IN $decided THEN x.needs_review ELSE false END,
    r.last_run = $run_id, r.last_detected = datetime($at)
REMOVE r.retired_run
"""
# Leavers: a membership with a decision stays (inactive); the others go.
DROP_LEAVERS = """
UNWIND $rings AS x
MATCH (r:Ring {id: x.id})<-[m:MEMBER_OF]-(a:Account)
WHERE NOT a.id IN x.members
// read the status once, before the first FOREACH may delete m (a deleted relationship cannot be read)
WITH m, m.status IS NULL AS undecided
FOREACH (_ IN CASE WHEN undecided THEN [1] ELSE [] END | DELETE m)
FOREACH (_ IN CASE WHEN NOT undecided THEN [1] ELSE [] END | SET m.active = false, m.left_run = $run_id)
"""
UPSERT_MEMBERS = """
UNWIND $members AS x
MATCH (a:Account {id: x.account}), (r:Ring {id: x.ring})
MERGE (a)-[m:MEMBER_OF]->(r)
ON CREATE SET m.joined_run = $run_id, m.joined_at = datetime($at), m.is_new = x.ring_existed
SET m.evidence = x.evidence, m.strength = x.strength, m.private_share = x.private_share,
    m.last_run = $run_id, m.active = true,
    m.is_new = CASE WHEN m.joined_run = $run_id THEN x.ring_existed ELSE false END
"""
COUNT_NEW = """
UNWIND $ids AS id
MATCH (r:Ring {id: id})
SET r.new_members = COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE m.is_new AND m.active },
    r.size = COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE m.active },
    r.awaiting = CASE WHEN r.status IN $decided
                 THEN COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE m.active AND m.status IS NULL } ELSE 0 END
"""
# A ring no run matches: kept. Undecided -> retired; decided -> keeps its status. Members inactive.
RETIRE = """
UNWIND $ids AS id
MATCH (r:Ring {id: id})
SET r.retired_run = $run_id, r.awaiting = 0,
    r.status = CASE WHEN r.status IN $decided THEN r.status ELSE 'retired' END
WITH r
MATCH (r)<-[m:MEMBER_OF]-()
SET m.active = false, m.is_new = false
"""


def match_rings(new: dict[int, set[str]], old: dict[str, set[str]]) -> dict[int, str]:
    """community -> previous ring id, by best member overlap (see module docstring)."""
    owner = {a: rid for rid, members in old.items() for a in members}
    candidates = []
    for c, members in new.items():
        shared = Counter(owner[a] for a in members if a in owner)
        for rid, inter in shared.items():
            overlap = inter / min(len(members), len(old[rid]))
            if overlap >= MATCH_OVERLAP:
                candidates.append((overlap, inter, c, rid))
    matched: dict[int, str] = {}
    used: set[str] = set()
    for _, _, c, rid in sorted(candidates, reverse=True):
        if c not in matched and rid not in used:
            matched[c] = rid
            used.add(rid)
    return matched


def needs_review(decided: set[str] | None, current: set[str]) -> bool:
    """Whether a decided ring's membership moved too far from what its decisions covered.

    Jaccard |decided & current| / |decided | current| below REVIEW_JACCARD; False for a
    ring nobody decided on (decided None or empty).
    """
    if not decided:
        return False
    return len(decided & current) / len(decided | current) < REVIEW_JACCARD


def persist(
    driver: neo4j.Driver,
    rings: pd.DataFrame,
    members: pd.DataFrame,
    threshold: float,
    run: dict,
    scope: list[str] | None = None,
    communities: pd.Series | None = None,
) -> pd.DataFrame:
    """Write rings and memberships; returns `rings` with their ids and statuses.

    `scope`: the previous rings this run replaces (an incremental run's; None: all).
    `communities`: account -> community to store as `Account.community`."""
    at = datetime.now(UTC).isoformat()
    state = read(driver, PREVIOUS) if scope is None else read(driver, PREVIOUS_IN, ids=scope)
    previous = {r["id"]: set(r["members"]) for r in state if r["members"]}
    decided_sets = {r["id"]: set(r["decided"]) for r in state if r["status"] in DECIDED_STATUSES}
    new_sets = {int(c): set(g["account"]) for c, g in members.groupby("community")}
    matched = match_rings(new_sets, previous)
    fresh = [c for c in new_sets if c not in matched]
    if fresh:
        last = write(driver, NEXT_IDS, k=len(fresh))[0]["last"]
        for i, c in enumerate(sorted(fresh)):
            matched[c] = f"R-{last - len(fresh) + i + 1:06d}"
    rings = rings.copy()
    rings["id"] = rings["community"].map(matched)
    rings["status"] = ["suspected" if s >= threshold else "watch" for s in rings["score"]]
    rings["existed"] = rings["id"].isin(previous.keys())
    prop_cols = [c for c in rings.columns if c not in ("community", "id", "status", "existed")]
    ring_rows = [
        {
            "id": row["id"],
            "status": row["status"],
            "members": sorted(new_sets[int(row["community"])]),
            "needs_review": needs_review(decided_sets.get(row["id"]), new_sets[int(row["community"])]),
            "props": {k: _plain(row[k]) for k in prop_cols},
        }
        for _, row in rings.iterrows()
    ]
    existed = dict(zip(rings["community"], rings["existed"], strict=True))
    members = members.assign(
        ring=members["community"].map(matched), ring_existed=members["community"].map(existed).astype(bool)
    )
    kept = set(matched.values())  # once: a set built per ring made this quadratic (22 s at 21,000 rings)
    retired = [r["id"] for r in state if r["id"] not in kept and r["status"] != "retired"]
    seeds = pd.Series(dtype="int64") if communities is None else communities
    with session(driver, write=True) as s:
        s.execute_write(_write, ring_rows, members, retired, run, at, seeds)
    return rings


def _member_rows(members: pd.DataFrame) -> list[dict]:
    """UPSERT_MEMBERS' rows of `members` (with their ring's id, `ring`, and `ring_existed`)."""
    return [
        {
            "account": row.account,
            "ring": row.ring,
            "ring_existed": bool(row.ring_existed),
            "evidence": row.evidence,
            "strength": float(row.strength),
            "private_share": float(row.private_share),
        }
        for row in members.itertuples()
    ]


WRITE_BATCH = 20_000  # rows per statement; each batch's rows are built as it is sent


def _write(
    tx: neo4j.ManagedTransaction,
    ring_rows: list[dict],
    members: pd.DataFrame,
    retired: list[str],
    run: dict,
    at: str,
    seeds: pd.Series,
) -> None:
    # One transaction: a detection run lands whole or not at all. The members' and seeds'
    # rows are built a batch at a time (all at once, a million [account, community] lists
    # were the largest thing in the process at 1,000,000 accounts), and again if the driver
    # retries the transaction.
    decided = list(DECIDED_STATUSES)
    keys = ("kind", "delivery", "partner", "counts", "communities", "region", "touched", "replaced")
    tx.run(CREATE_RUN, run=dict.fromkeys(keys) | run | {"at": at}).consume()
    for i in range(0, len(seeds), WRITE_BATCH):
        part = seeds.iloc[i : i + WRITE_BATCH]
        rows = [[a, int(c)] for a, c in zip(part.index, part.to_numpy(), strict=True)]
        tx.run(SET_COMMUNITIES, rows=rows).consume()
    tx.run(UPSERT_RINGS, rings=ring_rows, at=at, run_id=run["id"], decided=decided).consume()
    tx.run(DROP_LEAVERS, rings=ring_rows, run_id=run["id"]).consume()
    for i in range(0, len(members), WRITE_BATCH):
        rows = _member_rows(members.iloc[i : i + WRITE_BATCH])
        tx.run(UPSERT_MEMBERS, members=rows, at=at, run_id=run["id"]).consume()
    tx.run(RETIRE, ids=retired, decided=decided, run_id=run["id"]).consume()
    tx.run(COUNT_NEW, ids=[r["id"] for r in ring_rows], decided=decided).consume()


def _plain(value: object) -> object:
    """Neo4j-storable value: numpy scalars to Python, lists of strings as they are (a native
    property Cypher can test with IN), other dicts and lists to JSON text."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    if hasattr(value, "item"):
        return value.item()
    return value
