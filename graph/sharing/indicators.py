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
  template hash), hex (graph.sharing.keys: the key comes from RINGWATCH_SHARE_KEY or a
  private key file, never the command line, and has at least 32 bytes). A partner holding
  the same key computes the same value from its own fingerprints and hashes and matches,
  without either side learning raw values the other does not already hold. Without a key
  these indicators are refused. Hashed indicators carry `x_ringwatch_key_id` (an HMAC of a
  fixed text under the key) so an importer can tell that a bundle was made with another key.
* proxy and VPN services the ring leans on (used by >= 2 members and >= half of them):
  an `infrastructure` of type `anonymization` named after the service, with
  `consists-of` relationships to the ring's bound exit addresses.

Every pattern is built from stix2's pattern objects, which escape values
(graph.sharing.patterns); an address that is not in canonical form is left out and
counted as rejected. Every indicator carries `x_ringwatch_kind` (ip, payment, template) and
`x_ringwatch_rings`, the ring ids it binds; `confidence` is the ring's score x 100. Ids are
deterministic (UUIDv5 of the value, or of the keyed hash, never of a raw fingerprint), so
re-exports and re-imports line up. Custom *properties* (x_ringwatch_*) are used; no custom
*objects*: the bundle parses with `stix2.parse(text, allow_custom=True)`.

Import (`ringwatch indicators import BUNDLE --source NAME`): the bundle is read within
size limits and reduced to the indicators in force (graph.sharing.bundles: latest version,
not revoked, within valid_from..valid_until; confidence kept). Each pattern is parsed by
the OASIS grammar and each value checked (graph.sharing.patterns). Addresses match by
canonical form, payment methods and templates by hashing every local fingerprint and
template hash with the same key (streamed, in Python), `anonymization` infrastructures by
service name. Each match becomes a
`(:PartnerIndicator {key: source|indicator id, ...})-[:FLAGS]->(entity)` and the entity's
`partner_flags` / `partner_weight` (graph.sharing.flags). A newer version of an indicator
replaces the one imported before; a revoked or expired one withdraws it. Importing the same
bundle again changes nothing. Imports, forgets and exports are audit events
(graph.review.audit: `indicators.import`, `indicators.forget`, `indicators.export`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import stix2

from graph.db.connection import read
from graph.db.schema import ensure_schema
from graph.review import audit
from graph.review.actors import Actor, require
from graph.sharing.bundles import SKIP_REASONS, Limits, Selection, Wanted, read_bundle, select
from graph.sharing.errors import IndicatorError
from graph.sharing.flags import (
    flag,
    flagged_entities,
    forget_source,
    local_matches,
    retract,
    stored_versions,
    withdraw,
)
from graph.sharing.keys import KEY_ENV, key_id, keyed_hash, share_key_bytes
from graph.sharing.patterns import Rejected, hash_pattern, ip_pattern, ip_type

__all__ = [
    "IndicatorError",
    "build_bundle",
    "clear_flags",
    "export_bundle",
    "flagged_entities",
    "import_bundle",
    "key_id",
    "keyed_hash",
    "ring_entities",
]

NAMESPACE = uuid.UUID("5d1c4a5e-8b7f-4f0e-9a43-2f6b0c2d7e11")  # ringwatch's UUIDv5 namespace
HASHED_KINDS = ("payment", "template")
KINDS = ("ip", "payment", "template", "proxy")
DECIDED_BAD = ("confirmed", "blocked")
NO_KEY = f"set {KEY_ENV} or give --share-key-file (the key agreed with the partner)"


# ---------------------------------------------------------------------------------------
# export


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
    rows = read(
        driver,
        RING_ENTITIES,
        statuses=list(statuses),
        min_score=min_score,
        min_members=min_members,
        min_share=min_share,
        proxy_share=proxy_share,
    )
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


@dataclass
class _Builder:
    """The objects of one bundle, collected ring by ring (ids deterministic, each object once)."""

    identity: Any
    key: bytes | None
    now: datetime
    indicators: dict[str, _Ind] = field(default_factory=dict)
    observables: dict[str, Any] = field(default_factory=dict)
    infrastructures: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, Any] = field(default_factory=dict)
    groupings: list[Any] = field(default_factory=list)
    rejected: int = 0

    def _made_by(self) -> dict[str, Any]:
        return {"created_by_ref": self.identity.id, "created": self.now, "modified": self.now}

    def _infrastructure(self, name: str) -> str:
        sid = _sid("infrastructure", "proxy", name)
        if sid not in self.infrastructures:
            self.infrastructures[sid] = stix2.v21.Infrastructure(
                id=sid,
                name=name,
                infrastructure_types=["anonymization"],
                description="proxy or VPN service whose exits fake-account rings use",
                **self._made_by(),
            )
        return sid

    def _ip(self, e: dict[str, Any], infra_of: dict[str, str]) -> tuple[str, list[str]]:
        """(indicator id, refs) of an address: its observable, its indicator, its `consists-of` link."""
        value = e["value"]
        pattern = ip_pattern(value)  # Rejected unless canonical
        sco_cls = stix2.v21.IPv6Address if ip_type(value) == "ipv6-addr" else stix2.v21.IPv4Address
        sco = self.observables.setdefault(sco_cls(value=value).id, sco_cls(value=value))
        ind_id = _sid("indicator", "ip", value)
        self.indicators.setdefault(
            ind_id, _Ind(ind_id, "ip", pattern, f"ringwatch: address {value}", proxy=e.get("proxy"))
        )
        refs = [sco.id, ind_id]
        if e.get("proxy") in infra_of:
            rid = _sid("relationship", infra_of[e["proxy"]], sco.id)
            self.relationships.setdefault(
                rid,
                stix2.v21.Relationship(
                    id=rid,
                    source_ref=infra_of[e["proxy"]],
                    relationship_type="consists-of",
                    target_ref=sco.id,
                    **self._made_by(),
                ),
            )
            refs.append(rid)
        return ind_id, refs

    def _hashed(self, e: dict[str, Any]) -> tuple[str, list[str]]:
        kind = e["kind"]
        digest = keyed_hash(self.key, kind, e["value"])
        ind_id = _sid("indicator", kind, digest)
        what = "payment method" if kind == "payment" else "prompt template"
        self.indicators.setdefault(
            ind_id, _Ind(ind_id, kind, hash_pattern(kind, digest), f"ringwatch: {what} (keyed hash)")
        )
        return ind_id, [ind_id]

    def ring(self, ring: dict[str, Any]) -> None:
        """Add one ring (a row of `ring_entities`): its services, entities and grouping."""
        first = ring["first_detected"].to_native() if ring.get("first_detected") is not None else self.now
        infra_of = {p["name"]: self._infrastructure(p["name"]) for p in ring["proxies"]}
        refs = list(infra_of.values())
        for e in ring["entities"]:
            try:
                ind_id, new = self._ip(e, infra_of) if e["kind"] == "ip" else self._hashed(e)
            except Rejected:
                self.rejected += 1
                continue
            refs += new
            ind = self.indicators[ind_id]
            ind.rings.append(ring["ring_id"])
            ind.statuses.add(ring["status"])
            ind.score = max(ind.score, float(ring["score"] or 0))
            ind.valid_from = min(ind.valid_from or first, first)
        if refs:  # else nothing binds this ring that could be shared
            self.groupings.append(_grouping(ring, refs, self.identity, self.now))

    def objects(self, kid: str | None) -> list[Any]:
        out: list[Any] = [self.identity]
        for ind in self.indicators.values():
            custom: dict[str, Any] = {"x_ringwatch_kind": ind.kind, "x_ringwatch_rings": sorted(set(ind.rings))}
            if ind.proxy:
                custom["x_ringwatch_proxy"] = ind.proxy
            if ind.kind in HASHED_KINDS:
                custom["x_ringwatch_key_id"] = kid
            out.append(
                stix2.v21.Indicator(
                    id=ind.id,
                    name=ind.name,
                    pattern=ind.pattern,
                    pattern_type="stix",
                    indicator_types=["malicious-activity" if ind.statuses & set(DECIDED_BAD) else "anomalous-activity"],
                    valid_from=ind.valid_from or self.now,
                    confidence=int(round(100 * min(ind.score, 1.0))),
                    allow_custom=True,
                    **self._made_by(),
                    **custom,
                )
            )
        return (
            out
            + list(self.observables.values())
            + list(self.infrastructures.values())
            + list(self.relationships.values())
            + self.groupings
        )


def _grouping(ring: dict[str, Any], refs: list[str], identity: Any, now: datetime) -> Any:
    score = float(ring["score"] or 0)
    return stix2.v21.Grouping(
        id=_sid("grouping", identity.name, ring["ring_id"]),
        name=f"ringwatch ring {ring['ring_id']}",
        description=f"{ring['status']} fake-account ring, score {score:.2f}: {ring['reason']}",
        context="suspicious-activity",
        object_refs=list(dict.fromkeys(refs)),
        labels=[ring["status"]],
        external_references=[{"source_name": "ringwatch", "external_id": ring["ring_id"]}],
        created_by_ref=identity.id,
        created=now,
        modified=now,
        x_ringwatch_status=ring["status"],
        x_ringwatch_score=round(score, 4),
        x_ringwatch_size=int(ring["size"]),
        allow_custom=True,
    )


def _build(rings: list[dict[str, Any]], key: str | bytes | None, producer: str) -> tuple[stix2.Bundle, int]:
    hashed = any(e["kind"] in HASHED_KINDS for r in rings for e in r["entities"])
    data = share_key_bytes(key)
    if hashed and data is None:
        raise IndicatorError(f"payment and template indicators are shared only as keyed hashes: {NO_KEY}")
    now = datetime.now(UTC)
    identity = stix2.v21.Identity(
        id=_sid("identity", "producer", producer),
        name=producer,
        identity_class="organization",
        created=now,
        modified=now,
    )
    builder = _Builder(identity, data, now)
    for ring in rings:
        builder.ring(ring)
    bundle = stix2.v21.Bundle(objects=builder.objects(key_id(data) if hashed else None), allow_custom=True)
    return bundle, builder.rejected


def build_bundle(rings: list[dict[str, Any]], key: str | bytes | None, producer: str = "ringwatch") -> stix2.Bundle:
    """A STIX 2.1 bundle of `rings` (rows of `ring_entities`); entities whose value cannot be
    written safely (an address not in canonical form) are left out."""
    return _build(rings, key, producer)[0]


def export_bundle(
    driver: neo4j.Driver,
    out: Path,
    statuses: Iterable[str] = ("blocked",),
    min_score: float | None = None,
    key: str | bytes | None = None,
    producer: str = "ringwatch",
    *,
    actor: Actor,
) -> dict[str, int]:
    """Write the bundle of the rings of `statuses` to `out` and record the export in the
    audit trail; returns counts by object kind (and `rejected` entities, if any)."""
    require(actor, "read")
    statuses = list(statuses)
    bundle, rejected = _build(ring_entities(driver, statuses, min_score), key, producer)
    text = json.dumps(json.loads(bundle.serialize()), indent=2, ensure_ascii=False) + "\n"  # serialize(pretty) is slow
    data = text.encode("utf-8")
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    counts: dict[str, int] = {"rings": sum(1 for o in bundle.objects if o["type"] == "grouping")}
    for o in bundle.objects:
        if o["type"] == "indicator":
            name = f"{o['x_ringwatch_kind']} indicators"
            counts[name] = counts.get(name, 0) + 1
    counts["proxy services"] = sum(1 for o in bundle.objects if o["type"] == "infrastructure")
    counts["objects"] = len(bundle.objects)
    if rejected:
        counts["rejected"] = rejected
    hashed = any(o.get("x_ringwatch_key_id") for o in bundle.objects if o["type"] == "indicator")
    audit.record(
        driver,
        "indicators.export",
        actor.name,
        actor.channel,
        role=actor.role,
        statuses=sorted(statuses),
        min_score=min_score,
        producer=producer,
        file=out.name,
        target=str(out.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        counts=counts,
        key_id=key_id(share_key_bytes(key)) if hashed else None,
    )
    return counts


# ---------------------------------------------------------------------------------------
# import


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _plan(
    sel: Selection, stored: dict[str, tuple[str | None, str | None]]
) -> tuple[list[Wanted], list[str], list[dict[str, str]]]:
    """(values to flag, stored indicators a newer version replaces, stored indicators to withdraw).

    Per indicator id, the latest version wins: one older than the version imported before
    (or than the one that withdrew it) is ignored (`superseded`); a newer one replaces it;
    the same version is flagged again, which changes nothing. An indicator imported before
    whose latest version is not in force is withdrawn.
    """
    older: set[str] = set()
    replace: list[str] = []
    for ind, modified in {w.indicator: w.modified for w in sel.wanted}.items():
        if ind not in stored:
            continue
        have, gone = _ts(stored[ind][0]), stored[ind][1]
        new = _ts(modified)
        if have is not None and (have > new or (gone and have >= new)):
            older.add(ind)
        elif have is None or have < new:
            replace.append(ind)
    withdraw = []
    for ind, (modified, reason) in sel.withdrawn.items():
        if ind not in stored:
            continue
        have, gone = _ts(stored[ind][0]), stored[ind][1]
        new = _ts(modified)
        if have is None or have < new or (have == new and not gone):
            withdraw.append({"id": ind, "reason": reason, "modified": modified})
    return [w for w in sel.wanted if w.indicator not in older], replace, withdraw


def _row(w: Wanted, local_value: str, source: str) -> dict[str, Any]:
    props = {
        "id": w.indicator,
        "source": source,
        "kind": w.kind,
        "name": w.name,
        "confidence": w.confidence,
        "weight": w.weight,
        "modified": w.modified,
    }
    return {"key": f"{source}|{w.indicator}", "id": w.indicator, "value": local_value, "props": props}


def _rows(driver: neo4j.Driver, kind: str, items: list[Wanted], key: bytes | None, source: str) -> list[dict]:
    """Flag rows of one kind: addresses and services as they are, keyed hashes by local match."""
    if kind not in HASHED_KINDS:
        return [_row(w, w.value, source) for w in items]
    by_digest: dict[str, list[Wanted]] = {}
    for w in items:
        by_digest.setdefault(w.value, []).append(w)
    if not by_digest or key is None:
        return []
    return [
        _row(w, value, source)
        for digest, value in local_matches(driver, kind, key, set(by_digest))
        for w in by_digest[digest]
    ]


def _import_key(sel: Selection, key: str | bytes | None) -> tuple[bytes | None, int]:
    """(key material, keyed indicators made with another key), refusing hashed indicators without a key."""
    data = share_key_bytes(key)
    hashed = [w for w in sel.wanted if w.kind in HASHED_KINDS]
    if hashed and data is None:
        raise IndicatorError(
            f"the bundle has {len({w.indicator for w in hashed})} payment/template indicators (keyed hashes): {NO_KEY}"
        )
    mine = key_id(data) if hashed else None
    return data, sum(1 for w in hashed if w.key_id and w.key_id != mine)


def import_bundle(
    driver: neo4j.Driver,
    path: Path,
    source: str,
    key: str | bytes | None = None,
    *,
    actor: Actor,
    limits: Limits = Limits(),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Match a partner's bundle against the local graph, flag what matches, and record the
    import in the audit trail.

    Returns per kind: indicators in force, indicators matched, entities flagged; `skipped`
    (revoked, expired, not yet valid, superseded), `rejected` (by reason: pattern too long,
    bad address, bad hash, bad proxy name), `unsupported` (patterns ringwatch cannot match),
    `withdrawn` (indicators imported before that no longer count), `key_mismatch` (keyed
    indicators made with another key), `changes` (0 on a repeated import), and the file's
    name, size and SHA-256.
    """
    require(actor, "decide")
    source = (source or "").strip()
    if not source:
        raise IndicatorError("--source must name the partner the bundle comes from")
    bundle = read_bundle(path, limits)
    sel = select(bundle, now or datetime.now(UTC))
    data, mismatch = _import_key(sel, key)
    ensure_schema(driver)  # the PartnerIndicator key constraint, on a graph loaded before it existed
    wanted, replace, gone = _plan(sel, stored_versions(driver, source))
    _, changed = retract(driver, [f"{source}|{ind}" for ind in replace])
    changed += withdraw(driver, [{"key": f"{source}|{g['id']}", **g} for g in gone])
    skipped = Counter(sel.skipped)
    skipped["superseded"] += len({w.indicator for w in sel.wanted}) - len({w.indicator for w in wanted})
    summary: dict[str, Any] = {
        "source": source,
        "file": path.name,
        "bytes": bundle.size,
        "sha256": bundle.sha256,
        "objects": len(bundle.objects),
        "skipped": {r: skipped[r] for r in SKIP_REASONS},
        "rejected": dict(sorted(sel.rejected.items())),
        "unsupported": sel.unsupported,
        "withdrawn": len(gone),
        "key_mismatch": mismatch,
        "changes": changed,
    }
    for kind in KINDS:
        items = [w for w in wanted if w.kind == kind]
        entities, ids, changed = flag(driver, kind, _rows(driver, kind, items, data, source))
        summary["changes"] += changed
        summary[kind] = {"indicators": len({w.indicator for w in items}), "matched": len(ids), "entities": entities}
    totals = {n: sum(summary[k][n] for k in KINDS) for n in ("indicators", "matched", "entities")}
    audit.record(
        driver,
        "indicators.import",
        actor.name,
        actor.channel,
        role=actor.role,
        source=source,
        file=path.name,
        target=str(path.resolve()),
        sha256=bundle.sha256,
        bytes=bundle.size,
        objects=len(bundle.objects),
        **totals,
        skipped=summary["skipped"],
        rejected=summary["rejected"],
        unsupported=sel.unsupported,
        withdrawn=summary["withdrawn"],
        key_mismatch=mismatch,
        changes=summary["changes"],
    )
    return summary


def clear_flags(driver: neo4j.Driver, source: str, *, actor: Actor) -> int:
    """Remove what `source`'s imports added and record it in the audit trail; returns the
    number of indicators removed."""
    require(actor, "decide")
    removed, changed = forget_source(driver, source)
    audit.record(
        driver,
        "indicators.forget",
        actor.name,
        actor.channel,
        role=actor.role,
        source=source,
        removed=removed,
        changes=changed,
    )
    return removed
