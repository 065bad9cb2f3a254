"""Every query the investigator app runs, in one place, each parameterised and bounded.

The app (app.py) and the latency benchmark (bench/app_latency.py) call the functions
here, so the benchmark times the app's own statements. Values typed by an analyst only
ever reach Cypher as parameters; the few statements built per node kind splice labels
and key names from the fixed `KINDS` table below, never user input. Every statement has a
LIMIT, so a 5,000-member ring or an exit address shared by thousands stays responsive.

Pieces:
  queue / queue_count / capabilities      the ring queue and its filters
  ring / ring_view                        one ring: properties, and all the ring page needs
  ring_graph / expand / entity_graph      the drawn subgraph (`Subgraph`, bounded by a node budget)
  members_page / members_rows / _count     members with their evidence, paged
  timeline / signups / timeline_series    sign-ups and activity over time
  population                              every ring's features and score (distributions)
  search / entity / rings_touching        find an account, IP, card, template, proxy or ring
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import neo4j
import pandas as pd

from graph.db.connection import session
from graph.review.decisions import history
from graph.vocabulary import FEATURES, KIND_NAMES, KINDS

QUERY_TIMEOUT_S = 20.0  # a runaway statement is cut, the app shows an error and stays up

MAX_NODES = 150  # drawn nodes at most
DEFAULT_MEMBERS_DRAWN = 60
EXPAND_LIMIT = 25  # neighbours added per expansion
BYSTANDERS_PER_ENTITY = 2
MAX_BYSTANDERS = 20
MEMBERS_PAGE_SIZE = 50
QUEUE_LIMIT = 100
TIMELINE_MEMBERS = 2000  # a larger ring's activity is drawn from this many of its members
POPULATION_LIMIT = 20_000


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
"""

QUEUE = QUEUE_FILTER + """
WITH r ORDER BY r.score DESC, r.id SKIP $skip LIMIT $limit
OPTIONAL CALL (r) {
  MATCH (d:Decision)-[:ON]->(r)
  RETURN d ORDER BY d.seq DESC LIMIT 1
}
RETURN r.id AS id, r.status AS status, r.score AS score, r.size AS size, r.previous_size AS previous_size,
       coalesce(r.new_members, 0) AS new_members, r.first_detected AS first_detected,
       r.last_detected AS last_detected, r.reason AS reason, r.capability_mix AS capability_mix,
       d.analyst AS decided_by, d.at AS decided_at
"""

QUEUE_COUNT = QUEUE_FILTER + """
RETURN count(r) AS rings, sum(r.size) AS accounts,
       count(CASE WHEN r.previous_size IS NULL AND r.first_detected = r.last_detected THEN 1 END) AS new_rings,
       count(CASE WHEN r.size > r.previous_size OR r.new_members > 0 THEN 1 END) AS grown_rings
"""

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

POPULATION = """
MATCH (r:Ring)
RETURN r.id AS id, r.status AS status, r.score AS score, r.size AS size,
       r.private_share AS private_share, r.eliciting_share AS eliciting_share, r.uniformity AS uniformity,
       r.masked_share AS masked_share, r.anonymous_payment AS anonymous_payment, r.signup_burst AS signup_burst,
       r.partner_flagged AS partner_flagged
LIMIT $limit
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


def q(driver: neo4j.Driver, text: str, **params: Any) -> list[dict[str, Any]]:
    """A read with the app's timeout (parameters only).

    An auto-commit read in a read session: unlike `connection.read` it is not retried for
    15 s when the database is gone, so the app shows its banner at once.
    """
    with session(driver) as s:
        return [r.data() for r in s.run(neo4j.Query(text, timeout=QUERY_TIMEOUT_S), params)]


def key_param(kind: str, key: str) -> Any:
    """The stored type of a node key (ASN numbers are integers)."""
    if kind == "asn":
        try:
            return int(str(key).upper().removeprefix("AS"))
        except ValueError:
            return -1
    return key


# --- queue ---------------------------------------------------------------------------------------------------------


@dataclass
class QueueFilter:
    statuses: tuple[str, ...] = ("suspected", "confirmed", "blocked", "dismissed")
    min_score: float = 0.0
    min_size: int = 0
    max_size: int | None = None
    capability: str | None = None
    changed_only: bool = False

    def params(self) -> dict[str, Any]:
        return {
            "statuses": list(self.statuses),
            "min_score": float(self.min_score),
            "min_size": int(self.min_size),
            "max_size": None if self.max_size is None else int(self.max_size),
            "capability": self.capability or None,
            "changed_only": bool(self.changed_only),
        }


def queue(driver: neo4j.Driver, flt: QueueFilter, skip: int = 0, limit: int = QUEUE_LIMIT) -> pd.DataFrame:
    """Rings by score, with age and growth; one row per ring."""
    rows = q(driver, QUEUE, skip=int(skip), limit=int(limit), **flt.params())
    frame = pd.DataFrame(rows, columns=[
        "id", "status", "score", "size", "previous_size", "new_members", "first_detected", "last_detected",
        "reason", "capability_mix", "decided_by", "decided_at",
    ])
    now = datetime.now(UTC)
    frame["growth"] = [
        None if pd.isna(p) else int(s) - int(p) for s, p in zip(frame["size"], frame["previous_size"], strict=True)
    ]
    frame["is_new"] = [
        pd.isna(p) and first == last
        for p, first, last in zip(frame["previous_size"], frame["first_detected"], frame["last_detected"], strict=True)
    ]
    frame["age"] = [age_text(now, t) for t in frame["first_detected"]]
    frame["top_capabilities"] = [top_capabilities(c) for c in frame["capability_mix"]]
    frame["decided"] = [
        "" if not by else f"{by}, {to_py(at):%Y-%m-%d %H:%M}" for by, at in zip(frame["decided_by"],
                                                                             frame["decided_at"], strict=True)
    ]
    return frame


def queue_count(driver: neo4j.Driver, flt: QueueFilter) -> dict[str, int]:
    rows = q(driver, QUEUE_COUNT, **flt.params())
    row = rows[0] if rows else {}
    return {k: int(row.get(k) or 0) for k in ("rings", "accounts", "new_rings", "grown_rings")}


def status_counts(driver: neo4j.Driver) -> pd.DataFrame:
    return pd.DataFrame(q(driver, STATUS_COUNTS), columns=["status", "rings", "accounts"])


def last_run(driver: neo4j.Driver) -> dict[str, Any] | None:
    rows = q(driver, LAST_RUN)
    return rows[0] if rows else None


def capabilities(driver: neo4j.Driver) -> list[str]:
    """The capabilities in any ring's traffic (the queue filter's choices), in the most rings first.

    One pass over the Ring label returning a row per capability (a handful), instead of every
    ring's mix to the client."""
    return [row["capability"] for row in q(driver, CAPABILITIES)]


# --- ring ----------------------------------------------------------------------------------------------------------


def ring(driver: neo4j.Driver, ring_id: str) -> dict[str, Any] | None:
    rows = q(driver, RING, ring=ring_id)
    if not rows:
        return None
    r = dict(rows[0]["ring"])
    r["bound_list"] = parse_json(r.get("bound"), [])
    r["capability_shares"] = parse_json(r.get("capability_mix"), {})  # r["capabilities"] is the stored list
    return r


def members_count(driver: neo4j.Driver, ring_id: str, search: str | None = None, only_new: bool = False) -> int:
    """How many members of the ring match the filter."""
    return int(q(driver, MEMBERS_COUNT, **_member_filter(ring_id, search, only_new))[0]["members"])


def members_rows(
    driver: neo4j.Driver, ring_id: str, page: int = 0, page_size: int = MEMBERS_PAGE_SIZE,
    search: str | None = None, only_new: bool = False,
) -> pd.DataFrame:
    """One page of matching members, strongest evidence first."""
    rows = q(driver, MEMBERS_PAGE, skip=max(0, int(page)) * int(page_size), limit=int(page_size),
             **_member_filter(ring_id, search, only_new))
    cols = ["account", "member_status", "new", "evidence", "strength", "private_share", "created_at", "country",
            "email_domain", "plan", "joined_at"]
    return pd.DataFrame(rows, columns=cols)


def members_page(
    driver: neo4j.Driver, ring_id: str, page: int = 0, page_size: int = MEMBERS_PAGE_SIZE,
    search: str | None = None, only_new: bool = False,
) -> tuple[pd.DataFrame, int]:
    """One page of members (strongest evidence first) and the number of matching members."""
    return (members_rows(driver, ring_id, page, page_size, search, only_new),
            members_count(driver, ring_id, search, only_new))


def _member_filter(ring_id: str, search: str | None, only_new: bool) -> dict[str, Any]:
    return {"ring": ring_id, "q": (search or "").strip() or None, "only_new": bool(only_new)}


def timeline(driver: neo4j.Driver, ring_id: str, limit: int = TIMELINE_MEMBERS) -> pd.DataFrame:
    """Per member (up to `limit`): created, first/last activity (epoch s) and requests."""
    rows = q(driver, TIMELINE, ring=ring_id, limit=int(limit))
    return pd.DataFrame(rows, columns=["account", "created", "first_seen", "last_seen", "requests"])


def signups(driver: neo4j.Driver, ring_id: str) -> pd.DataFrame:
    """Sign-ups per day (days since the epoch) over every member of the ring."""
    return pd.DataFrame(q(driver, SIGNUPS, ring=ring_id), columns=["day", "signups"])


def timeline_series(frame: pd.DataFrame, daily_signups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily series: sign-ups, accounts active, requests (spread evenly over each member's active span).

    Sign-ups come from `daily_signups` (every member) when given, else from the members in `frame`.
    """
    if frame.empty:
        return pd.DataFrame(columns=["day", "signups", "active_accounts", "requests"])
    day = 86_400
    created = (frame["created"].dropna() // day).astype("int64")
    if daily_signups is not None and len(daily_signups):
        created = daily_signups["day"].astype("int64").repeat(daily_signups["signups"].astype("int64"))
    first = frame["first_seen"].fillna(frame["created"]) // day
    last = frame["last_seen"].fillna(first * day) // day
    valid = first.notna() & last.notna()
    first, last = first[valid].astype("int64"), last[valid].astype("int64")
    requests = frame.loc[valid, "requests"].astype(float)
    lo = int(min(created.min() if len(created) else first.min(), first.min() if len(first) else created.min()))
    hi = int(max(created.max() if len(created) else last.max(), last.max() if len(last) else created.max()))
    hi = min(hi, lo + 3 * 365)  # bound the series
    n = hi - lo + 2
    active = [0.0] * n
    volume = [0.0] * n
    for f, t, req in zip(first, last, requests, strict=True):
        f, t = max(f, lo) - lo, min(max(t, f), hi) - lo
        span = t - f + 1
        active[f] += 1
        active[t + 1] -= 1
        volume[f] += req / span
        volume[t + 1] -= req / span
    signups = created.value_counts()
    days, acc_a, acc_v = [], 0.0, 0.0
    out = []
    for i in range(n - 1):
        acc_a += active[i]
        acc_v += volume[i]
        days.append(lo + i)
        out.append((int(signups.get(lo + i, 0)), round(acc_a), round(acc_v, 1)))
    result = pd.DataFrame(out, columns=["signups", "active_accounts", "requests"])
    result.insert(0, "day", pd.to_datetime(pd.Series(days) * day, unit="s", utc=True))
    return result


def population(driver: neo4j.Driver, limit: int = POPULATION_LIMIT) -> pd.DataFrame:
    rows = q(driver, POPULATION, limit=int(limit))
    return pd.DataFrame(rows, columns=["id", "status", "score", "size", *FEATURES])


def ring_view(
    driver: neo4j.Driver, ring_id: str, members_drawn: int = DEFAULT_MEMBERS_DRAWN, page: int = 0,
    page_size: int = MEMBERS_PAGE_SIZE,
) -> dict[str, Any] | None:
    """Everything the ring page shows (each piece timed, in `timings`); None if no such ring."""
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[name] = time.perf_counter() - t
        return out

    r = timed("ring", ring, driver, ring_id)
    if r is None:
        return None
    view = {
        "ring": r,
        "graph": timed("graph", ring_graph, driver, r, members_drawn),
        "members": timed("members", members_page, driver, ring_id, page, page_size),
        "timeline": timed("timeline", timeline, driver, ring_id),
        "signups": timed("signups", signups, driver, ring_id),
        "population": timed("population", population, driver),
        "history": timed("history", history, driver, ring_id),
    }
    view["timings"] = timings
    return view


# --- the drawn subgraph --------------------------------------------------------------------------------------------


def node_id(kind: str, key: Any) -> str:
    return f"{kind}:{key}"


def split_id(nid: str) -> tuple[str, str]:
    kind, _, key = nid.partition(":")
    return kind, key


@dataclass
class Node:
    id: str
    kind: str
    key: str
    role: str  # legend category: member, new member, other ring, bystander, or the entity kind
    info: dict[str, Any] = field(default_factory=dict)
    expanded: bool = False
    pinned: bool = False  # always labelled (bound entities, the searched entity, expanded nodes)


@dataclass
class Subgraph:
    """Nodes and edges to draw, bounded by `max_nodes`; `notes` say what was left out."""

    max_nodes: int = MAX_NODES
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ring_id: str | None = None

    def full(self) -> bool:
        return len(self.nodes) >= self.max_nodes

    def add_node(self, node: Node) -> bool:
        """Add (or keep) a node; False when the budget is spent and it is not already drawn."""
        if node.id in self.nodes:
            old = self.nodes[node.id]
            old.info.update({k: v for k, v in node.info.items() if v is not None})
            old.pinned = old.pinned or node.pinned
            return True
        if self.full():
            return False
        self.nodes[node.id] = node
        return True

    def add_edge(self, a: str, b: str, rel: str, requests: Any = None) -> None:
        if a in self.nodes and b in self.nodes:
            key = (a, b, rel) if a < b else (b, a, rel)
            self.edges.setdefault(key, {"requests": requests})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"id": n.id, "kind": n.kind, "key": n.key, "role": n.role, "expanded": n.expanded, **n.info}
             for n in self.nodes.values()]
        )


def account_role(in_ring: bool, is_new: bool = False, other_rings: list | None = None, ring_view: bool = True) -> str:
    """Legend category of an account: member of the ring on view, in another ring, or a bystander."""
    if in_ring:
        return "new member" if is_new else "member"
    if other_rings:
        return "in another ring" if ring_view else "in a ring"
    return "bystander" if ring_view else "account"


def ring_graph(
    driver: neo4j.Driver, r: dict[str, Any], members_drawn: int = DEFAULT_MEMBERS_DRAWN, max_nodes: int = MAX_NODES,
) -> Subgraph:
    """The ring as drawn first: its strongest members, the entities binding them (the Ring's
    `bound` list), the proxy services of bound addresses, and a few outside accounts that
    share the bound entities (bystanders)."""
    g = Subgraph(max_nodes=max_nodes, ring_id=r["id"])
    bound = r.get("bound_list") or []
    by_kind = {k: [b["key"] for b in bound if b.get("kind") == k] for k in ("payment", "ip", "template")}
    entities = q(
        driver, BOUND_ENTITIES, ring=r["id"], bystanders=BYSTANDERS_PER_ENTITY,
        entities=[{"kind": b["kind"], "key": b["key"]} for b in bound],
    )
    for e in entities:
        info = {k: e[k] for k in ("method_type", "bin", "ip_type", "as_org", "capability") if e.get(k)}
        member_count = next((b.get("members") for b in bound if b["key"] == e["key"]), None)
        info.update(users=e["users"], ring_members=member_count)
        g.add_node(Node(node_id(e["kind"], e["key"]), e["kind"], e["key"], KIND_NAMES[e["kind"]], info, pinned=True))
        for p in e["proxy"]:
            g.add_node(Node(node_id("proxy", p), "proxy", p, KIND_NAMES["proxy"], {}, pinned=True))
            g.add_edge(node_id(e["kind"], e["key"]), node_id("proxy", p), "EXIT_OF")
    members = max(0, min(int(members_drawn), max_nodes - len(g.nodes)))
    rows = q(
        driver, RING_GRAPH, ring=r["id"], max_members=members, max_rows=members * 40 + 100,
        payments=by_kind["payment"], ips=by_kind["ip"], templates=by_kind["template"],
    )
    rels = {"payment": "PAID_WITH", "ip": "USED_IP", "template": "USED_TEMPLATE"}
    for row in rows:
        aid = node_id("account", row["account"])
        g.add_node(Node(aid, "account", row["account"], account_role(True, row["is_new"]),
                        {"evidence": row["evidence"], "created_at": row["created_at"],
                         "member_status": row["status"]}))
        if row["kind"]:
            g.add_edge(aid, node_id(row["kind"], row["key"]), rels[row["kind"]], row["requests"])
    drawn_members = sum(1 for n in g.nodes.values() if n.kind == "account")
    size = int(r.get("size") or drawn_members)
    if size > drawn_members:
        g.notes.append(f"{drawn_members} of {size} members drawn (strongest evidence first)")
    # bystanders: outside accounts on the bound entities, a few per entity
    bystanders = 0
    outside = []
    for e in entities:
        for b in e["bystanders"]:
            if bystanders >= MAX_BYSTANDERS or g.full():
                break
            nid = node_id("account", b)
            if nid not in g.nodes:
                outside.append(b)
                bystanders += 1
                g.add_node(Node(nid, "account", b, "bystander", {}))
            g.add_edge(nid, node_id(e["kind"], e["key"]), rels[e["kind"]])
    _mark_other_rings(driver, g, outside, r["id"])
    shared = sum(max(0, int(e["users"]) - int(next((b.get("members") or 0 for b in bound if b["key"] == e["key"]), 0)))
                 for e in entities)
    if shared:
        g.notes.append(f"bound entities are also used by outside accounts ({shared} links); "
                       f"{bystanders} bystanders drawn")
    if len(bound) >= 30:
        g.notes.append("only the top 10 binding entities per kind are kept on the ring")
    return g


def _mark_other_rings(driver: neo4j.Driver, g: Subgraph, accounts: list[str], ring_id: str) -> None:
    if not accounts:
        return
    for row in q(driver, ACCOUNT_RINGS, accounts=accounts, ring=ring_id):
        n = g.nodes.get(node_id("account", row["account"]))
        if n is not None:
            n.role = "in another ring"
            n.info["rings"] = ", ".join(row["rings"])


def expand(
    driver: neo4j.Driver, g: Subgraph, nid: str, limit: int = EXPAND_LIMIT,
) -> dict[str, int]:
    """Add up to `limit` neighbours of node `nid` (fetched from the database), within the node budget.

    Returns {"added", "shown", "degree", "left_out"} and records a note when neighbours were left out.
    """
    kind, key = split_id(nid)
    if kind not in KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    ring_id = g.ring_id or ""
    params = {"key": key_param(kind, key), "ring": ring_id}
    room = max(0, g.max_nodes - len(g.nodes))
    rows = q(driver, EXPAND[kind], limit=int(limit), **params)
    degree = q(driver, DEGREE[kind], **params)
    degree = int(degree[0]["degree"]) if degree else 0
    if nid not in g.nodes:
        g.add_node(Node(nid, kind, key, KIND_NAMES.get(kind, kind), {}, pinned=True))
    node = g.nodes.get(nid)
    if node is not None:
        node.expanded = True
        node.pinned = True
    added = shown = 0
    for row in rows:
        mid = node_id(row["kind"], row["key"])
        if row["kind"] == "account":
            role = account_role(bool(row["in_ring"]), False, row["rings"], ring_view=g.ring_id is not None)
            info = {"created_at": row["created_at"], "rings": ", ".join(row["rings"] or [])}
        else:
            role = KIND_NAMES.get(row["kind"], row["kind"])
            info = {k: row[k] for k in ("ip_type", "method_type", "capability", "as_org", "org", "status", "score")
                    if row.get(k) is not None}
        existed = mid in g.nodes
        if g.add_node(Node(mid, row["kind"], row["key"], role, info)):
            shown += 1
            added += 0 if existed else 1
            g.add_edge(nid, mid, row["rel"], row["requests"])
    left_out = max(0, degree - shown)
    if left_out:
        why = "node budget" if shown < len(rows) or room == 0 else f"{limit} per expansion"
        g.notes.append(f"{short_label(kind, key)}: {shown} of {degree} neighbours drawn ({left_out} left out, {why})")
    return {"added": added, "shown": shown, "degree": degree, "left_out": left_out}


def entity_graph(driver: neo4j.Driver, kind: str, key: str, limit: int = EXPAND_LIMIT * 2) -> Subgraph:
    g = Subgraph()
    g.add_node(Node(node_id(kind, key), kind, key, KIND_NAMES.get(kind, kind), {}, pinned=True))
    expand(driver, g, node_id(kind, key), limit=limit)
    return g


# --- search --------------------------------------------------------------------------------------------------------


def search(driver: neo4j.Driver, text: str, limit: int = 30) -> pd.DataFrame:
    """Entities matching `text`: exact keys of every kind, then prefixes (accounts, IPs, cards, templates)
    and proxy names containing it."""
    from graph.vocabulary import canonical_ip

    text = (text or "").strip()
    if not text:
        return pd.DataFrame(columns=["kind", "key", "exact"])
    ip = canonical_ip(text) or text
    asn = key_param("asn", text) if text.upper().removeprefix("AS").isdigit() else -1
    rows = q(driver, SEARCH, term=text, ip=ip, ip_prefix=text.lower(), lower=text.lower(), upper=text.upper(),
             asn=asn, limit=int(limit))
    return pd.DataFrame(rows, columns=["kind", "key", "exact"])


def entity(driver: neo4j.Driver, kind: str, key: str) -> dict[str, Any] | None:
    if kind not in KINDS:
        return None
    rows = q(driver, ENTITY[kind], key=key_param(kind, key))
    return rows[0] if rows else None


def rings_touching(driver: neo4j.Driver, kind: str, key: str, limit: int = 50, scan: int = 20_000) -> pd.DataFrame:
    if kind not in RINGS_TEMPLATES:
        return pd.DataFrame(columns=["ring", "status", "score", "size", "accounts", "reason"])
    rows = q(driver, RINGS_TEMPLATES[kind], key=key_param(kind, key), limit=int(limit), scan=int(scan))
    return pd.DataFrame(rows, columns=["ring", "status", "score", "size", "accounts", "reason"])


# --- small helpers -------------------------------------------------------------------------------------------------


def parse_json(text: Any, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def top_capabilities(mix: Any, n: int = 3) -> str:
    shares = parse_json(mix, {})
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in list(shares.items())[:n] if v >= 0.01)


def to_py(value: Any) -> Any:
    """neo4j temporal -> Python datetime (others unchanged)."""
    return value.to_native() if hasattr(value, "to_native") else value


def age_text(now: datetime, then: Any) -> str:
    then = to_py(then)
    if then is None or pd.isna(then):
        return ""
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86_400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86_400)} d"


def short_label(kind: str, key: str, width: int = 14) -> str:
    """A label that fits on the drawing: hashes and fingerprints to 8 characters, long ids with an ellipsis."""
    key = str(key)
    if kind in ("template", "payment"):
        return key[:8] + "…" if len(key) > 9 else key
    if kind == "account":
        return key.removeprefix("acct_")[:8] + ("…" if len(key) > 13 else "")
    if kind == "ip" and len(key) > 18:  # IPv6
        return key[:14] + "…"
    if kind == "asn":
        return f"AS{key}"
    return key if len(key) <= width else key[: width - 1] + "…"
