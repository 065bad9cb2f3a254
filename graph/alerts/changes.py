"""What a detection run changed that someone should be told about.

Three kinds, each about one ring of one run:

    new_ring          a ring first detected by this run, scoring at or above the threshold
    grown_ring        a ring this run found larger than the run before (size > previous_size)
    awaiting_review   a blocked or confirmed ring that this run gave members no decision covers

An alert's id is the SHA-256 of (run, kind, ring), so the same run never yields two
alerts of one kind for one ring, however often they are computed or sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import neo4j

from graph.db.connection import read

__all__ = ["ALERT_KINDS", "alert_id", "run_changes"]

ALERT_KINDS = ("new_ring", "grown_ring", "awaiting_review")

CHANGES = """
MATCH (run:DetectionRun {id: $run})
MATCH (r:Ring {last_run: $run})
WITH run, r,
     COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE m.joined_run = $run AND m.status IS NULL AND m.active } AS joined
WITH run, r, joined,
     r.first_detected = run.at AND r.score >= run.threshold AND r.status = 'suspected' AS is_new,
     r.previous_size IS NOT NULL AND r.size > r.previous_size AS grown,
     r.status IN ['blocked', 'confirmed'] AND joined > 0 AS awaiting
WHERE is_new OR grown OR awaiting
RETURN r.id AS ring, r.status AS status, r.score AS score, r.size AS size, r.previous_size AS previous_size,
       joined, r.reason AS reason, is_new, grown, awaiting, toString(run.at) AS run_at
ORDER BY r.score DESC, r.id
"""


def alert_id(run_id: str, kind: str, ring_id: str) -> str:
    """The alert's stable id: one per (run, kind, ring)."""
    return hashlib.sha256(f"{run_id}|{kind}|{ring_id}".encode()).hexdigest()


def run_changes(driver: neo4j.Driver, run_id: str) -> list[dict[str, Any]]:
    """The alerts of one detection run (possibly several per ring), highest score first."""
    out = []
    for row in read(driver, CHANGES, run=run_id):
        for kind, flag in (("new_ring", "is_new"), ("grown_ring", "grown"), ("awaiting_review", "awaiting")):
            if row[flag]:
                out.append(
                    {
                        "id": alert_id(run_id, kind, row["ring"]),
                        "kind": kind,
                        "run": run_id,
                        "run_at": row["run_at"],
                        "ring": row["ring"],
                        "status": row["status"],
                        "score": row["score"],
                        "size": row["size"],
                        "previous_size": row["previous_size"],
                        "new_members_awaiting_review": row["joined"] if kind == "awaiting_review" else None,
                        "reason": row["reason"],
                    }
                )
    return out
