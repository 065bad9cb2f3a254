"""Persist detected rings, keeping identities stable across runs.

A rerun matches each new ring to a previous one by member overlap: the overlap
coefficient |new & old| / min(|new|, |old|) >= MATCH_OVERLAP, best pairs first, each old
ring used once. A matched ring keeps its id, its first detection time and any analyst
decision (a blocked ring stays blocked, with its score refreshed). Accounts that join a
known ring are marked `is_new` on their MEMBER_OF, with the run that added them, so a
blocked farm that grows back shows up as a blocked ring with new members.

Previous rings no run matches are removed if nobody decided on them; decided rings stay,
with their members, as the record of the decision.
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

PREVIOUS = """
MATCH (r:Ring)
RETURN r.id AS id, r.status AS status, COLLECT { MATCH (a:Account)-[:MEMBER_OF]->(r) RETURN a.id } AS members
"""
NEXT_IDS = """
MERGE (c:Counter {name: 'ring'})
SET c.value = coalesce(c.value, 0) + $k
RETURN c.value AS last
"""
CREATE_RUN = """
CREATE (run:DetectionRun {id: $run.id, at: datetime($run.at), backend: $run.backend,
        threshold: $run.threshold, params: $run.params, seconds: $run.seconds,
        rings: $run.rings, flagged: $run.flagged})
"""
UPSERT_RINGS = """
UNWIND $rings AS x
MERGE (r:Ring {id: x.id})
ON CREATE SET r.first_detected = datetime($at), r.status = x.status
SET r.previous_size = r.size,
    r += x.props,
    r.status = CASE WHEN r.status IN $decided THEN r.status ELSE x.status END,
    r.last_run = $run_id, r.last_detected = datetime($at)
"""
DROP_LEAVERS = """
UNWIND $rings AS x
MATCH (r:Ring {id: x.id})<-[m:MEMBER_OF]-(a:Account)
WHERE NOT r.status IN $decided AND NOT a.id IN x.members
DELETE m
"""
UPSERT_MEMBERS = """
UNWIND $members AS x
MATCH (a:Account {id: x.account}), (r:Ring {id: x.ring})
MERGE (a)-[m:MEMBER_OF]->(r)
ON CREATE SET m.joined_run = $run_id, m.joined_at = datetime($at), m.is_new = x.ring_existed
SET m.evidence = x.evidence, m.strength = x.strength, m.private_share = x.private_share,
    m.last_run = $run_id,
    m.is_new = CASE WHEN m.joined_run = $run_id THEN x.ring_existed ELSE false END
"""
COUNT_NEW = """
UNWIND $ids AS id
MATCH (r:Ring {id: id})
SET r.new_members = COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE m.is_new },
    r.size = COUNT { MATCH (r)<-[:MEMBER_OF]-() }
"""
RETIRE = """
UNWIND $ids AS id
MATCH (r:Ring {id: id})
WHERE NOT r.status IN $decided
DETACH DELETE r
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


def persist(
    driver: neo4j.Driver,
    rings: pd.DataFrame,
    members: pd.DataFrame,
    threshold: float,
    run: dict,
) -> pd.DataFrame:
    """Write rings and memberships; returns `rings` with their ids and statuses."""
    at = datetime.now(UTC).isoformat()
    previous = {r["id"]: set(r["members"]) for r in read(driver, PREVIOUS)}
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
            "props": {k: _plain(row[k]) for k in prop_cols},
        }
        for _, row in rings.iterrows()
    ]
    existed = dict(zip(rings["community"], rings["existed"], strict=True))
    member_rows = [
        {
            "account": row.account,
            "ring": matched[int(row.community)],
            "ring_existed": bool(existed[row.community]),
            "evidence": row.evidence,
            "strength": float(row.strength),
            "private_share": float(row.private_share),
        }
        for row in members.itertuples()
    ]
    retired = [rid for rid in previous if rid not in set(matched.values())]
    with session(driver, write=True) as s:
        s.execute_write(_write, ring_rows, member_rows, retired, run, at)
    return rings


def _write(tx, ring_rows, member_rows, retired, run, at) -> None:
    # One transaction: a detection run lands whole or not at all.
    decided = list(DECIDED_STATUSES)
    tx.run(CREATE_RUN, run={**run, "at": at}).consume()
    tx.run(UPSERT_RINGS, rings=ring_rows, at=at, run_id=run["id"], decided=decided).consume()
    tx.run(DROP_LEAVERS, rings=ring_rows, decided=decided).consume()
    for i in range(0, len(member_rows), 20_000):
        tx.run(UPSERT_MEMBERS, members=member_rows[i : i + 20_000], at=at, run_id=run["id"]).consume()
    tx.run(COUNT_NEW, ids=[r["id"] for r in ring_rows]).consume()
    tx.run(RETIRE, ids=retired, decided=decided).consume()


def _plain(value):
    """Neo4j-storable value: numpy scalars to Python, lists of strings as they are (a native
    property Cypher can test with IN), other dicts and lists to JSON text."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    if hasattr(value, "item"):
        return value.item()
    return value
