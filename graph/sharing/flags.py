"""Partner flags in the graph.

    (:PartnerIndicator {key: source|indicator id, id, source, kind, name, confidence, weight,
                        modified, imported_at})-[:FLAGS]->(entity)

An entity (IP, PaymentMethod, PromptTemplate, Proxy) flagged by at least one indicator
carries `partner_flags`, the sorted names of the sources flagging it, and
`partner_weight`, the highest `weight` (confidence / 100) among those indicators.
Detection reads them (graph.detection.evidence, graph.detection.scoring.partner_share).
Both are recomputed from the FLAGS relationships in the very statement that adds or
removes relationships, so they never drift from the indicators; a property is written
only when its value changes, so importing the same bundle twice changes nothing.

An indicator whose latest version no longer counts (revoked, expired, not yet valid) is
*withdrawn*: its FLAGS go, the node stays with `withdrawn` (the reason) and the version's
`modified`, so that importing an older version of it again flags nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import neo4j

from graph.db.connection import read, session

__all__ = [
    "WRITE_BATCH",
    "changes",
    "flag",
    "flagged_entities",
    "forget_source",
    "local_matches",
    "retract",
    "stored_versions",
    "withdraw",
]

WRITE_BATCH = 5_000

# Recompute partner_flags / partner_weight of the entities in `es` from their indicators.
_REFRESH = """
CALL (es) {
  UNWIND es AS e
  CALL (e) {
    OPTIONAL MATCH (pi:PartnerIndicator)-[:FLAGS]->(e)
    WITH pi ORDER BY pi.source
    RETURN collect(DISTINCT pi.source) AS sources, max(pi.weight) AS weight
  }
  WITH e, CASE WHEN size(sources) = 0 THEN null ELSE sources END AS flags, weight
  WHERE coalesce(e.partner_flags, []) <> coalesce(flags, [])
     OR coalesce(e.partner_weight, -1.0) <> coalesce(weight, -1.0)
  SET e.partner_flags = flags, e.partner_weight = weight
  RETURN count(*) AS updated
}
"""
_FLAG_TAIL = (
    """
MERGE (pi:PartnerIndicator {key: row.key})
ON CREATE SET pi += row.props, pi.imported_at = datetime()
MERGE (pi)-[:FLAGS]->(e)
WITH collect(DISTINCT e) AS es, collect(DISTINCT row.id) AS ids
"""
    + _REFRESH
    + """
RETURN size(es) AS entities, ids
"""
)
# One statement per label: labels are fixed text here, values are parameters.
FLAG: dict[str, str] = {
    "ip": "UNWIND $rows AS row MATCH (e:IP {address: row.value})" + _FLAG_TAIL,
    "payment": "UNWIND $rows AS row MATCH (e:PaymentMethod {fingerprint: row.value})" + _FLAG_TAIL,
    "template": "UNWIND $rows AS row MATCH (e:PromptTemplate {hash: row.value})" + _FLAG_TAIL,
    "proxy": "UNWIND $rows AS row MATCH (e:Proxy {name: row.value})" + _FLAG_TAIL,
}
RETRACT = (
    """
UNWIND $keys AS key
MATCH (pi:PartnerIndicator {key: key})
OPTIONAL MATCH (pi)-[:FLAGS]->(e)
WITH collect(DISTINCT pi) AS pis, collect(DISTINCT e) AS es
FOREACH (pi IN pis | DETACH DELETE pi)
WITH pis, es
"""
    + _REFRESH
    + """
RETURN size(pis) AS removed
"""
)
WITHDRAW = (
    """
UNWIND $rows AS row
MATCH (pi:PartnerIndicator {key: row.key})
OPTIONAL MATCH (pi)-[f:FLAGS]->(e)
WITH pi, row, collect(f) AS fs, collect(e) AS flagged
FOREACH (f IN fs | DELETE f)
SET pi.withdrawn = row.reason, pi.modified = row.modified
WITH collect(pi) AS pis, reduce(all = [], x IN collect(flagged) | all + x) AS es
"""
    + _REFRESH
    + """
RETURN size(pis) AS removed
"""
)
# Entities naming a source no indicator of which flags them (flags written before
# indicators were kept with their weight, or by hand): recomputed by `forget`.
STRAGGLERS = (
    """
MATCH (e:IP|PaymentMethod|PromptTemplate|Proxy|Account) WHERE $source IN e.partner_flags
WITH collect(e) AS es
"""
    + _REFRESH
    + """
RETURN size(es) AS entities
"""
)
LOCAL_VALUES = {
    "payment": "MATCH (p:PaymentMethod) RETURN p.fingerprint AS value",
    "template": "MATCH (t:PromptTemplate) RETURN t.hash AS value",
}


def changes(counters: Any) -> int:
    """What a statement changed: nodes and relationships made or removed, properties set."""
    return (
        counters.nodes_created
        + counters.nodes_deleted
        + counters.relationships_created
        + counters.relationships_deleted
        + counters.properties_set
    )


def flag(driver: neo4j.Driver, kind: str, rows: list[dict[str, Any]]) -> tuple[int, set[str], int]:
    """Flag the local entities `rows` name; returns (entities flagged, indicator ids matched, changes)."""
    entities, ids, changed = 0, set(), 0
    for i in range(0, len(rows), WRITE_BATCH):
        with session(driver, write=True) as s:
            result = s.run(FLAG[kind], rows=rows[i : i + WRITE_BATCH])
            record = result.single()
            changed += changes(result.consume().counters)
        if record:
            entities += record["entities"]
            ids |= set(record["ids"])
    return entities, ids, changed


def retract(driver: neo4j.Driver, keys: list[str]) -> tuple[int, int]:
    """Remove the indicators with these keys and what they flagged; returns (removed, changes)."""
    removed = changed = 0
    for i in range(0, len(keys), WRITE_BATCH):
        with session(driver, write=True) as s:
            result = s.run(RETRACT, keys=keys[i : i + WRITE_BATCH])
            record = result.single()
            changed += changes(result.consume().counters)
        removed += record["removed"] if record else 0
    return removed, changed


def withdraw(driver: neo4j.Driver, rows: list[dict[str, Any]]) -> int:
    """Withdraw indicators (rows of key, reason, modified): unflag what they flagged, keep
    the node as a marker of the version; returns the changes."""
    changed = 0
    for i in range(0, len(rows), WRITE_BATCH):
        with session(driver, write=True) as s:
            changed += changes(s.run(WITHDRAW, rows=rows[i : i + WRITE_BATCH]).consume().counters)
    return changed


def forget_source(driver: neo4j.Driver, source: str) -> tuple[int, int]:
    """Remove every indicator of `source` and its flags; returns (indicators removed, changes)."""
    keys = [
        r["key"]
        for r in read(driver, "MATCH (pi:PartnerIndicator {source: $source}) RETURN pi.key AS key", source=source)
    ]
    removed, changed = retract(driver, keys)
    with session(driver, write=True) as s:
        changed += changes(s.run(STRAGGLERS, source=source).consume().counters)
    return removed, changed


def stored_versions(driver: neo4j.Driver, source: str) -> dict[str, tuple[str | None, str | None]]:
    """Indicator id -> (`modified` of the version imported from `source`, None for imports
    that kept none; the reason it was withdrawn, None while it counts)."""
    rows = read(
        driver,
        "MATCH (pi:PartnerIndicator {source: $source}) "
        "RETURN pi.id AS id, pi.modified AS modified, pi.withdrawn AS withdrawn",
        source=source,
    )
    return {r["id"]: (r["modified"], r["withdrawn"]) for r in rows}


def local_matches(driver: neo4j.Driver, kind: str, key: bytes, digests: set[str]) -> Iterator[tuple[str, str]]:
    """(digest, local value) for every local payment fingerprint or template hash whose
    keyed hash is in `digests`. All local values are hashed in Python, streamed in batches
    from the server; nothing but the matches is kept."""
    if not digests:
        return
    prefix = f"{kind}:".encode()
    with session(driver, fetch_size=20_000) as s:
        for record in s.run(LOCAL_VALUES[kind]):
            value = record["value"]
            digest = hmac.new(key, prefix + value.encode(), hashlib.sha256).hexdigest()
            if digest in digests:
                yield digest, value


def flagged_entities(driver: neo4j.Driver, source: str | None = None) -> set[tuple[str, str]]:
    """(kind, local key) of every entity flagged by `source` (any source when None)."""
    rows = read(
        driver,
        """
        MATCH (pi:PartnerIndicator)-[:FLAGS]->(e)
        WHERE $source IS NULL OR pi.source = $source
        RETURN DISTINCT pi.kind AS kind, coalesce(e.address, e.fingerprint, e.hash, e.name) AS key
    """,
        source=source,
    )
    return {(r["kind"], r["key"]) for r in rows}
