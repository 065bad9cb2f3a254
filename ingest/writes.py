"""What a load writes: one Cypher statement per file kind, its parameters, and the records
that make a load exactly-once.

A batch travels as columns (`$col[i]` is row i's value) rather than a list of maps, and
each node a batch links to is looked up (or merged) once, in a subquery that collects them
into a list; each row names its nodes by position in those lists. Every value is a
parameter: nothing from a file is ever spliced into a statement.

Bookkeeping: (:IngestFile {sha256, status: loading|complete|failed, batch_size, partitions,
error, delivery}) per file, and (:IngestBatch {key: sha256:chunk[:part]}) per committed batch,
in the same transaction as the batch's rows.

What a delivery touched: each load that writes rows takes the next delivery number
(NEXT_DELIVERY, a counter in the graph) and stamps it as `delivery` on the accounts and the
PAID_WITH / USED_IP / USED_TEMPLATE links it writes, and on a payment method, address or
template whose attribute detection reads (method type, BIN, IP type, proxy provider,
capability) it changes. Incremental detection (graph.detection.incremental) starts from
what carries a number above the one its previous run saw. Not the time: the bulk path
(ingest.bulk_files) writes the same numbers, so both paths build the same graph.
"""

from __future__ import annotations

import neo4j
import pandas as pd

from ingest.contract import FILES

# Concurrent writers must not lock the same nodes, or they queue behind each other's locks
# (and can deadlock). Each chunk is split into parts by the node its rows link to (or the
# account they create), and each part has one writer, which writes that part of every chunk
# in file order (ingest.load._Writer): concurrent transactions hold different parts, so they
# never share that node, and a part's rows are applied in file order, which "the last
# non-empty value wins" needs. ip_intel links
# every chunk to the same few ASN and Proxy nodes, so it keeps one part and one writer.
PARTITION_KEY: dict[str, str] = {
    "accounts": "account_id",
    "payment_methods": "payment_fingerprint",
    "ip_sightings": "ip",
    "prompt_templates": "template_hash",
}

# One statement per file kind; every value is a parameter.
#
# A batch travels as columns (`$col[i]` is row i's value) rather than a list of maps: less
# to pack and unpack on both sides. The nodes a batch links to are looked up (or merged)
# once each, in a subquery that collects them into a list, and each row names its nodes by
# position in those lists ($a[i], $t[i]); a 10,000-row batch of prompt_templates names
# about 1,500 accounts and 3,000 templates, so this replaces 20,000 index seeks with 4,500.
# Measured on 300,000 template rows: 43 -> 30 µs of server CPU per row (see README).
#
# The subqueries return one row even for an empty list, so an empty lookup list never
# swallows the batch. Account lookups use OPTIONAL MATCH and collect `[a]` so a missing
# account (validation checks, but another writer could delete one) keeps every position
# in place and only drops its own rows.
ACCOUNTS_BY_POSITION = """
CALL { UNWIND $accounts AS id OPTIONAL MATCH (a:Account {id: id}) RETURN collect([a]) AS accounts }
"""
WRITE: dict[str, str] = {
    "accounts": """
        UNWIND range(0, size($account_id) - 1) AS i
        MERGE (a:Account {id: $account_id[i]})
        SET a.delivery = $delivery,
            a.created_at = datetime({epochMillis: $created_at[i]}),
            a.country = coalesce($country[i], a.country),
            a.email_domain = coalesce($email_domain[i], a.email_domain),
            a.plan = coalesce($plan[i], a.plan)
    """,
    "ip_intel": """
        CALL {
            UNWIND range(0, size($asns) - 1) AS j
            MERGE (n:ASN {number: $asns[j]})
            SET n.org = coalesce($asn_orgs[j], n.org)
            RETURN collect(n) AS asns
        }
        CALL { UNWIND $proxies AS name MERGE (p:Proxy {name: name}) RETURN collect(p) AS proxies }
        UNWIND range(0, size($ip) - 1) AS i
        MERGE (ip:IP {address: $ip[i]})
        SET ip.delivery = CASE WHEN ($ip_type[i] IS NOT NULL AND $ip_type[i] <> coalesce(ip.ip_type, ''))
                                 OR ($proxy_provider[i] IS NOT NULL
                                     AND $proxy_provider[i] <> coalesce(ip.proxy_provider, ''))
                               THEN $delivery ELSE ip.delivery END,
            ip.asn = coalesce($asn[i], ip.asn),
            ip.as_org = coalesce($as_org[i], ip.as_org),
            ip.ip_type = coalesce($ip_type[i], ip.ip_type),
            ip.proxy_provider = coalesce($proxy_provider[i], ip.proxy_provider)
        FOREACH (n IN CASE WHEN $asn_at[i] IS NULL THEN [] ELSE [asns[$asn_at[i]]] END |
            MERGE (ip)-[:IN_ASN]->(n))
        FOREACH (p IN CASE WHEN $proxy_at[i] IS NULL THEN [] ELSE [proxies[$proxy_at[i]]] END |
            MERGE (ip)-[:EXIT_OF]->(p))
    """,
    "payment_methods": ACCOUNTS_BY_POSITION
    + """
        CALL {
            UNWIND range(0, size($fingerprints) - 1) AS j
            MERGE (p:PaymentMethod {fingerprint: $fingerprints[j]})
            SET p.delivery = CASE WHEN ($pm_method_type[j] IS NOT NULL
                                        AND $pm_method_type[j] <> coalesce(p.method_type, ''))
                                    OR ($pm_bin[j] IS NOT NULL AND $pm_bin[j] <> coalesce(p.bin, ''))
                                  THEN $delivery ELSE p.delivery END,
                p.method_type = coalesce($pm_method_type[j], p.method_type),
                p.bin = coalesce($pm_bin[j], p.bin),
                p.issuer_country = coalesce($pm_issuer_country[j], p.issuer_country)
            RETURN collect(p) AS methods
        }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, methods[$t[i]] AS p, i,
             CASE WHEN $first_seen[i] IS NULL THEN null ELSE datetime({epochMillis: $first_seen[i]}) END AS seen
        WHERE a IS NOT NULL
        MERGE (a)-[e:PAID_WITH]->(p)
        ON CREATE SET e += {method_type: $method_type[i], first_seen: seen}
        ON MATCH SET e.method_type = coalesce($method_type[i], e.method_type),
            e.first_seen = CASE WHEN e.first_seen IS NULL OR seen < e.first_seen
                                THEN coalesce(seen, e.first_seen) ELSE e.first_seen END
        SET e.delivery = $delivery
    """,
    "ip_sightings": ACCOUNTS_BY_POSITION
    + """
        CALL { UNWIND $ips AS address MERGE (ip:IP {address: address}) RETURN collect(ip) AS ips }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, ips[$t[i]] AS ip, i,
             datetime({epochMillis: $first_seen[i]}) AS first, datetime({epochMillis: $last_seen[i]}) AS last
        WHERE a IS NOT NULL
        MERGE (a)-[e:USED_IP]->(ip)
        ON CREATE SET e += {requests: $requests[i], first_seen: first, last_seen: last}
        ON MATCH SET e.requests = e.requests + $requests[i],
            e.first_seen = CASE WHEN first < e.first_seen THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN last > e.last_seen THEN last ELSE e.last_seen END
        SET e.delivery = $delivery
    """,
    "prompt_templates": ACCOUNTS_BY_POSITION
    + """
        CALL {
            UNWIND range(0, size($templates) - 1) AS j
            MERGE (t:PromptTemplate {hash: $templates[j]})
            // the newest non-empty capability wins
            SET t.delivery = CASE WHEN $template_capability[j] IS NOT NULL
                                       AND $template_capability[j] <> coalesce(t.capability, '')
                                  THEN $delivery ELSE t.delivery END,
                t.capability = coalesce($template_capability[j], t.capability)
            RETURN collect(t) AS templates
        }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, templates[$t[i]] AS t, i,
             datetime({epochMillis: $first_seen[i]}) AS first, datetime({epochMillis: $last_seen[i]}) AS last
        WHERE a IS NOT NULL
        MERGE (a)-[e:USED_TEMPLATE]->(t)
        ON CREATE SET e += {requests: $requests[i], first_seen: first, last_seen: last,
                            capability: $capability[i]}
        ON MATCH SET e.requests = e.requests + $requests[i],
            e.first_seen = CASE WHEN first < e.first_seen THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN last > e.last_seen THEN last ELSE e.last_seen END,
            e.capability = coalesce($capability[i], e.capability)
        SET e.delivery = $delivery
    """,
}


def _column(frame: pd.DataFrame, name: str) -> list:
    """A column as a list for Bolt, None where empty (never NaN)."""
    col = frame[name]
    return col.astype(object).where(col.notna(), None).tolist()


def _positions(keys: pd.Series) -> tuple[list, list[int]]:
    """(the distinct keys in first-seen order, each row's position among them)."""
    codes, distinct = pd.factorize(keys)
    return distinct.tolist(), codes.tolist()


def _last_known(frame: pd.DataFrame, key: str, columns: list[str], distinct: list) -> dict[str, list]:
    """Per distinct key, the last non-empty value of each column in the batch (row order)."""
    last = frame.groupby(key, sort=False)[columns].last().reindex(distinct)
    return {c: _column(last, c) for c in columns}


def batch_parameters(kind: str, frame: pd.DataFrame) -> dict:
    """The parameters of WRITE[kind] for a batch of validated rows."""
    if kind == "accounts":
        return {c: _column(frame, c) for c in FILES[kind].columns}
    if kind == "ip_intel":
        asns = frame[["asn", "as_org"]].dropna(subset=["asn"])
        asn_list = pd.unique(asns["asn"]).tolist()
        orgs = _last_known(asns, "asn", ["as_org"], asn_list)["as_org"]
        proxies = pd.unique(frame["proxy_provider"].dropna()).tolist()
        asn_at, proxy_at = ({v: i for i, v in enumerate(vals)} for vals in (asn_list, proxies))
        out = {c: _column(frame, c) for c in FILES[kind].columns}
        return out | {
            "asns": asn_list,
            "asn_orgs": orgs,
            "proxies": proxies,
            "asn_at": [asn_at.get(v) for v in out["asn"]],
            "proxy_at": [proxy_at.get(v) for v in out["proxy_provider"]],
        }
    accounts, a = _positions(frame["account_id"])
    out = {"accounts": accounts, "a": a}
    if kind == "payment_methods":
        methods, out["t"] = _positions(frame["payment_fingerprint"])
        pm = _last_known(frame, "payment_fingerprint", ["method_type", "bin", "issuer_country"], methods)
        out |= {"fingerprints": methods} | {f"pm_{c}": v for c, v in pm.items()}
        return out | {c: _column(frame, c) for c in ("method_type", "first_seen")}
    if kind == "ip_sightings":
        out["ips"], out["t"] = _positions(frame["ip"])
        return out | {c: _column(frame, c) for c in ("first_seen", "last_seen", "requests")}
    if kind == "prompt_templates":
        out["templates"], out["t"] = _positions(frame["template_hash"])
        caps = _last_known(frame, "template_hash", ["capability"], out["templates"])["capability"]
        out["template_capability"] = caps
        return out | {c: _column(frame, c) for c in ("first_seen", "last_seen", "requests", "capability")}
    raise ValueError(f"unknown file kind {kind!r}")


# The next delivery number: taken once per load, when its first file starts writing.
NEXT_DELIVERY = """
MERGE (c:Counter {name: 'delivery'})
SET c.value = coalesce(c.value, 0) + 1
RETURN c.value AS delivery
"""
FILE_STATE = """
MATCH (f:IngestFile {sha256: $sha})
RETURN f.status AS status, f.batch_size AS batch_size, coalesce(f.partitions, 1) AS partitions
"""
# A file refused earlier (FAIL_FILE: no batch settings yet) takes them now; one that failed
# part way keeps those of its first attempt, so a rerun resumes on the same batches.
BEGIN_FILE = """
MERGE (f:IngestFile {sha256: $sha})
ON CREATE SET f.batch_size = $batch_size, f.partitions = $partitions, f.started_at = datetime()
ON MATCH SET f.partitions = CASE WHEN f.batch_size IS NULL THEN $partitions ELSE f.partitions END,
             f.batch_size = coalesce(f.batch_size, $batch_size)
SET f.name = $name, f.kind = $kind, f.status = 'loading', f.delivery = $delivery
REMOVE f.error
RETURN f.batch_size AS batch_size, coalesce(f.partitions, 1) AS partitions
"""
FAIL_FILE = """
MERGE (f:IngestFile {sha256: $sha})
ON CREATE SET f.started_at = datetime()
SET f.status = 'failed', f.error = $error, f.failed_at = datetime(), f.name = $name, f.kind = $kind
"""
DONE_BATCHES = "MATCH (b:IngestBatch) WHERE b.key STARTS WITH $prefix RETURN b.key AS key"
CLAIM_BATCH = "MERGE (b:IngestBatch {key: $key}) ON CREATE SET b.rows = $rows, b.at = datetime()"
FINISH_FILE = """
MATCH (f:IngestFile {sha256: $sha})
SET f.status = 'complete', f.finished_at = datetime(), f.rows = $rows, f.loaded = $loaded,
    f.quarantined = $quarantined
"""
KNOWN_ACCOUNTS = "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN collect(a.id) AS ids"


def write_batch(tx: neo4j.ManagedTransaction, statement: str, parameters: dict, rows: int, key: str) -> None:
    # The batch's marker commits in the same transaction as its rows: all or nothing. When a
    # connection drops during COMMIT the driver retries without knowing whether it landed;
    # a retry that finds the marker already there writes nothing twice.
    if tx.run(CLAIM_BATCH, key=key, rows=rows).consume().counters.nodes_created == 0:
        return
    if rows:
        tx.run(statement, parameters).consume()
