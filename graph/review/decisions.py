"""Analyst decisions on rings: an append-only audit trail, never an overwrite.

Every decision is one event node

    (:Decision {id, seq, at, analyst, status, previous_status, reason, members, undo_of,
                previous_member_status})-[:ON]->(:Ring)

A ring decision (`members` null) sets `Ring.status`; a member decision sets
`MEMBER_OF.status` on just those members (the block list honours it either way, see
graph.export). Undo is a new event that restores what the undone event replaced; nothing
is ever deleted or edited.

Concurrency: each decision is one write transaction that first writes the ring
(`decision_seq + 1`), which takes the ring's write lock, and only then reads the status it
replaces (a transaction Neo4j aborts as a deadlock victim is retried whole by the driver).
Two analysts deciding the same ring at once are serialised by that lock: both events are
kept, the second one's `previous_status` is the first one's `status`, and their `seq`
numbers are consecutive.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import neo4j

from graph.db.connection import session
from graph.vocabulary import DECIDED_STATUSES

MAX_REASON = 2000
MAX_ANALYST = 100
MAX_MEMBERS = 10_000


class DecisionError(ValueError):
    """A decision that cannot be recorded; the message says why, in one line."""


# Taking the lock comes first: SET on the ring before anything reads its status. The ring is
# found by a read-only statement, then locked by element id (a locking unique-index seek in
# the writing statement would add a shared lock to upgrade). Neo4j may still report a
# deadlock when one decision commits its new (:Decision)-[:ON]->(ring) relationship while
# another waits for the ring; that waiting transaction is rolled back whole and retried by
# the driver (execute_write), and, since it locks before it reads, it then reads the
# status the first one set. Nothing is lost either way.
FIND_RING = "MATCH (r:Ring {id: $ring}) RETURN elementId(r) AS eid"
LOCK_RING = """
MATCH (r:Ring) WHERE elementId(r) = $eid
SET r.decision_seq = coalesce(r.decision_seq, 0) + 1
RETURN r.decision_seq AS seq, r.status AS status
"""

RING_DECISION = """
MATCH (r:Ring {id: $ring})
CREATE (d:Decision {id: $id, seq: $seq, at: datetime(), analyst: $analyst, status: $status,
                    previous_status: r.status, reason: $reason, members: null, undo_of: $undo_of})
CREATE (d)-[:ON]->(r)
SET r.status = $status, r.decided_at = d.at, r.decided_by = $analyst
RETURN d.id AS id, d.seq AS seq, toString(d.at) AS at, d.status AS status, d.previous_status AS previous_status
"""

MEMBER_STATES = """
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account)
WHERE a.id IN $members
RETURN a.id AS account, m.status AS status, coalesce(m.status, r.status) AS effective
LIMIT $limit
"""

MEMBER_DECISION = """
MATCH (r:Ring {id: $ring})
CREATE (d:Decision {id: $id, seq: $seq, at: datetime(), analyst: $analyst, status: $status,
                    previous_status: $previous_status, reason: $reason, members: $members,
                    previous_member_status: $previous_member_status, undo_of: $undo_of})
CREATE (d)-[:ON]->(r)
WITH d, r
UNWIND $assign AS x
MATCH (r)<-[m:MEMBER_OF]-(:Account {id: x.account})
SET m.status = x.status, m.decided_at = d.at, m.decided_by = $analyst
WITH DISTINCT d
RETURN d.id AS id, d.seq AS seq, toString(d.at) AS at, d.status AS status, d.previous_status AS previous_status
"""

FIND_DECISION = """
MATCH (d:Decision {id: $id})-[:ON]->(r:Ring)
RETURN d.id AS id, r.id AS ring, d.status AS status, d.previous_status AS previous_status,
       d.members AS members, d.previous_member_status AS previous_member_status,
       EXISTS { MATCH (u:Decision {undo_of: d.id}) } AS undone
"""

HISTORY = """
MATCH (d:Decision)-[:ON]->(r:Ring {id: $ring})
RETURN d.id AS id, d.seq AS seq, toString(d.at) AS at, d.analyst AS analyst, d.status AS status,
       d.previous_status AS previous_status, d.reason AS reason, d.members AS members, d.undo_of AS undo_of,
       EXISTS { MATCH (u:Decision {undo_of: d.id}) } AS undone
ORDER BY d.seq DESC, d.at DESC
LIMIT $limit
"""


def _check_text(reason: str | None, analyst: str | None) -> tuple[str, str]:
    reason = (reason or "").strip()
    analyst = (analyst or "").strip()
    if not analyst:
        raise DecisionError("a decision needs the analyst's name")
    if not reason:
        raise DecisionError("a decision needs a reason (what the evidence shows)")
    if len(analyst) > MAX_ANALYST:
        raise DecisionError(f"analyst name is longer than {MAX_ANALYST} characters")
    if len(reason) > MAX_REASON:
        raise DecisionError(f"reason is longer than {MAX_REASON} characters")
    return reason, analyst


def decide(
    driver: neo4j.Driver,
    ring_id: str,
    status: str,
    reason: str | None,
    analyst: str | None,
    members: list[str] | None = None,
) -> dict[str, Any]:
    """Record a decision on the ring (or on `members` of it); returns the new event.

    Raises DecisionError (nothing written) for an unknown status, an empty reason or
    analyst, an unknown ring, or accounts that are not members of the ring.
    """
    if status not in DECIDED_STATUSES:
        raise DecisionError(f"status must be one of {', '.join(DECIDED_STATUSES)}, not {status!r}")
    reason, analyst = _check_text(reason, analyst)
    if members is not None:
        members = sorted({str(m).strip() for m in members if str(m).strip()})
        if not members:
            raise DecisionError("no members selected: pick the accounts to decide on, or decide the whole ring")
        if len(members) > MAX_MEMBERS:
            raise DecisionError(f"at most {MAX_MEMBERS} members per decision")
    with session(driver, write=True) as s:
        return s.execute_write(_decide_tx, ring_id, status, reason, analyst, members)


def _lock(tx, ring_id: str):
    """Take the ring's write lock; returns {seq, status} as of holding it, or None if there is no such ring."""
    found = tx.run(FIND_RING, ring=ring_id).single()
    return tx.run(LOCK_RING, eid=found["eid"]).single() if found else None


def _decide_tx(tx, ring_id, status, reason, analyst, members) -> dict[str, Any]:
    locked = _lock(tx, ring_id)
    if locked is None:
        raise DecisionError(f"no ring {ring_id!r}")
    return _record(tx, locked, ring_id, status, reason, analyst, members, None, None)


def _record(tx, locked, ring_id, status, reason, analyst, members, undo_of, restore) -> dict[str, Any]:
    """Create the event (the ring is already locked by this transaction)."""
    base = {"ring": ring_id, "id": str(uuid.uuid4()), "seq": locked["seq"], "analyst": analyst,
            "reason": reason, "undo_of": undo_of}
    if members is None:
        return tx.run(RING_DECISION, status=status, **base).single().data()
    states = {
        r["account"]: r for r in tx.run(MEMBER_STATES, ring=ring_id, members=members, limit=len(members) + 1)
    }
    missing = [m for m in members if m not in states]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DecisionError(f"not members of {ring_id}: {shown}")
    effective = {states[m]["effective"] for m in members}
    previous = effective.pop() if len(effective) == 1 else "mixed"
    # restore: account -> the MEMBER_OF.status to put back (None clears it); else all get `status`
    assign = [{"account": m, "status": (restore[m] if restore is not None else status)} for m in members]
    return tx.run(
        MEMBER_DECISION,
        status=status,
        members=members,
        previous_status=previous,
        previous_member_status=json.dumps({m: states[m]["status"] for m in members}),
        assign=assign,
        **base,
    ).single().data()


def undo(driver: neo4j.Driver, decision_id: str, reason: str | None, analyst: str | None) -> dict[str, Any]:
    """Record a new event that reverses `decision_id` (restoring its previous status).

    Refused when the decision was already undone, or when a later decision has since
    changed the ring (or every one of the members): decide again instead.
    """
    reason, analyst = _check_text(reason, analyst)
    with session(driver, write=True) as s:
        return s.execute_write(_undo_tx, decision_id, reason, analyst)


def _undo_tx(tx, decision_id, reason, analyst) -> dict[str, Any]:
    found = tx.run(FIND_DECISION, id=decision_id).single()
    if found is None:
        raise DecisionError(f"no decision {decision_id!r}")
    ring_id = found["ring"]
    # lock the ring before re-reading anything the undo depends on
    locked = _lock(tx, ring_id)
    found = tx.run(FIND_DECISION, id=decision_id).single()
    if found["undone"]:
        raise DecisionError("this decision was already undone")
    if found["members"] is None:
        if locked["status"] != found["status"]:
            raise DecisionError(
                f"ring {ring_id} is now {locked['status']} (a later decision changed it): decide again instead of undo"
            )
        return _record(tx, locked, ring_id, found["previous_status"], reason, analyst, None, decision_id, None)
    previous = json.loads(found["previous_member_status"] or "{}")
    states = {
        r["account"]: r["status"]
        for r in tx.run(MEMBER_STATES, ring=ring_id, members=found["members"], limit=len(found["members"]) + 1)
    }
    members = [m for m in found["members"] if states.get(m, "<gone>") == found["status"]]
    if not members:
        raise DecisionError("every member of this decision was changed by a later decision: decide again instead")
    restore = {m: previous.get(m) for m in members}
    return _record(tx, locked, ring_id, found["previous_status"], reason, analyst, members, decision_id, restore)


def history(driver: neo4j.Driver, ring_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The ring's decisions, newest first (an auto-commit read: fails fast when the database is gone)."""
    with session(driver) as s:
        return [r.data() for r in s.run(HISTORY, ring=ring_id, limit=int(limit))]
