"""The audit trail: one append-only, hash-chained sequence of events.

Every state change a person makes (a decision, an approval, an undo, an export, an
indicator import or forget, a change to the analysts) is one `(:AuditEvent)` node.
Decisions are audit events themselves (`:Decision:AuditEvent`), so the chain covers
exactly what the block list is built from.

Each event stores `seq` (1, 2, 3, ... with no gap), `prev` (the hash of event seq-1) and
`hash`, the SHA-256 of its canonical form: every stored property except `hash`, as JSON
with sorted keys, no whitespace, datetimes as UTC ISO-8601 with microseconds. One
`(:AuditHead)` node holds the last seq and hash; appending takes its write lock, so the
chain is one line even with many writers.

`verify` walks the chain and names the first broken link: an edited event (its content no
longer matches its hash), a deleted one (a gap in seq, or a head that points past the
last event), or reordered ones (an event whose `prev` is not its predecessor's hash).
Someone with the database's admin password could rewrite the whole chain consistently;
`export` writes it as JSON lines for a store outside the database (a SIEM, a WORM
bucket) and `verify(..., against=FILE)` compares the database with that copy, naming
the first event and field that differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import neo4j.time

from graph.db.connection import session

__all__ = [
    "AuditProblem",
    "append",
    "record",
    "canonical",
    "event_hash",
    "events",
    "export",
    "iso_text",
    "membership_problem",
    "verify",
    "verify_rows",
]

HEAD = "MERGE (h:AuditHead {name: 'audit'}) ON CREATE SET h.seq = 0, h.hash = '' RETURN elementId(h) AS eid"
# SET first: the head's write lock is held before its seq and hash are read.
LOCK_HEAD = """
MATCH (h:AuditHead) WHERE elementId(h) = $eid
SET h.seq = h.seq + 1
RETURN h.seq AS seq, h.hash AS prev
"""
MOVE_HEAD = "MATCH (h:AuditHead) WHERE elementId(h) = $eid SET h.hash = $hash"
CREATE_EVENT = "CREATE (e:AuditEvent) SET e = $props"
READ_HEAD = "OPTIONAL MATCH (h:AuditHead {name: 'audit'}) RETURN h.seq AS seq, h.hash AS hash"
EVENTS = """
MATCH (e:AuditEvent) WHERE e.seq > $after
RETURN properties(e) AS props ORDER BY e.seq LIMIT $limit
"""
PAGE = 5_000


def iso_text(value: datetime | neo4j.time.DateTime) -> str:
    """A stored time as UTC ISO-8601 text with microseconds, as the canonical form writes it."""
    return _plain(value)


def _plain(value: Any) -> Any:
    """A JSON-ready value: datetimes as UTC ISO text with microseconds, the rest as stored."""
    if isinstance(value, neo4j.time.DateTime):
        value = value.to_native()
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical(props: dict[str, Any]) -> str:
    """The canonical text of an event: stored properties but `hash`, sorted, compact JSON.

    Properties whose value is None are left out, as Neo4j does not store them.
    """
    body = {k: _plain(v) for k, v in props.items() if k != "hash" and v is not None}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(props: dict[str, Any]) -> str:
    """SHA-256 (hex) of the event's canonical text."""
    return hashlib.sha256(canonical(props).encode("utf-8")).hexdigest()


def append(tx: neo4j.ManagedTransaction, action: str, actor: str, channel: str, **fields: Any) -> dict[str, Any]:
    """Append one event in the caller's transaction; returns its stored properties.

    `fields` are the event's own facts (plain values or lists of them; dicts go as JSON
    text). Extra labels (e.g. Decision) are added by the caller on the returned id.
    """
    eid = tx.run(HEAD).single()["eid"]
    head = tx.run(LOCK_HEAD, eid=eid).single()
    props = {
        "id": fields.pop("id", None) or str(uuid.uuid4()),
        "seq": head["seq"],
        "prev": head["prev"],
        "at": datetime.now(UTC),
        "action": action,
        "actor": actor,
        "channel": channel,
        **{k: (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v) for k, v in fields.items()},
    }
    props = {k: v for k, v in props.items() if v is not None}
    props["hash"] = event_hash(props)
    tx.run(CREATE_EVENT, props=props).consume()
    tx.run(MOVE_HEAD, eid=eid, hash=props["hash"]).consume()
    return props


def record(driver: neo4j.Driver, action: str, actor: str, channel: str, **fields: Any) -> dict[str, Any]:
    """Append one event in a transaction of its own (for changes made elsewhere: exports, imports)."""
    with session(driver, write=True) as s:
        return s.execute_write(append, action, actor, channel, **fields)


def events(driver: neo4j.Driver, after: int = 0) -> Iterator[dict[str, Any]]:
    """Every event's stored properties in seq order, read in pages (bounded memory)."""
    while True:
        with session(driver) as s:
            page = [r["props"] for r in s.run(EVENTS, after=after, limit=PAGE)]
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["seq"]


@dataclass(frozen=True)
class AuditProblem:
    """The first broken link: of the chain (seq of the event), or of the block list (seq 0)."""

    seq: int
    message: str

    def __str__(self) -> str:
        return f"audit event {self.seq}: {self.message}" if self.seq else f"block list: {self.message}"


def _describe(props: dict[str, Any]) -> str:
    what = props.get("action", "event")
    ring = f" on {props['ring']}" if props.get("ring") else ""
    return f"{what}{ring} by {props.get('actor', '?')} at {_plain(props.get('at'))}"


def verify_rows(rows: Iterator[dict[str, Any]], head: dict[str, Any] | None) -> tuple[int, AuditProblem | None]:
    """Check a chain given as event properties in seq order; returns (events checked, first problem).

    Pure: `verify` feeds it from the database, tests feed it lists.
    """
    expected_seq, prev_hash, count = 1, "", 0
    for props in rows:
        seq = props.get("seq")
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                return count, AuditProblem(
                    expected_seq, f"missing: the chain jumps from {expected_seq - 1} to {seq} (an event was deleted)"
                )
            return count, AuditProblem(expected_seq, f"out of order: found seq {seq!r} where {expected_seq} belongs")
        if props.get("hash") != event_hash(props):
            return count, AuditProblem(seq, f"{_describe(props)}: its content does not match its hash (edited)")
        if props.get("prev") != prev_hash:
            return count, AuditProblem(
                seq,
                f"{_describe(props)}: does not follow event {seq - 1} (events reordered, or one before it replaced)",
            )
        prev_hash, expected_seq, count = props["hash"], expected_seq + 1, count + 1
    head_seq = (head or {}).get("seq") or 0
    head_hash = (head or {}).get("hash") or ""
    if head_seq != count or head_hash != prev_hash:
        return count, AuditProblem(
            count + 1,
            f"missing: the trail's head records {head_seq} events, {count} are present (the last ones were deleted)",
        )
    return count, None


def _against(rows: Iterator[dict[str, Any]], copy: Path) -> Iterator[dict[str, Any]]:
    """Yield `rows` unchanged, raising AuditMismatch at the first event that differs from the copy."""
    with copy.open(encoding="utf-8") as f:
        saved = (json.loads(line) for line in f if line.strip())
        for props in rows:
            want = next(saved, None)
            if want is None:
                yield props  # appended after the copy was made
                continue
            have = json.loads(canonical(props)) | {"hash": props.get("hash")}
            if have != want:
                fields = sorted(k for k in have.keys() | want.keys() if have.get(k) != want.get(k))
                raise AuditMismatch(
                    AuditProblem(
                        want.get("seq", props.get("seq")),
                        f"differs from the exported copy in {', '.join(fields)} "
                        f"(copy: {_describe(want)}; database: {_describe(props)})",
                    )
                )
            yield props
        rest = next(saved, None)
        if rest is not None:
            raise AuditMismatch(
                AuditProblem(rest.get("seq", 0), f"{_describe(rest)} is in the copy but not in the database (deleted)")
            )


class AuditMismatch(Exception):
    def __init__(self, problem: AuditProblem):
        super().__init__(str(problem))
        self.problem = problem


# Every membership that carries a status, grouped by the decision it names, with that decision.
STATUSES_BY_DECISION = """
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring) WHERE m.status IS NOT NULL
WITH m.decision AS decision, m.approval AS approval, r.id AS ring, m.status AS status, collect(a.id) AS accounts
OPTIONAL MATCH (d:Decision {id: decision})
OPTIONAL MATCH (ap:Decision {id: approval})
RETURN decision, ring, status, accounts, d.status AS decided_status, d.ring AS decided_ring, d.members AS members,
       coalesce(d.pending, false) AS pending, ap.approval_of AS approves, ap.actor AS approver, d.actor AS author
"""


def membership_problem(row: dict[str, Any]) -> AuditProblem | None:
    """Whether a group of memberships (one ring, one status, one decision) is what its decision says.

    The block list reads MEMBER_OF.status; this is how a status set behind ringwatch's back
    (a Cypher SET, a restored backup) shows: it names no decision, or one that did not
    cover those accounts, or gave another status, or a block that was never approved.
    """
    ring, status, accounts = row["ring"], row["status"], sorted(row["accounts"])
    shown = ", ".join(accounts[:3]) + (f" and {len(accounts) - 3} more" if len(accounts) > 3 else "")
    if row["decided_status"] is None:
        return AuditProblem(0, f"{shown} on {ring} are {status} by no recorded decision ({row['decision']!r})")
    if row["decided_status"] != status or row["decided_ring"] != ring:
        return AuditProblem(
            0,
            f"{shown} on {ring} are {status}, but decision {row['decision']} made them "
            f"{row['decided_status']} on {row['decided_ring']}",
        )
    outside = sorted(set(accounts) - set(row["members"] or []))
    if outside:
        return AuditProblem(
            0, f"{', '.join(outside[:3])} on {ring} are {status}, but decision {row['decision']} does not name them"
        )
    if row["pending"] and (row["approves"] != row["decision"] or row["approver"] == row["author"]):
        return AuditProblem(0, f"{shown} on {ring} are {status} by a block that no second person approved")
    return None


def verify(driver: neo4j.Driver, against: Path | None = None) -> tuple[int, AuditProblem | None]:
    """Check the whole chain in the database (and against an exported copy, if given), then
    that every status on the block list is what a decision in the chain says."""
    with session(driver) as s:
        head = s.run(READ_HEAD).single().data()
    rows = events(driver)
    try:
        count, problem = verify_rows(_against(rows, against) if against else rows, head)
    except AuditMismatch as e:
        return 0, e.problem
    if problem is not None:
        return count, problem
    with session(driver) as s:
        for row in s.run(STATUSES_BY_DECISION):
            problem = membership_problem(row.data())
            if problem is not None:
                return count, problem
    return count, None


def export(driver: neo4j.Driver, out: Path) -> int:
    """Write every event as one JSON line (canonical form plus its hash); returns the count.

    Written to OUT.part and renamed, so a reader never sees half a file.
    """
    part = out.with_name(out.name + ".part")
    n = 0
    with part.open("w", encoding="utf-8") as f:
        for props in events(driver):
            body = json.loads(canonical(props)) | {"hash": props["hash"]}
            f.write(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
            n += 1
    os.replace(part, out)
    return n
