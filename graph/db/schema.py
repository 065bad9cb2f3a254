"""The graph model: the one place for labels, keys, constraints and indexes.

Raw facts (from the data contract, loaded by `ingest`):

    (:Account {id, created_at, country, email_domain, plan, delivery})
    (:PaymentMethod {fingerprint, method_type, bin, issuer_country})
    (:IP {address, asn, as_org, ip_type, proxy_provider})
    (:Proxy {name})                      a proxy or VPN service (ip_intel.proxy_provider)
    (:ASN {number, org})
    (:PromptTemplate {hash, capability})

    (:Account)-[:PAID_WITH {method_type, first_seen}]->(:PaymentMethod)
    (:Account)-[:USED_IP {requests, first_seen, last_seen}]->(:IP)
    (:Account)-[:USED_TEMPLATE {requests, first_seen, last_seen, capability}]->(:PromptTemplate)
    (:IP)-[:EXIT_OF]->(:Proxy)
    (:IP)-[:IN_ASN]->(:ASN)

Bookkeeping of loads: (:IngestFile {sha256, name, kind, rows, status, batch_size, partitions})
and (:IngestBatch {key: "sha256:chunk" or "sha256:chunk:part"}) — the batches of a file
already committed (see ingest.load).

Derived by detection (graph.detection.detect):

    (:Account {community})                the community the last run that covered it found (seeds Leiden)
    (:DetectionRun {id, at, kind: full|incremental, delivery, region, ...})
    (:Ring {id, score, status, size, reason, features..., first_detected, last_run})
    (:Account)-[:MEMBER_OF {evidence, is_new, joined_run, score}]->(:Ring)
    (:Decision {id, at, analyst, status, previous_status, reason, members})-[:ON]->(:Ring)
"""

from __future__ import annotations

import neo4j

from graph.vocabulary import KEYS

# (label, property) range indexes for the lookups the app and the query library make
INDEXES: list[tuple[str, str]] = [
    ("Account", "created_at"),
    ("Ring", "status"),
    ("Ring", "score"),
    ("IP", "ip_type"),
    ("PaymentMethod", "bin"),
    ("AuditEvent", "seq"),
    ("Decision", "undo_of"),
    ("Decision", "approval_of"),
    # what each delivery touched (ingest.writes), read by incremental detection
    ("Account", "delivery"),
    ("PaymentMethod", "delivery"),
    ("IP", "delivery"),
    ("PromptTemplate", "delivery"),
]
# (type, property) range indexes on relationships: the links a delivery wrote
REL_INDEXES: list[tuple[str, str]] = [
    ("PAID_WITH", "delivery"),
    ("USED_IP", "delivery"),
    ("USED_TEMPLATE", "delivery"),
]


def constraint_statements() -> list[str]:
    """CREATE CONSTRAINT / INDEX statements for every key and index of the model."""
    # Labels and property names are fixed identifiers from this module, never user input.
    out = [
        f"CREATE CONSTRAINT {label.lower()}_{key}_unique IF NOT EXISTS FOR (n:{label}) REQUIRE n.{key} IS UNIQUE"
        for label, key in KEYS.items()
    ]
    out += [
        f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})" for label, prop in INDEXES
    ]
    out += [
        f"CREATE INDEX {rel.lower()}_{prop} IF NOT EXISTS FOR ()-[e:{rel}]-() ON (e.{prop})"
        for rel, prop in REL_INDEXES
    ]
    return out


def ensure_schema(driver: neo4j.Driver) -> None:
    """Create every constraint and index if missing (idempotent), then wait for them."""
    from graph.db.connection import session

    with session(driver, write=True) as s:
        for statement in constraint_statements():
            s.run(statement).consume()
        s.run("CALL db.awaitIndexes(300)").consume()
