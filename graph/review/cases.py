"""Case work on rings: who has a ring, how far it is, and what people said about it.

Each ring is a case with an assignee, a state, and comments kept apart from decisions:

    (:Ring {assignee, case_state, case_updated_at})
    (:Comment:AuditEvent {ring, text, actor, ...})-[:ON]->(:Ring)

States: `open` (the default for a ring nobody touched), `in progress`, `decided` (set by
a decision on the whole ring, or by hand). Every change (assignment, state, comment) is
an audit event naming the logged-in person (graph.review.audit), written in the same
transaction as the change. Analysts and leads work cases; viewers read them.
"""

from __future__ import annotations

import re
from typing import Any

import neo4j

from graph.db.connection import session
from graph.review import audit
from graph.review.actors import Actor, require

__all__ = ["CASE_STATES", "CaseError", "assign", "case_queue", "comment", "comments", "set_state"]

CASE_STATES = ("open", "in progress", "decided")
MAX_COMMENT = 5000
MAX_BULK = 500
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")

LOCK = """
UNWIND $rings AS id
MATCH (r:Ring {id: id})
SET r.case_seq = coalesce(r.case_seq, 0) + 1
RETURN r.id AS id, r.assignee AS assignee, coalesce(r.case_state, 'open') AS state
"""
ASSIGN = """
UNWIND $rings AS id
MATCH (r:Ring {id: id})
SET r.assignee = $assignee, r.case_updated_at = datetime(),
    r.case_state = CASE WHEN coalesce(r.case_state, 'open') = 'open' AND $assignee IS NOT NULL
                        THEN 'in progress' ELSE coalesce(r.case_state, 'open') END
"""
STATE = "MATCH (r:Ring {id: $ring}) SET r.case_state = $state, r.case_updated_at = datetime()"
LINK = "MATCH (e:AuditEvent {id: $id}), (r:Ring {id: $ring}) SET e:Comment CREATE (e)-[:ON]->(r)"
QUEUE = """
MATCH (r:Ring)
WHERE r.status IN $statuses AND ($assignee IS NULL OR r.assignee = $assignee)
  AND ($unassigned = false OR r.assignee IS NULL) AND ($state IS NULL OR coalesce(r.case_state, 'open') = $state)
RETURN r.id AS ring, r.status AS status, round(r.score, 2) AS score, r.size AS size,
       coalesce(r.assignee, '') AS assignee, coalesce(r.case_state, 'open') AS state,
       COUNT { MATCH (:Comment)-[:ON]->(r) } AS comments
ORDER BY r.score DESC, r.id LIMIT $limit
"""
COMMENTS = """
MATCH (c:Comment)-[:ON]->(:Ring {id: $ring})
RETURN c.id AS id, toString(c.at) AS at, c.actor AS actor, c.role AS role, c.text AS text
ORDER BY c.seq DESC LIMIT $limit
"""


class CaseError(ValueError):
    """A case change that cannot be made; the message says why, in one line."""


def _lock(tx: neo4j.ManagedTransaction, rings: list[str]) -> dict[str, dict[str, Any]]:
    found = {r["id"]: r.data() for r in tx.run(LOCK, rings=rings)}
    missing = [r for r in rings if r not in found]
    if missing:
        raise CaseError(f"no ring {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return found


def assign(driver: neo4j.Driver, actor: Actor, ring_ids: list[str], assignee: str | None) -> int:
    """Give rings to `assignee` (None: unassign); an `open` case becomes `in progress`. Returns rings changed."""
    require(actor, "comment")
    rings = sorted({r.strip() for r in ring_ids if r and r.strip()})
    if not rings:
        raise CaseError("pick at least one ring")
    if len(rings) > MAX_BULK:
        raise CaseError(f"at most {MAX_BULK} rings at once")
    if assignee is not None and not NAME.match(assignee):
        raise CaseError("an assignee is a user name (letters, digits, . _ @ : -)")

    def tx(t: neo4j.ManagedTransaction) -> int:
        before = _lock(t, rings)
        changed = [r for r in rings if before[r]["assignee"] != assignee]
        if changed:
            t.run(ASSIGN, rings=changed, assignee=assignee).consume()
            audit.append(
                t,
                "case.assign",
                actor.name,
                actor.channel,
                role=actor.role,
                rings=changed,
                assignee=assignee,
                previous={r: before[r]["assignee"] for r in changed},
            )
        return len(changed)

    with session(driver, write=True) as s:
        return s.execute_write(tx)


def set_state(driver: neo4j.Driver, actor: Actor, ring_id: str, state: str) -> None:
    """Move a case to `state` (open, in progress, decided)."""
    require(actor, "comment")
    if state not in CASE_STATES:
        raise CaseError(f"a case state is one of {', '.join(CASE_STATES)}, not {state!r}")

    def tx(t: neo4j.ManagedTransaction) -> None:
        before = _lock(t, [ring_id])[ring_id]
        if before["state"] == state:
            return
        t.run(STATE, ring=ring_id, state=state).consume()
        audit.append(
            t,
            "case.state",
            actor.name,
            actor.channel,
            role=actor.role,
            ring=ring_id,
            state=state,
            previous_state=before["state"],
        )

    with session(driver, write=True) as s:
        s.execute_write(tx)


def comment(driver: neo4j.Driver, actor: Actor, ring_id: str, text: str) -> dict[str, Any]:
    """Add a comment to the ring's case; returns the event."""
    require(actor, "comment")
    text = (text or "").strip()
    if not text:
        raise CaseError("a comment needs text")
    if len(text) > MAX_COMMENT:
        raise CaseError(f"a comment has at most {MAX_COMMENT} characters")

    def tx(t: neo4j.ManagedTransaction) -> dict[str, Any]:
        _lock(t, [ring_id])
        event = audit.append(t, "case.comment", actor.name, actor.channel, role=actor.role, ring=ring_id, text=text)
        t.run(LINK, id=event["id"], ring=ring_id).consume()
        return event

    with session(driver, write=True) as s:
        return s.execute_write(tx)


def comments(driver: neo4j.Driver, ring_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """The ring's comments, newest first."""
    with session(driver) as s:
        return [r.data() for r in s.run(COMMENTS, ring=ring_id, limit=int(limit))]


def case_queue(
    driver: neo4j.Driver,
    statuses: list[str],
    assignee: str | None = None,
    unassigned: bool = False,
    state: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Rings of `statuses` as cases (assignee, state, comment count), filtered, best score first."""
    with session(driver) as s:
        return [
            r.data()
            for r in s.run(
                QUEUE, statuses=list(statuses), assignee=assignee, unassigned=unassigned, state=state, limit=int(limit)
            )
        ]
