"""Analysts' decisions on rings: each one covers an exact set of accounts, and is never overwritten.

A decision is an audit event (graph.review.audit) that is also a `:Decision` linked to its
ring:

    (:Decision:AuditEvent {id, seq, prev, hash, at, actor, role, channel, action, ring, run,
                           score, status, previous_status, reason, scope, members,
                           member_count, members_sha256, previous_member_status, undo_of,
                           approval_of, pending})-[:ON]->(:Ring)

`members` is the exact, sorted list of account ids the decision covers: for a decision on
the whole ring, every member the ring had when it was decided (the ones the analyst
saw); for a member decision, the accounts picked. Each covered membership records
`MEMBER_OF.status` and `MEMBER_OF.decision` (this event's id), and that is all the block
list reads: an account is on it only when a decision names it. Accounts that join a
decided ring later carry no status: they are "awaiting review" until someone extends
the decision to them (`extend`), itself a decision naming exactly them.

Actions: `decide` (ring or members), `extend` (the ring's awaiting members, with the
ring's status), `undo` (restores what an earlier decision replaced, member by member),
`approve` (a second person releases a block that waits for approval). A block covering
more than `approval_threshold()` accounts is recorded with `pending: true` and changes
nothing until a lead other than its author approves it; undoing a pending block
withdraws it.

Roles (graph.review.actors): analysts decide and undo their own decisions; leads also
undo others' and approve. Checks run here, whatever the caller.

Concurrency: each change is one write transaction that first writes the ring
(`decision_seq + 1`, taking its write lock) and only then reads what it replaces, then
appends to the audit chain (taking the chain head's lock). Locks are always taken in that
order (ring, head), so decisions on different rings never deadlock on each other except
at the head, which Neo4j resolves by retrying one transaction whole (execute_write).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import neo4j

from graph.db.connection import session
from graph.review import audit
from graph.review.actors import Actor, PermissionDenied, approval_threshold, require
from graph.vocabulary import DECIDED_STATUSES

__all__ = ["DecisionError", "approve", "awaiting", "decide", "extend", "history", "members_digest", "undo"]

MAX_REASON = 2000
MAX_MEMBERS = 10_000  # accounts picked one by one; a ring decision covers the whole ring, whatever its size


class DecisionError(ValueError):
    """A decision that cannot be recorded; the message says why, in one line."""


# The ring is found by a read-only statement, then locked by element id (a locking
# unique-index seek in the writing statement would add a shared lock to upgrade).
FIND_RING = "MATCH (r:Ring {id: $ring}) RETURN elementId(r) AS eid"
LOCK_RING = """
MATCH (r:Ring) WHERE elementId(r) = $eid
SET r.decision_seq = coalesce(r.decision_seq, 0) + 1
RETURN r.decision_seq AS ring_seq, r.status AS status, r.score AS score, r.last_run AS run, r.pending AS pending
"""
# Current members: the ones the latest run placed in the ring.
CURRENT_MEMBERS = """
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account)
WHERE coalesce(m.active, true)
RETURN a.id AS account ORDER BY account
"""
AWAITING = """
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account)
WHERE coalesce(m.active, true) AND m.status IS NULL AND r.status IN $decided
RETURN a.id AS account ORDER BY account
"""
MEMBER_STATES = """
UNWIND $members AS id
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account {id: id})
RETURN a.id AS account, m.status AS status, m.decision AS decision, m.approval AS approval
"""
LINK = """
MATCH (e:AuditEvent {id: $id}), (r:Ring {id: $ring})
SET e:Decision
CREATE (e)-[:ON]->(r)
"""
# x: {account, status, decision, approval}; null status clears the membership's decision
APPLY = """
UNWIND $assign AS x
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(:Account {id: x.account})
SET m.status = x.status, m.decision = x.decision, m.approval = x.approval
"""
SET_RING = """
MATCH (r:Ring {id: $ring})
SET r.status = $status, r.decided_at = datetime(), r.decided_by = $actor, r.needs_review = false,
    r.decided_members = $count, r.case_updated_at = datetime(),
    r.case_state = CASE WHEN $status IN ['confirmed', 'blocked', 'dismissed'] THEN 'decided' ELSE 'in progress' END
"""
REFRESH_AWAITING = """
MATCH (r:Ring {id: $ring})
SET r.awaiting = CASE WHEN r.status IN $decided
                 THEN COUNT { MATCH (r)<-[m:MEMBER_OF]-() WHERE coalesce(m.active, true) AND m.status IS NULL }
                 ELSE 0 END
"""
SET_PENDING = "MATCH (r:Ring {id: $ring}) SET r.pending = $pending"
FIND_DECISION = """
MATCH (d:Decision {id: $id})
RETURN properties(d) AS d,
       EXISTS { MATCH (u:Decision {undo_of: d.id}) } AS undone,
       EXISTS { MATCH (p:Decision {approval_of: d.id}) } AS approved
"""
HISTORY = """
MATCH (d:Decision)-[:ON]->(r:Ring {id: $ring})
RETURN d.id AS id, d.seq AS seq, toString(d.at) AS at, d.actor AS actor, d.role AS role, d.channel AS channel,
       d.action AS action, d.status AS status, d.previous_status AS previous_status, d.reason AS reason,
       d.scope AS scope, d.member_count AS member_count, d.members_sha256 AS members_sha256,
       d.undo_of AS undo_of, d.approval_of AS approval_of, coalesce(d.pending, false) AS pending,
       d.run AS run, d.score AS score,
       EXISTS { MATCH (u:Decision {undo_of: d.id}) } AS undone,
       EXISTS { MATCH (p:Decision {approval_of: d.id}) } AS approved
ORDER BY d.seq DESC
LIMIT $limit
"""


def members_digest(members: list[str]) -> str:
    """SHA-256 (hex) of the sorted account ids, one per line: names the exact set a decision covers."""
    return hashlib.sha256("\n".join(sorted(members)).encode("utf-8")).hexdigest()


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("a decision needs a reason (what the evidence shows)")
    if len(reason) > MAX_REASON:
        raise DecisionError(f"reason is longer than {MAX_REASON} characters")
    return reason


def _check_members(members: list[str] | None) -> list[str] | None:
    if members is None:
        return None
    members = sorted({str(m).strip() for m in members if str(m).strip()})
    if not members:
        raise DecisionError("no members selected: pick the accounts to decide on, or decide the whole ring")
    if len(members) > MAX_MEMBERS:
        raise DecisionError(f"at most {MAX_MEMBERS} members per decision")
    return members


def _lock(tx: neo4j.ManagedTransaction, ring_id: str) -> dict[str, Any]:
    """Take the ring's write lock; returns its state as of holding it."""
    found = tx.run(FIND_RING, ring=ring_id).single()
    if found is None:
        raise DecisionError(f"no ring {ring_id!r}")
    return tx.run(LOCK_RING, eid=found["eid"]).single().data()


def _states(tx: neo4j.ManagedTransaction, ring_id: str, members: list[str]) -> dict[str, dict[str, Any]]:
    return {r["account"]: r.data() for r in tx.run(MEMBER_STATES, ring=ring_id, members=members)}


def _record(tx: neo4j.ManagedTransaction, actor: Actor, ring: dict[str, Any], action: str, **fields: Any) -> dict:
    """Append the event, make it a Decision on its ring; returns the stored event."""
    event = audit.append(
        tx,
        action,
        actor.name,
        actor.channel,
        role=actor.role,
        ring=ring["id"],
        run=ring.get("run"),
        score=ring.get("score"),
        ring_seq=ring["ring_seq"],
        **fields,
    )
    tx.run(LINK, id=event["id"], ring=ring["id"]).consume()
    return event


def _assign(members: list[str], status: str | None, decision: str | None, approval: str | None = None) -> list[dict]:
    return [{"account": m, "status": status, "decision": decision, "approval": approval} for m in members]


def decide(
    driver: neo4j.Driver,
    actor: Actor,
    ring_id: str,
    status: str,
    reason: str | None,
    members: list[str] | None = None,
    seen_run: str | None = None,
) -> dict[str, Any]:
    """Record `actor`'s decision on the whole ring (members None) or on `members` of it.

    `seen_run` is the detection run the analyst's view came from: when the ring has been
    re-detected since, the decision is refused (the members they saw may have changed).
    Returns the event. Raises DecisionError or PermissionDenied, writing nothing.
    """
    require(actor, "decide")
    if status not in DECIDED_STATUSES:
        raise DecisionError(f"status must be one of {', '.join(DECIDED_STATUSES)}, not {status!r}")
    reason = _check_reason(reason)
    members = _check_members(members)
    with session(driver, write=True) as s:
        return s.execute_write(_decide_tx, actor, ring_id, status, reason, members, seen_run, "decide")


def extend(
    driver: neo4j.Driver, actor: Actor, ring_id: str, reason: str | None, seen: list[str] | None = None
) -> dict[str, Any]:
    """Extend a decided ring's decision to its members awaiting review (a decision naming exactly them).

    `seen` is the awaiting set the analyst was shown; if it changed meanwhile, nothing is written.
    """
    require(actor, "decide")
    reason = _check_reason(reason)
    with session(driver, write=True) as s:
        return s.execute_write(_extend_tx, actor, ring_id, reason, seen)


def _extend_tx(
    tx: neo4j.ManagedTransaction, actor: Actor, ring_id: str, reason: str, seen: list[str] | None
) -> dict[str, Any]:
    locked = _lock(tx, ring_id)
    if locked["status"] not in DECIDED_STATUSES:
        raise DecisionError(f"ring {ring_id} is {locked['status']}: decide on it first, then extend")
    waiting = [r["account"] for r in tx.run(AWAITING, ring=ring_id, decided=list(DECIDED_STATUSES))]
    if not waiting:
        raise DecisionError(f"ring {ring_id} has no members awaiting review")
    if seen is not None and sorted(seen) != waiting:
        raise DecisionError(f"ring {ring_id}'s awaiting members changed since you loaded it: reload and check them")
    return _apply_decision(tx, actor, {**locked, "id": ring_id}, locked["status"], reason, waiting, "members", "extend")


def _decide_tx(
    tx: neo4j.ManagedTransaction,
    actor: Actor,
    ring_id: str,
    status: str,
    reason: str,
    members: list[str] | None,
    seen_run: str | None,
    action: str,
) -> dict[str, Any]:
    locked = _lock(tx, ring_id)
    ring = {**locked, "id": ring_id}
    if seen_run is not None and locked["run"] != seen_run:
        raise DecisionError(
            f"ring {ring_id} was re-detected (run {locked['run']}) since you loaded it: "
            "reload it and decide on what it holds now"
        )
    if members is None:
        covered = [r["account"] for r in tx.run(CURRENT_MEMBERS, ring=ring_id)]
        if not covered:
            raise DecisionError(f"ring {ring_id} has no current members")
        return _apply_decision(tx, actor, ring, status, reason, covered, "ring", action)
    states = _states(tx, ring_id, members)
    missing = [m for m in members if m not in states]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DecisionError(f"not members of {ring_id}: {shown}")
    return _apply_decision(tx, actor, ring, status, reason, members, "members", action, states)


def _apply_decision(
    tx: neo4j.ManagedTransaction,
    actor: Actor,
    ring: dict[str, Any],
    status: str,
    reason: str,
    covered: list[str],
    scope: str,
    action: str,
    states: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if ring.get("pending"):
        raise DecisionError(f"ring {ring['id']} has a block waiting for approval: approve or withdraw it first")
    states = states if states is not None else _states(tx, ring["id"], covered)
    effective = {states[m]["status"] for m in covered}
    previous = (effective.pop() if len(effective) == 1 else "mixed") if scope == "members" else ring["status"]
    pending = status == "blocked" and len(covered) > approval_threshold()
    event = _record(
        tx,
        actor,
        ring,
        action,
        status=status,
        previous_status=previous,
        reason=reason,
        scope=scope,
        members=covered,
        member_count=len(covered),
        members_sha256=members_digest(covered),
        previous_member_status=json.dumps(
            {m: [states[m]["status"], states[m]["decision"], states[m]["approval"]] for m in covered}, sort_keys=True
        ),
        pending=pending or None,
    )
    if pending:
        tx.run(SET_PENDING, ring=ring["id"], pending=event["id"]).consume()
    else:
        _take_effect(tx, ring["id"], event, approval=None)
    return _public(event)


def _take_effect(tx: neo4j.ManagedTransaction, ring_id: str, event: dict[str, Any], approval: str | None) -> None:
    tx.run(APPLY, ring=ring_id, assign=_assign(event["members"], event["status"], event["id"], approval)).consume()
    if event["scope"] == "ring":
        tx.run(
            SET_RING, ring=ring_id, status=event["status"], actor=event["actor"], count=event["member_count"]
        ).consume()
    tx.run(REFRESH_AWAITING, ring=ring_id, decided=list(DECIDED_STATUSES)).consume()


def _public(event: dict[str, Any]) -> dict[str, Any]:
    """What callers get back: the event without the (possibly long) member list."""
    out = {k: v for k, v in event.items() if k not in ("members", "previous_member_status")}
    out["at"] = audit.iso_text(event["at"])
    out["pending"] = bool(event.get("pending"))
    return out


def approve(driver: neo4j.Driver, actor: Actor, decision_id: str, reason: str | None) -> dict[str, Any]:
    """A lead other than its author releases a block that waits for approval."""
    require(actor, "approve")
    reason = _check_reason(reason)
    with session(driver, write=True) as s:
        return s.execute_write(_approve_tx, actor, decision_id, reason)


def _find(tx: neo4j.ManagedTransaction, decision_id: str) -> dict[str, Any]:
    found = tx.run(FIND_DECISION, id=decision_id).single()
    if found is None:
        raise DecisionError(f"no decision {decision_id!r}")
    return found.data()


def _approve_tx(tx: neo4j.ManagedTransaction, actor: Actor, decision_id: str, reason: str) -> dict[str, Any]:
    d = _find(tx, decision_id)["d"]
    locked = _lock(tx, d["ring"])
    found = _find(tx, decision_id)  # again, under the ring's lock
    if not d.get("pending") or found["approved"] or found["undone"] or locked["pending"] != decision_id:
        raise DecisionError("this decision is not waiting for approval")
    if d["actor"] == actor.name:
        raise PermissionDenied("a block needs a second person's approval: its author cannot approve it")
    members = d["members"]
    event = _record(
        tx,
        actor,
        {**locked, "id": d["ring"]},
        "approve",
        status=d["status"],
        reason=reason,
        approval_of=decision_id,
        scope=d["scope"],
        member_count=len(members),
        members_sha256=members_digest(members),
    )
    tx.run(SET_PENDING, ring=d["ring"], pending=None).consume()
    _take_effect(tx, d["ring"], d, approval=event["id"])
    return _public(event)


def undo(driver: neo4j.Driver, actor: Actor, decision_id: str, reason: str | None) -> dict[str, Any]:
    """Record a new event that reverses `decision_id` for the members it still governs.

    Analysts undo their own decisions, leads anyone's. Refused when it was already undone,
    or when later decisions have changed every member it covered (decide again instead).
    Undoing a block that waits for approval withdraws it.
    """
    require(actor, "undo_own")
    reason = _check_reason(reason)
    with session(driver, write=True) as s:
        return s.execute_write(_undo_tx, actor, decision_id, reason)


def _undo_tx(tx: neo4j.ManagedTransaction, actor: Actor, decision_id: str, reason: str) -> dict[str, Any]:
    d = _find(tx, decision_id)["d"]
    if d.get("action") not in ("decide", "extend"):
        raise DecisionError(
            f"a{'n' if d.get('action', 'x')[0] in 'aeiou' else ''} {d.get('action')} cannot be "
            "undone: undo the decision it belongs to"
        )
    if d["actor"] != actor.name:
        require(actor, "undo_others")
    locked = _lock(tx, d["ring"])
    found = _find(tx, decision_id)
    if found["undone"]:
        raise DecisionError("this decision was already undone")
    ring = {**locked, "id": d["ring"]}
    if d.get("pending") and not found["approved"]:
        event = _record(
            tx,
            actor,
            ring,
            "undo",
            status=d["previous_status"],
            reason=reason,
            undo_of=decision_id,
            scope=d["scope"],
            member_count=0,
            members_sha256=members_digest([]),
        )
        tx.run(SET_PENDING, ring=d["ring"], pending=None).consume()
        return _public(event)
    return _restore(tx, actor, ring, d, reason)


def _restore(
    tx: neo4j.ManagedTransaction, actor: Actor, ring: dict[str, Any], d: dict[str, Any], reason: str
) -> dict[str, Any]:
    states = _states(tx, ring["id"], d["members"])
    governed = [m for m in d["members"] if m in states and states[m]["decision"] == d["id"]]
    ring_reverted = d["scope"] == "ring" and ring["status"] == d["status"]
    if not governed and not ring_reverted:
        raise DecisionError("every member of this decision was changed by a later decision: decide again instead")
    previous = json.loads(d["previous_member_status"])
    event = _record(
        tx,
        actor,
        ring,
        "undo",
        status=d["previous_status"],
        reason=reason,
        undo_of=d["id"],
        scope=d["scope"],
        members=governed,
        member_count=len(governed),
        members_sha256=members_digest(governed),
    )
    assign = [
        {"account": m, "status": previous[m][0], "decision": previous[m][1], "approval": previous[m][2]}
        for m in governed
    ]
    tx.run(APPLY, ring=ring["id"], assign=assign).consume()
    if ring_reverted:
        tx.run(SET_RING, ring=ring["id"], status=d["previous_status"], actor=actor.name, count=len(governed)).consume()
    tx.run(REFRESH_AWAITING, ring=ring["id"], decided=list(DECIDED_STATUSES)).consume()
    return _public(event)


def awaiting(driver: neo4j.Driver, ring_id: str) -> list[str]:
    """Members of a decided ring that no decision covers yet (joined after it was decided)."""
    with session(driver) as s:
        return [r["account"] for r in s.run(AWAITING, ring=ring_id, decided=list(DECIDED_STATUSES))]


def history(driver: neo4j.Driver, ring_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The ring's decisions, approvals and undos, newest first (an auto-commit read)."""
    with session(driver) as s:
        return [r.data() for r in s.run(HISTORY, ring=ring_id, limit=int(limit))]
