"""The investigator's Cypher, one statement per purpose (text only; the functions that run them are beside it).

Values typed by an analyst only ever reach these statements as parameters; the few built
per node kind (EXPAND, DEGREE, ENTITY, RINGS_TEMPLATES) splice labels and key names from
the fixed `KINDS` table, never user input. Every statement has a LIMIT (or returns one row
per ring, bounded by the caller's LIMIT), so a 5,000-member ring or an exit address shared
by thousands stays responsive.

Used by: queue.py (QUEUE*, STATUS_COUNTS, LAST_RUN, CAPABILITIES), ring.py (RING,
MEMBERS_*, TIMELINE, SIGNUPS, POPULATION), subgraph.py (RING_GRAPH, BOUND_ENTITIES,
ACCOUNT_RINGS, EXPAND, DEGREE), search.py (SEARCH, ENTITY, RINGS_TEMPLATES).
"""

from __future__ import annotations

from graph.vocabulary import FEATURES, KINDS

KIND_OF = "CASE " + " ".join(f"WHEN m:{label} THEN '{kind}'" for kind, (label, _) in KINDS.items()) + " END"
KEY_OF = "CASE " + " ".join(f"WHEN m:{label} THEN toString(m.{key})" for label, key in KINDS.values()) + " END"
ANY_KIND = " OR ".join(f"m:{label}" for label, _ in KINDS.values())

# --- the queue ----------------------------------------------------------------------------------------------------

QUEUE_FILTER = """
MATCH (r:Ring)
WHERE r.status IN $statuses
  AND r.score >= $min_score
  AND r.size >= $min_size AND ($max_size IS NULL OR r.size <= $max_size)
  AND ($capability IS NULL OR $capability IN r.capabilities)
  AND (NOT $changed_only OR r.previous_size IS NULL OR r.size <> r.previous_size OR r.new_members > 0)
  AND ($assignee IS NULL OR r.assignee = $assignee)
  AND (NOT $unassigned OR r.assignee IS NULL)
  AND ($case_state IS NULL OR coalesce(r.case_state, 'open') = $case_state)
"""

QUEUE = (
    QUEUE_FILTER
    + """
WITH r ORDER BY r.score DESC, r.id SKIP $skip LIMIT $limit
OPTIONAL CALL (r) {
  MATCH (d:Decision)-[:ON]->(r)
  RETURN d ORDER BY d.seq DESC LIMIT 1
}
RETURN r.id AS id, r.status AS status, r.score AS score, r.size AS size, r.previous_size AS previous_size,
       coalesce(r.new_members, 0) AS new_members, r.first_detected AS first_detected,
       r.last_detected AS last_detected, r.reason AS reason, r.capability_mix AS capability_mix,
       d.actor AS decided_by, d.at AS decided_at, coalesce(r.needs_review, false) AS needs_review,
       r.pending AS pending, coalesce(r.awaiting, 0) AS awaiting,
       r.assignee AS assignee, coalesce(r.case_state, 'open') AS case_state
"""
)

QUEUE_COUNT = (
    QUEUE_FILTER
    + """
RETURN count(r) AS rings, sum(r.size) AS accounts,
       count(CASE WHEN r.previous_size IS NULL AND r.first_detected = r.last_detected THEN 1 END) AS new_rings,
       count(CASE WHEN r.size > r.previous_size OR r.new_members > 0 THEN 1 END) AS grown_rings
"""
)

STATUS_COUNTS = """
MATCH (r:Ring)
RETURN r.status AS status, count(*) AS rings, sum(r.size) AS accounts
ORDER BY rings DESC
LIMIT 20
"""

LAST_RUN = """
MATCH (run:DetectionRun)
RETURN run.id AS id, run.at AS at, run.backend AS backend, run.rings AS rings, run.flagged AS flagged,
       run.threshold AS threshold
ORDER BY run.at DESC
LIMIT 1
"""

# --- one ring ---------------------------------------------------------------------------------------------------

RING = """
MATCH (r:Ring {id: $ring})
RETURN properties(r) AS ring
LIMIT 1
"""

RING_GRAPH = """
MATCH (r:Ring {id: $ring})<-[mo:MEMBER_OF]-(a:Account)
WITH a, mo ORDER BY mo.strength DESC, a.id LIMIT $max_members
OPTIONAL CALL (a) {
  MATCH (a)-[:PAID_WITH]->(x:PaymentMethod) WHERE x.fingerprint IN $payments
  RETURN 'payment' AS kind, x.fingerprint AS key, null AS requests
  UNION ALL
  MATCH (a)-[e:USED_IP]->(x:IP) WHERE x.address IN $ips
  RETURN 'ip' AS kind, x.address AS key, e.requests AS requests
  UNION ALL
  MATCH (a)-[e:USED_TEMPLATE]->(x:PromptTemplate) WHERE x.hash IN $templates
  RETURN 'template' AS kind, x.hash AS key, e.requests AS requests
}
RETURN a.id AS account, coalesce(mo.is_new, false) AS is_new, mo.status AS status, mo.evidence AS evidence,
       toString(a.created_at) AS created_at, kind, key, requests
LIMIT $max_rows
"""

BOUND_ENTITIES = """
UNWIND $entities AS x
CALL (x) {
  MATCH (n:PaymentMethod {fingerprint: x.key}) WHERE x.kind = 'payment'
  RETURN n, 'PAID_WITH' AS rel
  UNION
  MATCH (n:IP {address: x.key}) WHERE x.kind = 'ip'
  RETURN n, 'USED_IP' AS rel
  UNION
  MATCH (n:PromptTemplate {hash: x.key}) WHERE x.kind = 'template'
  RETURN n, 'USED_TEMPLATE' AS rel
}
RETURN x.kind AS kind, x.key AS key, rel,
       n.method_type AS method_type, n.bin AS bin, n.ip_type AS ip_type, n.as_org AS as_org,
       n.capability AS capability,
       COUNT { (n)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-(:Account) } AS users,
       COLLECT { MATCH (n)-[:EXIT_OF]->(p:Proxy) RETURN p.name LIMIT 1 } AS proxy,
       COLLECT {
         MATCH (n)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-(b:Account)
         WHERE NOT EXISTS { (b)-[:MEMBER_OF]->(:Ring {id: $ring}) }
         RETURN b.id LIMIT $bystanders
       } AS bystanders
LIMIT 200
"""

ACCOUNT_RINGS = """
UNWIND $accounts AS id
MATCH (a:Account {id: id})
WITH a, COLLECT { MATCH (a)-[:MEMBER_OF]->(x:Ring) WHERE x.id <> $ring RETURN x.id LIMIT 3 } AS rings
WHERE size(rings) > 0
RETURN a.id AS account, rings
LIMIT 1000
"""

MEMBERS_PAGE = """
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account)
WHERE ($q IS NULL OR a.id CONTAINS $q)
  AND ($only_new = false OR m.is_new)
WITH a, m ORDER BY m.strength DESC, a.id SKIP $skip LIMIT $limit
RETURN a.id AS account, coalesce(m.status, '') AS member_status, coalesce(m.is_new, false) AS new,
       m.evidence AS evidence, m.strength AS strength, m.private_share AS private_share,
       toString(a.created_at) AS created_at, a.country AS country, a.email_domain AS email_domain, a.plan AS plan,
       toString(m.joined_at) AS joined_at
"""

MEMBERS_COUNT = """
MATCH (r:Ring {id: $ring})<-[m:MEMBER_OF]-(a:Account)
WHERE ($q IS NULL OR a.id CONTAINS $q)
  AND ($only_new = false OR m.is_new)
RETURN count(*) AS members
"""

TIMELINE = """
MATCH (r:Ring {id: $ring})<-[:MEMBER_OF]-(a:Account)
WITH a LIMIT $limit
CALL (a) {
  OPTIONAL MATCH (a)-[e:USED_TEMPLATE]->()
  RETURN min(e.first_seen).epochSeconds AS t_first, max(e.last_seen).epochSeconds AS t_last,
         sum(e.requests) AS t_requests
}
CALL (a) {
  OPTIONAL MATCH (a)-[e:USED_IP]->()
  RETURN min(e.first_seen).epochSeconds AS i_first, max(e.last_seen).epochSeconds AS i_last,
         sum(e.requests) AS i_requests
}
RETURN a.id AS account, a.created_at.epochSeconds AS created,
       coalesce(t_first, i_first) AS first_seen, coalesce(t_last, i_last) AS last_seen,
       coalesce(t_requests, 0) AS requests
"""

SIGNUPS = """
MATCH (r:Ring {id: $ring})<-[:MEMBER_OF]-(a:Account)
WITH a.created_at.epochSeconds / 86400 AS day, count(*) AS signups
RETURN day, signups
ORDER BY day
LIMIT 5000
"""

CAPABILITIES = """
MATCH (r:Ring)
UNWIND r.capabilities AS capability
RETURN capability, count(*) AS rings ORDER BY rings DESC, capability
"""

# Every ring's features, one record of rows (a record per ring was most of the time: 1 s for 21,582 rings).
POPULATION = f"""
MATCH (r:Ring)
WITH r LIMIT $limit
RETURN collect([r.id, r.status, r.score, r.size, {", ".join(f"r.{name}" for name in FEATURES)}]) AS rows
"""

# --- neighbours of one node (one statement per kind, for its index lookup) -------------------------------------

EXPAND_TEMPLATE = """
MATCH (n:{label} {{{key}: $key}})
CALL (n) {{
  MATCH (n)-[rel]-(m)
  WHERE ({any_kind}) AND NOT (m:Ring AND m.id = $ring)
  WITH m, rel,
       CASE WHEN m:Account AND EXISTS {{ (m)-[:MEMBER_OF]->(:Ring {{id: $ring}}) }} THEN 0
            WHEN m:Account AND EXISTS {{ (m)-[:MEMBER_OF]->(:Ring) }} THEN 1 ELSE 2 END AS rank
  ORDER BY rank, coalesce(rel.requests, 0) DESC
  LIMIT $limit
  RETURN m, rel, rank
}}
RETURN {kind_of} AS kind, {key_of} AS key, type(rel) AS rel, startNode(rel) = n AS outgoing,
       rel.requests AS requests, rank = 0 AS in_ring,
       CASE WHEN m:Account THEN COLLECT {{ MATCH (m)-[:MEMBER_OF]->(x:Ring) RETURN x.id LIMIT 3 }} END AS rings,
       m.ip_type AS ip_type, m.method_type AS method_type, m.capability AS capability, m.as_org AS as_org,
       m.org AS org, m.status AS status, m.score AS score, toString(m.created_at) AS created_at
"""

DEGREE_TEMPLATE = """
MATCH (n:{label} {{{key}: $key}})
RETURN COUNT {{ MATCH (n)-[]-(m) WHERE ({any_kind}) AND NOT (m:Ring AND m.id = $ring) }} AS degree
"""

ENTITY_TEMPLATE = """
MATCH (n:{label} {{{key}: $key}})
RETURN properties(n) AS props, COUNT {{ (n)--() }} AS degree
LIMIT 1
"""

# rings an entity touches, through (at most $scan of) the accounts that use it
RINGS_THROUGH_ACCOUNTS = """
{match}
WITH DISTINCT a LIMIT $scan
MATCH (a)-[:MEMBER_OF]->(r:Ring)
RETURN r.id AS ring, r.status AS status, r.score AS score, r.size AS size, count(a) AS accounts, r.reason AS reason
ORDER BY accounts DESC, r.score DESC LIMIT $limit
"""
ACCOUNTS_OF = {
    "payment": "MATCH (:PaymentMethod {fingerprint: $key})<-[:PAID_WITH]-(a:Account)",
    "ip": "MATCH (:IP {address: $key})<-[:USED_IP]-(a:Account)",
    "template": "MATCH (:PromptTemplate {hash: $key})<-[:USED_TEMPLATE]-(a:Account)",
    "proxy": "MATCH (:Proxy {name: $key})<-[:EXIT_OF]-(:IP)<-[:USED_IP]-(a:Account)",
    "asn": "MATCH (:ASN {number: $key})<-[:IN_ASN]-(:IP)<-[:USED_IP]-(a:Account)",
}
RINGS_TEMPLATES = {
    "account": """
        MATCH (:Account {id: $key})-[:MEMBER_OF]->(r:Ring)
        RETURN r.id AS ring, r.status AS status, r.score AS score, r.size AS size, 1 AS accounts, r.reason AS reason
        ORDER BY r.score DESC LIMIT $limit
    """,
    **{kind: RINGS_THROUGH_ACCOUNTS.format(match=match) for kind, match in ACCOUNTS_OF.items()},
    "ring": """
        MATCH (r:Ring {id: $key})
        RETURN r.id AS ring, r.status AS status, r.score AS score, r.size AS size, r.size AS accounts,
               r.reason AS reason
        LIMIT $limit
    """,
}

SEARCH = """
CALL () {
  MATCH (n:Account {id: $term}) RETURN 'account' AS kind, n.id AS key, 0 AS exact
  UNION
  MATCH (n:IP {address: $ip}) RETURN 'ip' AS kind, n.address AS key, 0 AS exact
  UNION
  MATCH (n:PaymentMethod {fingerprint: $term}) RETURN 'payment' AS kind, n.fingerprint AS key, 0 AS exact
  UNION
  MATCH (n:PromptTemplate {hash: $lower}) RETURN 'template' AS kind, n.hash AS key, 0 AS exact
  UNION
  MATCH (n:Proxy {name: $term}) RETURN 'proxy' AS kind, n.name AS key, 0 AS exact
  UNION
  MATCH (n:Ring {id: $upper}) RETURN 'ring' AS kind, n.id AS key, 0 AS exact
  UNION
  MATCH (n:ASN {number: $asn}) RETURN 'asn' AS kind, toString(n.number) AS key, 0 AS exact
  UNION
  MATCH (n:Account) WHERE n.id STARTS WITH $term AND size($term) >= 4
  RETURN 'account' AS kind, n.id AS key, 1 AS exact LIMIT 10
  UNION
  MATCH (n:IP) WHERE n.address STARTS WITH $ip_prefix AND size($ip_prefix) >= 4
  RETURN 'ip' AS kind, n.address AS key, 1 AS exact LIMIT 10
  UNION
  MATCH (n:PaymentMethod) WHERE n.fingerprint STARTS WITH $term AND size($term) >= 6
  RETURN 'payment' AS kind, n.fingerprint AS key, 1 AS exact LIMIT 10
  UNION
  MATCH (n:PromptTemplate) WHERE n.hash STARTS WITH $lower AND size($lower) >= 6
  RETURN 'template' AS kind, n.hash AS key, 1 AS exact LIMIT 10
  UNION
  MATCH (n:Proxy) WHERE toLower(n.name) CONTAINS $lower AND size($lower) >= 2
  RETURN 'proxy' AS kind, n.name AS key, 1 AS exact LIMIT 10
}
RETURN kind, key, min(exact) = 0 AS exact
ORDER BY exact DESC, kind, key
LIMIT $limit
"""


def _statements(template: str) -> dict[str, str]:
    return {
        kind: template.format(label=label, key=key, any_kind=ANY_KIND, kind_of=KIND_OF, key_of=KEY_OF)
        for kind, (label, key) in KINDS.items()
    }


EXPAND = _statements(EXPAND_TEMPLATE)
DEGREE = _statements(DEGREE_TEMPLATE)
ENTITY = _statements(ENTITY_TEMPLATE)
