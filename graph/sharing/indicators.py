"""Indicator sharing with partner labs: rings out as STIX 2.1 bundles, partners' bundles in.

Export (`ringwatch export --format stix`): one bundle for the rings of the requested
statuses (default: blocked). It holds

* an `identity`, the producer (`--producer`, default "ringwatch");
* per ring a `grouping` (context `suspicious-activity`) named after the ring, its
  description the ring's reason, `external_references` [{source_name: "ringwatch",
  external_id: ring id}], `labels` [status] and `x_ringwatch_status/score/size`;
* the entities that *bind* the ring, nothing else. An entity binds the ring when at least
  `min_members` (2) members use it and members are at least `min_share` (half) of all its
  users, the rule detection uses (graph.detection.scoring). A VPN exit shared with strangers does
  not bind a ring; a card four members share does. Per entity:
  - IP address: an `ipv4-addr` / `ipv6-addr` observable and an indicator with pattern
    `[ipv4-addr:value = '203.0.113.7']`; when the address is an exit of a proxy or VPN
    service the indicator says so in `x_ringwatch_proxy`;
  - payment method: an indicator `[x-ringwatch-payment:hmac_sha256 = '<hex>']`;
  - prompt template: an indicator `[x-ringwatch-template:hmac_sha256 = '<hex>']`;
  where <hex> = HMAC-SHA-256(share key, "payment:" + fingerprint) (resp. "template:" +
  template hash), hex. A partner holding the same key computes the same value from its
  own fingerprints and hashes and matches, without either side learning raw values the
  other does not already hold. Without a key these indicators are refused.
  Hashed indicators carry `x_ringwatch_key_id` (an HMAC of a fixed text under the key)
  so an importer can tell that a bundle was made with another key.
* proxy and VPN services the ring leans on (used by >= 2 members and >= half of them):
  an `infrastructure` of type `anonymization` named after the service, with
  `consists-of` relationships to the ring's bound exit addresses.

Every indicator carries `x_ringwatch_kind` (ip, payment, template) and
`x_ringwatch_rings`, the ring ids it binds. Ids are deterministic (UUIDv5 of the value,
or of the keyed hash, never of a raw fingerprint), so re-exports and re-imports line up.
Custom *properties* (x_ringwatch_*) are used; no custom *objects*: the bundle parses with
`stix2.parse(text, allow_custom=True)`.

Import (`ringwatch indicators import BUNDLE --source NAME --share-key K`): every
indicator whose pattern compares `ipv4-addr:value`, `ipv6-addr:value` (OR-ed comparisons
allowed) or `x-ringwatch-payment|template:hmac_sha256`, and every `anonymization`
infrastructure (matched to a local Proxy by name), is matched against the local graph:
IPs by canonical address, payment methods and templates by computing the HMAC of every
local fingerprint / template hash with the same key (streamed, in Python). A matched
entity gets `partner_flags` (the list of source names; detection reads
`partner_flags IS NOT NULL`) and a
`(:PartnerIndicator {key: source|indicator id, id, source, kind, name, imported_at})-[:FLAGS]->(entity)`.
Everything is MERGEd and set only when absent: importing the same bundle again changes
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import stix2

from graph.db.connection import read, session, write
from graph.db.schema import ensure_schema
from graph.vocabulary import canonical_ip

NAMESPACE = uuid.UUID("5d1c4a5e-8b7f-4f0e-9a43-2f6b0c2d7e11")  # ringwatch's UUIDv5 namespace
HASHED_KINDS = ("payment", "template")
KEY_ID_TEXT = b"ringwatch share key id v1"
WRITE_BATCH = 5_000
DECIDED_BAD = ("confirmed", "blocked")


class IndicatorError(ValueError):
    """A bundle, key or option the user must fix; the message is one line."""


# ---------------------------------------------------------------------------------------
# keyed hashes


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None:
        return None
    data = key.encode("utf-8") if isinstance(key, str) else key
    return data or None


def keyed_hash(key: str | bytes, kind: str, value: str) -> str:
    """HMAC-SHA-256(key, kind + ":" + value), hex: what a bundle says instead of `value`."""
    data = _key_bytes(key)
    if data is None:
        raise IndicatorError("an empty share key hides nothing; give a real one")
    return hmac.new(data, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def key_id(key: str | bytes) -> str:
    """A short public name of a key: equal keys, equal ids; reveals nothing of the key."""
    data = _key_bytes(key)
    if data is None:
        raise IndicatorError("an empty share key hides nothing; give a real one")
    return hmac.new(data, KEY_ID_TEXT, hashlib.sha256).hexdigest()[:16]


def _sid(type_: str, *parts: str) -> str:
    return f"{type_}--{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


# ---------------------------------------------------------------------------------------
# export

RING_ENTITIES = """
MATCH (r:Ring)
WHERE r.status IN $statuses AND ($min_score IS NULL OR r.score >= $min_score)
CALL (r) {
  MATCH (r)<-[m:MEMBER_OF]-(a:Account)
  WHERE coalesce(m.status, r.status) IN $statuses
  RETURN collect(a) AS members
}
WITH r, members
WHERE size(members) > 0
CALL (members) {
  UNWIND members AS a
  MATCH (a)-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
  WITH e, count(DISTINCT a) AS in_ring
  WHERE in_ring >= $min_members
  WITH e, in_ring, COUNT { (e)<-[:PAID_WITH|USED_IP|USED_TEMPLATE]-(:Account) } AS users
  WHERE in_ring >= $min_share * users
  RETURN collect({
    kind: CASE WHEN e:IP THEN 'ip' WHEN e:PaymentMethod THEN 'payment' ELSE 'template' END,
    value: coalesce(e.address, e.fingerprint, e.hash), proxy: e.proxy_provider, ip_type: e.ip_type,
    members: in_ring, users: users
  }) AS entities
}
CALL (members) {
  UNWIND members AS a
  MATCH (a)-[:USED_IP]->(:IP)-[:EXIT_OF]->(x:Proxy)
  WITH x, count(DISTINCT a) AS n
  WHERE n >= $min_members AND n >= $proxy_share * size(members)
  RETURN collect({name: x.name, members: n}) AS proxies
}
RETURN r.id AS ring_id, r.status AS status, r.score AS score, size(members) AS size, r.reason AS reason,
       r.first_detected AS first_detected, entities, proxies
ORDER BY ring_id
"""


def ring_entities(
    driver: neo4j.Driver,
    statuses: Iterable[str] = ("blocked",),
    min_score: float | None = None,
    min_members: int = 2,
    min_share: float = 0.5,
    proxy_share: float = 0.5,
) -> list[dict[str, Any]]:
    """Rings of `statuses` with the entities that bind them (see the module docstring)."""
    rows = read(driver, RING_ENTITIES, statuses=list(statuses), min_score=min_score,
                min_members=min_members, min_share=min_share, proxy_share=proxy_share)
    for row in rows:
        row["entities"].sort(key=lambda e: (e["kind"], e["value"]))
        row["proxies"].sort(key=lambda p: p["name"])
    return rows


@dataclass
class _Ind:
    id: str
    kind: str
    pattern: str
    name: str
    rings: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    score: float = 0.0
    valid_from: datetime | None = None
    proxy: str | None = None


def build_bundle(rings: list[dict[str, Any]], key: str | bytes | None, producer: str = "ringwatch") -> stix2.Bundle:
    """A STIX 2.1 bundle of `rings` (rows of `ring_entities`)."""
    hashed = any(e["kind"] in HASHED_KINDS for r in rings for e in r["entities"])
    if hashed and _key_bytes(key) is None:
        raise IndicatorError(
            "payment and template indicators are shared only as keyed hashes: give --share-key "
            "or set RINGWATCH_SHARE_KEY (the key agreed with the partner)"
        )
    now = datetime.now(UTC)
    identity = stix2.v21.Identity(
        id=_sid("identity", "producer", producer), name=producer, identity_class="organization",
        created=now, modified=now,
    )
    kid = key_id(key) if hashed else None
    indicators: dict[str, _Ind] = {}
    observables: dict[str, Any] = {}
    infrastructures: dict[str, Any] = {}
    relationships: dict[str, Any] = {}
    groupings = []
    for ring in rings:
        refs: list[str] = []
        first = ring["first_detected"].to_native() if ring.get("first_detected") is not None else now
        infra_of = {p["name"]: _sid("infrastructure", "proxy", p["name"]) for p in ring["proxies"]}
        for p in ring["proxies"]:
            sid = infra_of[p["name"]]
            if sid not in infrastructures:
                infrastructures[sid] = stix2.v21.Infrastructure(
                    id=sid, name=p["name"], infrastructure_types=["anonymization"],
                    description="proxy or VPN service whose exits fake-account rings use",
                    created_by_ref=identity.id, created=now, modified=now,
                )
            refs.append(sid)
        for e in ring["entities"]:
            kind, value = e["kind"], e["value"]
            if kind == "ip":
                sco_cls = stix2.v21.IPv6Address if ":" in value else stix2.v21.IPv4Address
                sco = sco_cls(value=value)
                observables.setdefault(sco.id, sco)
                refs.append(sco.id)
                ind_id = _sid("indicator", "ip", value)
                ind = indicators.setdefault(ind_id, _Ind(
                    ind_id, "ip", f"[{sco.type}:value = '{value}']", f"ringwatch: address {value}",
                    proxy=e.get("proxy")))
                if e.get("proxy") in infra_of:
                    rid = _sid("relationship", infra_of[e["proxy"]], sco.id)
                    if rid not in relationships:
                        relationships[rid] = stix2.v21.Relationship(
                            id=rid, source_ref=infra_of[e["proxy"]], relationship_type="consists-of",
                            target_ref=sco.id, created_by_ref=identity.id, created=now, modified=now,
                        )
                    refs.append(rid)
            else:
                digest = keyed_hash(key, kind, value)
                ind_id = _sid("indicator", kind, digest)
                what = "payment method" if kind == "payment" else "prompt template"
                ind = indicators.setdefault(ind_id, _Ind(
                    ind_id, kind, f"[x-ringwatch-{kind}:hmac_sha256 = '{digest}']",
                    f"ringwatch: {what} (keyed hash)"))
            ind.rings.append(ring["ring_id"])
            ind.statuses.add(ring["status"])
            ind.score = max(ind.score, float(ring["score"] or 0))
            ind.valid_from = min(ind.valid_from or first, first)
            refs.append(ind_id)
        if not refs:
            continue  # nothing binds this ring that could be shared
        groupings.append(stix2.v21.Grouping(
            id=_sid("grouping", producer, ring["ring_id"]),
            name=f"ringwatch ring {ring['ring_id']}",
            description=f"{ring['status']} fake-account ring, score {float(ring['score'] or 0):.2f}: {ring['reason']}",
            context="suspicious-activity",
            object_refs=list(dict.fromkeys(refs)),
            labels=[ring["status"]],
            external_references=[{"source_name": "ringwatch", "external_id": ring["ring_id"]}],
            created_by_ref=identity.id, created=now, modified=now,
            x_ringwatch_status=ring["status"], x_ringwatch_score=round(float(ring["score"] or 0), 4),
            x_ringwatch_size=int(ring["size"]),
            allow_custom=True,
        ))
    objects: list[Any] = [identity]
    for ind in indicators.values():
        custom: dict[str, Any] = {"x_ringwatch_kind": ind.kind, "x_ringwatch_rings": sorted(set(ind.rings))}
        if ind.proxy:
            custom["x_ringwatch_proxy"] = ind.proxy
        if ind.kind in HASHED_KINDS:
            custom["x_ringwatch_key_id"] = kid
        objects.append(stix2.v21.Indicator(
            id=ind.id, name=ind.name, pattern=ind.pattern, pattern_type="stix",
            indicator_types=["malicious-activity" if ind.statuses & set(DECIDED_BAD) else "anomalous-activity"],
            valid_from=ind.valid_from or now, confidence=int(round(100 * min(ind.score, 1.0))),
            created_by_ref=identity.id, created=now, modified=now, allow_custom=True, **custom,
        ))
    objects += list(observables.values()) + list(infrastructures.values()) + list(relationships.values()) + groupings
    return stix2.v21.Bundle(objects=objects, allow_custom=True)


def export_bundle(
    driver: neo4j.Driver,
    out: Path,
    statuses: Iterable[str] = ("blocked",),
    min_score: float | None = None,
    key: str | bytes | None = None,
    producer: str = "ringwatch",
) -> dict[str, int]:
    """Write the bundle of the rings of `statuses` to `out`; returns counts by object kind."""
    rings = ring_entities(driver, statuses, min_score)
    bundle = build_bundle(rings, key, producer)
    text = json.dumps(json.loads(bundle.serialize()), indent=2, ensure_ascii=False)  # serialize(pretty) is slow
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(out)
    counts: dict[str, int] = {"rings": sum(1 for o in bundle.objects if o["type"] == "grouping")}
    for o in bundle.objects:
        if o["type"] == "indicator":
            kind = o["x_ringwatch_kind"]
            counts[f"{kind} indicators"] = counts.get(f"{kind} indicators", 0) + 1
    counts["proxy services"] = sum(1 for o in bundle.objects if o["type"] == "infrastructure")
    counts["objects"] = len(bundle.objects)
    return counts


# ---------------------------------------------------------------------------------------
# import

_COMPARISON = re.compile(
    r"(?P<type>[a-z0-9-]+):(?P<prop>[a-z0-9_]+)\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'", re.IGNORECASE
)
_UNSUPPORTED_OPERATORS = re.compile(r"\b(AND|FOLLOWEDBY|WITHIN|REPEATS|START|STOP|NOT|LIKE|MATCHES)\b|!=|<|>")


@dataclass(frozen=True)
class Wanted:
    """One value a partner's indicator asks us to look for."""

    indicator: str  # the STIX id of the indicator (or infrastructure)
    kind: str  # ip, payment, template, proxy
    value: str  # canonical address, lower-case HMAC hex, or service name
    name: str = ""
    key_id: str | None = None


def read_bundle(path: Path) -> list[dict[str, Any]]:
    """The objects of a STIX 2.1 bundle file, validated by stix2 (custom properties allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise IndicatorError(f"{path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise IndicatorError(f"cannot read {path}: {e}") from e
    try:
        parsed = stix2.parse(text, allow_custom=True)
    except Exception as e:  # stix2 raises many kinds; all mean "not a valid bundle"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IndicatorError(f"{path} is not a valid STIX 2.1 bundle: {first}") from e
    if getattr(parsed, "type", None) != "bundle" and not (isinstance(parsed, dict) and parsed.get("type") == "bundle"):
        raise IndicatorError(f"{path} holds a STIX object, not a bundle")
    return json.loads(text).get("objects", [])


def wanted_values(objects: Iterable[dict[str, Any]]) -> tuple[list[Wanted], int]:
    """(values to look for, number of indicators whose pattern we cannot use)."""
    out: list[Wanted] = []
    unsupported = 0
    for obj in objects:
        if obj.get("type") == "infrastructure" and "anonymization" in (obj.get("infrastructure_types") or []):
            if obj.get("name"):
                out.append(Wanted(obj["id"], "proxy", obj["name"], obj["name"]))
            continue
        if obj.get("type") != "indicator":
            continue
        found = _pattern_values(obj.get("pattern", "")) if obj.get("pattern_type") == "stix" else []
        if not found:
            unsupported += 1
            continue
        for kind, value in found:
            out.append(Wanted(obj["id"], kind, value, obj.get("name", ""), obj.get("x_ringwatch_key_id")))
    return list(dict.fromkeys(out)), unsupported


def _pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(kind, value) of each equality comparison we can match, or [] for anything else."""
    inner = _COMPARISON.sub("", pattern)
    if _UNSUPPORTED_OPERATORS.search(inner):
        return []
    values = []
    for m in _COMPARISON.finditer(pattern):
        type_, prop, value = m["type"].lower(), m["prop"].lower(), m["value"].replace("\\'", "'")
        if type_ in ("ipv4-addr", "ipv6-addr") and prop == "value":
            if "/" in value:
                address, _, bits = value.partition("/")
                if bits not in ("32", "128"):
                    return []  # a network, not an address
                value = address
            canon = canonical_ip(value)
            if canon is None:
                return []
            values.append(("ip", canon))
        elif type_ in ("x-ringwatch-payment", "x-ringwatch-template") and prop == "hmac_sha256":
            if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
                return []
            values.append((type_.removeprefix("x-ringwatch-"), value.lower()))
        else:
            return []
    return values


_FLAG_TAIL = """
MERGE (pi:PartnerIndicator {key: row.key})
ON CREATE SET pi.id = row.id, pi.source = $source, pi.kind = row.kind, pi.name = row.name,
              pi.imported_at = datetime()
MERGE (pi)-[:FLAGS]->(e)
FOREACH (_ IN CASE WHEN $source IN coalesce(e.partner_flags, []) THEN [] ELSE [1] END |
  SET e.partner_flags = coalesce(e.partner_flags, []) + $source)
RETURN count(DISTINCT e) AS entities, collect(DISTINCT row.id) AS ids
"""
# One statement per label: labels are fixed text here, values are parameters.
FLAG: dict[str, str] = {
    "ip": "UNWIND $rows AS row MATCH (e:IP {address: row.value})" + _FLAG_TAIL,
    "payment": "UNWIND $rows AS row MATCH (e:PaymentMethod {fingerprint: row.value})" + _FLAG_TAIL,
    "template": "UNWIND $rows AS row MATCH (e:PromptTemplate {hash: row.value})" + _FLAG_TAIL,
    "proxy": "UNWIND $rows AS row MATCH (e:Proxy {name: row.value})" + _FLAG_TAIL,
}
LOCAL_VALUES = {
    "payment": "MATCH (p:PaymentMethod) RETURN p.fingerprint AS value",
    "template": "MATCH (t:PromptTemplate) RETURN t.hash AS value",
}


def local_matches(driver: neo4j.Driver, kind: str, key: str | bytes, digests: set[str]) -> Iterator[tuple[str, str]]:
    """(digest, local value) for every local payment fingerprint or template hash whose
    keyed hash is in `digests`. All local values are hashed in Python, streamed in batches
    from the server; nothing but the matches is kept."""
    if not digests:
        return
    data = _key_bytes(key)
    if data is None:
        raise IndicatorError("an empty share key hides nothing; give a real one")
    prefix = f"{kind}:".encode()
    with session(driver, fetch_size=20_000) as s:
        for record in s.run(LOCAL_VALUES[kind]):
            value = record["value"]
            digest = hmac.new(data, prefix + value.encode(), hashlib.sha256).hexdigest()
            if digest in digests:
                yield digest, value


def import_bundle(driver: neo4j.Driver, path: Path, source: str, key: str | bytes | None = None) -> dict[str, Any]:
    """Match a partner's bundle against the local graph and flag what matches.

    Returns per kind: indicators in the bundle, indicators matched, entities flagged; plus
    `unsupported` (indicators we cannot read), `changes` (what the graph gained: nodes,
    relationships and properties; 0 on a repeated import) and `key_mismatch` (hashed
    indicators made with another key, by their x_ringwatch_key_id).
    """
    source = (source or "").strip()
    if not source:
        raise IndicatorError("--source must name the partner the bundle comes from")
    wanted, unsupported = wanted_values(read_bundle(path))
    ensure_schema(driver)  # the PartnerIndicator key constraint, on a graph loaded before it existed
    hashed = [w for w in wanted if w.kind in HASHED_KINDS]
    if hashed and _key_bytes(key) is None:
        raise IndicatorError(
            f"the bundle has {len({w.indicator for w in hashed})} payment/template indicators (keyed hashes): "
            "give --share-key or set RINGWATCH_SHARE_KEY, the key agreed with the partner"
        )
    mine = key_id(key) if hashed else None
    summary: dict[str, Any] = {"unsupported": unsupported, "changes": 0,
                               "key_mismatch": sum(1 for w in hashed if w.key_id and w.key_id != mine)}
    for kind in ("ip", "payment", "template", "proxy"):
        items = [w for w in wanted if w.kind == kind]
        rows: list[dict[str, Any]] = []
        if kind in HASHED_KINDS:
            by_digest: dict[str, list[Wanted]] = {}
            for w in items:
                by_digest.setdefault(w.value, []).append(w)
            for digest, value in local_matches(driver, kind, key, set(by_digest)):
                rows += [_row(w, value, source) for w in by_digest[digest]]
        else:
            rows = [_row(w, w.value, source) for w in items]
        matched_ids: set[str] = set()
        entities = 0
        for i in range(0, len(rows), WRITE_BATCH):
            batch = rows[i : i + WRITE_BATCH]
            with session(driver, write=True) as s:
                result = s.run(FLAG[kind], rows=batch, source=source)
                record = result.single()
                counters = result.consume().counters
            summary["changes"] += counters.nodes_created + counters.relationships_created + counters.properties_set
            if record:
                entities += record["entities"]
                matched_ids |= set(record["ids"])
        summary[kind] = {"indicators": len({w.indicator for w in items}), "matched": len(matched_ids),
                         "entities": entities}
    return summary


def _row(w: Wanted, local_value: str, source: str) -> dict[str, Any]:
    return {"key": f"{source}|{w.indicator}", "id": w.indicator, "kind": w.kind, "name": w.name, "value": local_value}


def flagged_entities(driver: neo4j.Driver, source: str | None = None) -> set[tuple[str, str]]:
    """(kind, local key) of every entity flagged by `source` (any source when None)."""
    rows = read(driver, """
        MATCH (pi:PartnerIndicator)-[:FLAGS]->(e)
        WHERE $source IS NULL OR pi.source = $source
        RETURN DISTINCT pi.kind AS kind, coalesce(e.address, e.fingerprint, e.hash, e.name) AS key
    """, source=source)
    return {(r["kind"], r["key"]) for r in rows}


def clear_flags(driver: neo4j.Driver, source: str) -> int:
    """Remove what `source`'s imports added; returns the number of indicators removed."""
    rows = write(driver, """
        MATCH (pi:PartnerIndicator {source: $source})
        OPTIONAL MATCH (pi)-[:FLAGS]->(e)
        WITH pi, collect(e) AS flagged
        FOREACH (e IN flagged |
          SET e.partner_flags = CASE WHEN size([s IN e.partner_flags WHERE s <> $source]) = 0 THEN null
                                     ELSE [s IN e.partner_flags WHERE s <> $source] END)
        DETACH DELETE pi
        RETURN count(*) AS removed
    """, source=source)
    return rows[0]["removed"] if rows else 0
