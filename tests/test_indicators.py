"""Indicator sharing: STIX 2.1 export of blocked rings, and a second lab importing it.

Lab one is the `world` fixture (generated, ingested, detected) with two planted farms
blocked by an analyst. Lab two is the same database emptied and loaded with part of the
same world (the accounts of the blocked rings and of their planted farms, plus 200
benign accounts), as a partner that sees the same cards, addresses and templates
would. Before lab two, a forged bundle flagging the world's most used templates and
addresses is imported into lab one: it must lift no benign ring.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import uuid
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import stix2
from conftest import run_cli

from graph.db import server
from graph.db.connection import open_driver, read, session
from graph.detection import scoring
from graph.detection.detect import detect
from graph.detection.evidence import read_evidence
from graph.library import catalog as library
from graph.review import audit
from graph.review.actors import Actor
from graph.review.decisions import decide
from graph.sharing.indicators import (
    build_bundle,
    clear_flags,
    flagged_entities,
    import_bundle,
    key_id,
    keyed_hash,
    ring_entities,
)
from graph.vocabulary import canonical_ip
from ingest.load import ingest

KEY = "correct horse battery staple, agreed with lab two"  # >= 32 bytes, as every share key must be
OTHER_KEY = "a key the partner never agreed to, of the same length"
TESTER = Actor(name="tester", role="analyst")
FILES = ("accounts", "payment_methods", "ip_sightings", "ip_intel", "prompt_templates")


def cli(*args: str) -> SimpleNamespace:
    """`ringwatch ARGS` through `ringwatch.cli.main`, as a user runs it, but in this process
    (run_cli starts a subprocess: same behaviour, a few seconds more)."""
    from ringwatch import cli as ringwatch_cli

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with mock.patch.object(sys, "argv", ["ringwatch", *args]), redirect_stdout(out), redirect_stderr(err):
        try:
            ringwatch_cli.main()
        except SystemExit as e:
            code = e.code or 0
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def delivery(folder, name):
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def used_by(folder) -> dict[tuple[str, str], set[str]]:
    """(kind, canonical value) -> accounts using it, from a delivery's files."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, kind, col in (
        ("payment_methods", "payment", "payment_fingerprint"),
        ("ip_sightings", "ip", "ip"),
        ("prompt_templates", "template", "template_hash"),
    ):
        f = delivery(folder, name)
        values = f[col].map(canonical_ip) if kind == "ip" else f[col]
        for account, value in zip(f["account_id"], values, strict=True):
            out[(kind, value)].add(account)
    return out


@pytest.fixture(scope="module")
def lab1(world, tmp_path_factory):
    """Lab one: two cleanly detected farms blocked, and the STIX bundle exported with the key."""
    truth = pd.read_csv(world["truth"] / "accounts.csv", dtype=str, keep_default_na=False)
    truth_ring = dict(zip(truth["account_id"], truth["ring_id"], strict=True))
    d = open_driver()
    try:
        rows = read(
            d,
            "MATCH (a:Account)-[:MEMBER_OF]->(r:Ring {status: 'suspected'}) "
            "RETURN r.id AS ring, collect(a.id) AS members ORDER BY size(members) DESC",
        )
        pure = [
            r
            for r in rows
            if Counter(truth_ring[a] for a in r["members"]).most_common(1)[0][1] >= 0.9 * len(r["members"])
            and Counter(truth_ring[a] for a in r["members"]).most_common(1)[0][0]
        ]
        assert len(pure) >= 2
        blocked = {r["ring"]: sorted(r["members"]) for r in pure[:2]}
        for ring in blocked:
            decide(d, Actor(name="tester", role="analyst"), ring, "blocked", "indicator test")
        rings = ring_entities(d, ["blocked"])
    finally:
        d.close()
    out = tmp_path_factory.mktemp("lab1") / "bundle.json"
    res = run_cli(
        "export", "--out", str(out), "--format", "stix", "--producer", "lab one", env={"RINGWATCH_SHARE_KEY": KEY}
    )
    assert res.returncode == 0, res.stderr
    entities = {(e["kind"], e["value"]) for r in rings for e in r["entities"]}
    proxies = {p["name"] for r in rings for p in r["proxies"]}
    return SimpleNamespace(
        bundle=out,
        blocked=blocked,
        rings=rings,
        entities=entities,
        proxies=proxies,
        truth=truth,
        folder=world["folder"],
    )


def test_bundle_is_valid_stix_and_hides_raw_values(lab1):
    text = lab1.bundle.read_text()
    bundle = stix2.parse(text, allow_custom=True)
    objects = json.loads(text)["objects"]
    by_type = Counter(o["type"] for o in objects)
    assert bundle.type == "bundle" and by_type["identity"] == 1
    assert [o["name"] for o in objects if o["type"] == "identity"] == ["lab one"]

    groupings = {o["external_references"][0]["external_id"]: o for o in objects if o["type"] == "grouping"}
    assert set(groupings) == set(lab1.blocked)
    ids = {o["id"] for o in objects}
    for g in groupings.values():
        assert g["context"] == "suspicious-activity" and g["labels"] == ["blocked"]
        assert set(g["object_refs"]) <= ids

    indicators = [o for o in objects if o["type"] == "indicator"]
    assert len(indicators) == len(lab1.entities) and lab1.entities
    assert {o["x_ringwatch_kind"] for o in indicators} == {"ip", "payment", "template"}
    hmacs = {(kind, keyed_hash(KEY, kind, value)) for kind, value in lab1.entities if kind != "ip"}
    got = set()
    for o in indicators:
        assert o["pattern_type"] == "stix" and o["indicator_types"] == ["malicious-activity"]
        assert set(o["x_ringwatch_rings"]) <= set(lab1.blocked)
        if o["x_ringwatch_kind"] == "ip":
            m = re.fullmatch(r"\[(ipv4-addr|ipv6-addr):value = '([^']+)'\]", o["pattern"])
            assert m and ("ip", m[2]) in lab1.entities
            assert (m[1] == "ipv6-addr") == (":" in m[2])
        else:
            m = re.fullmatch(r"\[x-ringwatch-(payment|template):hmac_sha256 = '([0-9a-f]{64})'\]", o["pattern"])
            assert m and o["x_ringwatch_key_id"] == key_id(KEY)
            got.add((m[1], m[2]))
    assert got == hmacs
    observables = {o["value"] for o in objects if o["type"] in ("ipv4-addr", "ipv6-addr")}
    assert observables == {v for k, v in lab1.entities if k == "ip"}
    infra = {o["name"] for o in objects if o["type"] == "infrastructure"}
    assert infra == lab1.proxies
    assert all(o["infrastructure_types"] == ["anonymization"] for o in objects if o["type"] == "infrastructure")
    # a partner learns no raw payment fingerprint or template hash
    for kind, value in lab1.entities:
        if kind != "ip":
            assert value not in text


def test_bundle_holds_only_entities_that_bind_the_ring(lab1):
    users = used_by(lab1.folder)
    expected = set()
    touched = set()
    for members in lab1.blocked.values():
        members = set(members)
        for entity, accounts in users.items():
            inside = len(accounts & members)
            if inside:
                touched.add(entity)
            if inside >= 2 and inside >= 0.5 * len(accounts):
                expected.add(entity)
    assert lab1.entities == expected
    assert touched - expected  # members touched more than what binds them, and it stays out


def test_stix_export_refuses_hashed_values_without_a_key(lab1, tmp_path, monkeypatch):
    monkeypatch.delenv("RINGWATCH_SHARE_KEY", raising=False)
    res = cli("export", "--out", str(tmp_path / "b.json"), "--format", "stix")
    assert res.returncode == 1
    assert res.stderr.startswith("error: payment and template indicators are shared only as keyed hashes")
    assert res.stderr.count("\n") == 1 and not (tmp_path / "b.json").exists()


def test_the_stix_export_is_an_audit_event(lab1, driver):
    (event,) = [e for e in audit.events(driver) if e["action"] == "indicators.export"]
    assert event["sha256"] == hashlib.sha256(lab1.bundle.read_bytes()).hexdigest()
    assert event["channel"] == "cli" and event["role"] == "lead" and event["actor"].startswith("os:")
    assert event["file"] == lab1.bundle.name and event["statuses"] == ["blocked"] and event["producer"] == "lab one"
    assert json.loads(event["counts"])["rings"] == 2 and event["key_id"] == key_id(KEY)
    assert audit.verify(driver)[1] is None


def touching_any_flag(acc, links, kept, p):
    """The partner feature before issue 14: the share of members touching any flagged entity
    (a table nobody flagged has no flag column)."""

    def rows(frame: pd.DataFrame) -> np.ndarray:
        if "partner_flagged" not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        return frame["partner_flagged"].fillna(False).astype(bool).to_numpy()

    flagged = set(acc.index[rows(acc)])
    for frame in links:
        flagged |= set(frame.loc[rows(frame), "account"])
    return pd.Series(kept.index.isin(list(flagged)).astype(float), index=kept.index).groupby(kept).mean()


def benign_over_threshold(driver, truth_ring) -> set[frozenset]:
    """Member sets of the candidate rings detection would flag whose members are mostly benign."""
    result = detect(driver, write=False, log=lambda _: None)
    score = result.rings.set_index("community")["score"]
    out = set()
    for community, members in result.members.groupby("community")["account"]:
        benign = sum(truth_ring[a] == "" for a in members) / len(members)
        if score[community] >= result.threshold and benign >= 0.5:
            out.add(frozenset(members))
    return out


def test_a_forged_bundle_of_popular_things_lifts_no_benign_ring(lab1, driver, tmp_path, monkeypatch):
    """A partner (or a forger holding the key) flags the 20 templates and the 20 addresses
    the most accounts use: public and app templates, carrier and office NATs. Under the old
    rule (any flag on anything a member touches) that lifts benign rings over the threshold;
    now nothing is lifted."""
    truth_ring = dict(zip(lab1.truth["account_id"], lab1.truth["ring_id"], strict=True))
    users = used_by(lab1.folder)
    popular = []
    for kind in ("template", "ip"):
        ranked = sorted((e for e in users if e[0] == kind), key=lambda e: len(users[e]), reverse=True)[:20]
        assert min(len(users[e]) for e in ranked) >= 20
        popular += [{"kind": k, "value": v} for k, v in ranked]
    forged = {
        "ring_id": "R-999999",
        "status": "blocked",
        "score": 1.0,
        "size": 1000,
        "reason": "trust us",
        "first_detected": None,
        "proxies": [],
        "entities": popular,
    }
    path = tmp_path / "forged.json"
    path.write_text(build_bundle([forged], KEY, producer="forger").serialize())

    before = benign_over_threshold(driver, truth_ring)
    summary = import_bundle(driver, path, "forger", KEY, actor=TESTER)
    assert sum(summary[k]["entities"] for k in ("ip", "template")) == 40
    with monkeypatch.context() as m:
        m.setattr(scoring, "partner_share", touching_any_flag)
        naive = benign_over_threshold(driver, truth_ring) - before
    after = benign_over_threshold(driver, truth_ring)
    print(
        f"\nforged bundle: {len(before)} benign rings over the threshold before, "
        f"{len(naive)} lifted by the old rule ({sum(map(len, naive))} accounts), {len(after - before)} now"
    )
    assert naive, "the forged bundle should be dangerous under the old rule"
    assert after - before == set()
    assert clear_flags(driver, "forger", actor=TESTER) == 40


@pytest.fixture(scope="module")
def lab2(lab1, tmp_path_factory):
    """Lab two: the database emptied and loaded with part of the same world."""
    folder = lab1.folder
    keep = set().union(*map(set, lab1.blocked.values()))
    farms = set(lab1.truth.loc[lab1.truth["account_id"].isin(keep), "ring_id"]) - {""}
    keep |= set(lab1.truth.loc[lab1.truth["ring_id"].isin(farms), "account_id"])
    benign = lab1.truth.loc[lab1.truth["ring_id"] == "", "account_id"]
    keep |= set(benign.sample(n=min(200, len(benign)), random_state=7))
    out = tmp_path_factory.mktemp("lab2")
    frames = {name: delivery(folder, name) for name in FILES}
    for name in ("accounts", "payment_methods", "ip_sightings", "prompt_templates"):
        frames[name] = frames[name][frames[name]["account_id"].isin(keep)]
    frames["ip_intel"] = frames["ip_intel"][frames["ip_intel"]["ip"].isin(set(frames["ip_sightings"]["ip"]))]
    for name, f in frames.items():
        f.to_csv(out / f"{name}.csv", index=False)
    server.reset()
    d = open_driver()
    try:
        ingest(d, out, tmp_path_factory.mktemp("lab2-report") / "report.json")
    finally:
        d.close()
    return SimpleNamespace(folder=out, accounts=keep)


def snapshot(driver):
    """The graph but its audit trail (each import is one more event)."""
    return read(
        driver,
        """
        RETURN COUNT { MATCH (n) WHERE NOT n:AuditEvent AND NOT n:AuditHead } AS nodes,
               COUNT { MATCH (n)-[r]->() WHERE NOT n:AuditEvent } AS rels,
               COLLECT { MATCH (e) WHERE e.partner_flags IS NOT NULL
                         RETURN [elementId(e), e.partner_flags] ORDER BY elementId(e) } AS flags,
               COLLECT { MATCH (p:PartnerIndicator) RETURN properties(p) ORDER BY p.key } AS indicators
    """,
    )[0]


def test_another_key_matches_no_hashed_indicator(lab1, lab2, driver):
    summary = import_bundle(driver, lab1.bundle, "wrong-key-lab", OTHER_KEY, actor=TESTER)
    hashed = sum(1 for kind, _ in lab1.entities if kind != "ip")
    assert summary["payment"]["matched"] == 0 and summary["template"]["matched"] == 0
    assert summary["payment"]["indicators"] + summary["template"]["indicators"] == hashed
    assert summary["key_mismatch"] == hashed
    # addresses are shared in the clear: they match whatever the key
    assert flagged_entities(driver, "wrong-key-lab") == {("ip", v) for k, v in lab1.entities if k == "ip"} | {
        ("proxy", p) for p in lab1.proxies
    }
    assert clear_flags(driver, "wrong-key-lab", actor=TESTER) == summary["ip"]["matched"] + summary["proxy"]["matched"]
    assert flagged_entities(driver) == set()
    assert read(driver, "MATCH (e) WHERE e.partner_flags IS NOT NULL RETURN count(e) AS n")[0]["n"] == 0


def test_the_same_key_matches_the_same_entities_once(lab1, lab2, driver):
    with mock.patch.dict("os.environ", {"RINGWATCH_SHARE_KEY": KEY}):
        res = cli("indicators", "import", str(lab1.bundle), "--source", "lab one")
    assert res.returncode == 0, res.stderr
    assert re.search(r"payment\s+│\s+\d+\s+│\s+\d+", res.stdout)
    expected = lab1.entities | {("proxy", p) for p in lab1.proxies}
    assert flagged_entities(driver, "lab one") == expected
    flags = read(driver, "MATCH (e) WHERE e.partner_flags IS NOT NULL RETURN DISTINCT e.partner_flags AS f")
    assert flags == [{"f": ["lab one"]}]

    # detection sees the flags (graph.detection.evidence reads partner_flags IS NOT NULL)
    ev = read_evidence(driver)
    for frame, kind in ((ev.payments, "payment"), (ev.ips, "ip"), (ev.templates, "template")):
        flagged = frame.loc[frame["partner_flagged"].astype(bool), "entity"]
        assert set(flagged) == {v for k, v in lab1.entities if k == kind}

    # each indicator keeps the partner's confidence; an entity weighs the highest of its indicators
    confidence = {
        o["id"]: o["confidence"] for o in json.loads(lab1.bundle.read_text())["objects"] if o["type"] == "indicator"
    }
    rows = read(
        driver,
        "MATCH (pi:PartnerIndicator {source: 'lab one'})-[:FLAGS]->(e) "
        "RETURN pi.id AS id, pi.kind AS kind, pi.confidence AS confidence, pi.weight AS weight, "
        "e.partner_weight AS entity_weight",
    )
    for r in rows:
        if r["kind"] == "proxy":
            assert r["confidence"] is None and r["weight"] == 0.5  # infrastructure without confidence: unspecified
        else:
            assert r["confidence"] == confidence[r["id"]] and r["weight"] == pytest.approx(r["confidence"] / 100)
        assert r["entity_weight"] >= r["weight"]

    before, events = snapshot(driver), len(list(audit.events(driver)))
    again = import_bundle(driver, lab1.bundle, "lab one", KEY, actor=TESTER)
    assert again["changes"] == 0
    assert snapshot(driver) == before and len(list(audit.events(driver))) == events + 1
    assert again["payment"]["matched"] == again["payment"]["indicators"] > 0
    assert again["template"]["matched"] == again["template"]["indicators"] > 0

    # the library query lists every local account that uses a flagged entity
    users = used_by(lab2.folder)
    flagged_accounts = set().union(*(users[e] for e in lab1.entities))
    q = library.load("partner-flagged-accounts")
    with session(driver) as s:
        _, rows = library.stream(s, q, library.bind(q, ["source=lab one"]))
        rows = list(rows)
    assert {r["account_id"] for r in rows} == flagged_accounts
    assert all(r["sources"] == ["lab one"] and r["flagged_entities"] >= 1 for r in rows)
    with session(driver) as s:
        _, none = library.stream(s, q, library.bind(q, ["source=someone else"]))
        assert list(none) == []


def test_a_genuine_partner_bundle_still_flags_the_farms(lab1, lab2, driver):
    """In lab two, with lab one's indicators imported (the test above), detection finds the
    farms lab one blocked, says partners flagged them, and scores them over the threshold."""
    result = detect(driver, write=False, log=lambda _: None)
    rings = result.rings.set_index("community")
    found = {}
    for ring_id, members in lab1.blocked.items():
        members = set(members)
        community = result.members[result.members["account"].isin(members)]["community"].mode()[0]
        ring = rings.loc[community]
        found[ring_id] = (round(float(ring["partner_flagged"]), 3), round(float(ring["score"]), 3))
        assert ring["partner_flagged"] >= 0.5 and ring["score"] >= result.threshold
        assert "partners flagged" in ring["reason"]
    print(f"\nlab two, farms blocked by lab one: (partner_flagged, score) {found}")


def lab1_indicator(lab1, kind: str) -> dict:
    objects = json.loads(lab1.bundle.read_text())["objects"]
    return next(o for o in objects if o["type"] == "indicator" and o["x_ringwatch_kind"] == kind)


def new_version(obj: dict, **changes) -> dict:
    modified = datetime.fromisoformat(obj["modified"]) + timedelta(days=1)
    return {**obj, "modified": modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **changes}


def write_bundle(path, *objects):
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}))
    return path


def test_a_revoked_indicator_stops_counting_and_an_older_version_cannot_bring_it_back(lab1, lab2, driver, tmp_path):
    ind = lab1_indicator(lab1, "ip")
    address = re.search(r"'(.+)'", ind["pattern"])[1]
    assert ("ip", address) in flagged_entities(driver, "lab one")
    revoked = write_bundle(tmp_path / "revoked.json", new_version(ind, revoked=True))
    summary = import_bundle(driver, revoked, "lab one", KEY, actor=TESTER)
    assert summary["skipped"]["revoked"] == 1 and summary["withdrawn"] == 1 and summary["changes"] > 0
    assert ("ip", address) not in flagged_entities(driver, "lab one")
    ip = read(driver, "MATCH (i:IP {address: $a}) RETURN i.partner_flags AS f, i.partner_weight AS w", a=address)[0]
    assert ip == {"f": None, "w": None}
    # the same revocation again changes nothing, and the original bundle cannot undo it
    assert import_bundle(driver, revoked, "lab one", KEY, actor=TESTER)["changes"] == 0
    again = import_bundle(driver, lab1.bundle, "lab one", KEY, actor=TESTER)
    assert again["changes"] == 0 and again["skipped"]["superseded"] == 1
    assert ("ip", address) not in flagged_entities(driver, "lab one")
    res = cli("indicators", "import", str(revoked), "--source", "lab one")
    assert res.returncode == 0 and res.stderr == "0 changes to the graph; skipped 1 revoked\n"


def test_a_newer_version_replaces_the_old_one_and_expired_ones_do_not_count(lab1, lab2, driver, tmp_path):
    ind = lab1_indicator(lab1, "template")
    digest = re.search(r"'([0-9a-f]{64})'", ind["pattern"])[1]
    lowered = write_bundle(tmp_path / "lowered.json", new_version(ind, confidence=10))
    summary = import_bundle(driver, lowered, "lab one", KEY, actor=TESTER)
    assert summary["template"]["matched"] == 1 and summary["changes"] > 0
    rows = read(
        driver,
        "MATCH (pi:PartnerIndicator {id: $id, source: 'lab one'})-[:FLAGS]->(t:PromptTemplate) "
        "RETURN pi.confidence AS c, pi.weight AS w, t.partner_weight AS tw, t.hash AS hash",
        id=ind["id"],
    )
    assert [(r["c"], r["w"]) for r in rows] == [(10, 0.1)]
    assert keyed_hash(KEY, "template", rows[0]["hash"]) == digest
    assert rows[0]["tw"] == pytest.approx(0.1)  # the template's weight follows its one indicator down

    now = datetime.now(UTC)
    fresh = [
        new_version(
            lab1_indicator(lab1, "payment"),
            id=f"indicator--{uuid.uuid4()}",
            valid_from=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            valid_until=(now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        new_version(
            lab1_indicator(lab1, "payment"),
            id=f"indicator--{uuid.uuid4()}",
            valid_from=(now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    ]
    summary = import_bundle(driver, write_bundle(tmp_path / "timed.json", *fresh), "lab three", KEY, actor=TESTER)
    assert summary["skipped"] == {"revoked": 0, "expired": 1, "not yet valid": 1, "superseded": 0}
    assert summary["payment"] == {"indicators": 0, "matched": 0, "entities": 0} and summary["changes"] == 0


def test_imports_and_forgets_are_audit_events(lab1, lab2, driver):
    with mock.patch.dict("os.environ", {"RINGWATCH_SHARE_KEY": KEY}):
        res = cli("indicators", "import", str(lab1.bundle), "--source", "audited lab")
    assert res.returncode == 0, res.stderr
    res = cli("indicators", "forget", "--source", "audited lab")
    assert res.returncode == 0
    removed = int(re.match(r"removed (\d+) indicators of audited lab", res.stderr)[1])
    events = [e for e in audit.events(driver) if e.get("source") == "audited lab"]
    assert [e["action"] for e in events] == ["indicators.import", "indicators.forget"]
    imported, forgot = events
    assert imported["sha256"] == hashlib.sha256(lab1.bundle.read_bytes()).hexdigest()
    assert imported["file"] == lab1.bundle.name and imported["bytes"] == lab1.bundle.stat().st_size
    assert imported["matched"] == removed > 0 and imported["changes"] > 0
    assert json.loads(imported["skipped"]) == {"revoked": 0, "expired": 0, "not yet valid": 0, "superseded": 0}
    assert forgot["removed"] == removed
    assert {e["channel"] for e in events} == {"cli"} and {e["role"] for e in events} == {"lead"}
    assert audit.verify(driver)[1] is None


def test_import_refuses_hashed_indicators_without_a_key(lab1, lab2, monkeypatch):
    monkeypatch.delenv("RINGWATCH_SHARE_KEY", raising=False)
    res = cli("indicators", "import", str(lab1.bundle), "--source", "keyless")
    assert res.returncode == 1 and "--share-key-file" in res.stderr and res.stderr.count("\n") == 1
    bad = lab2.folder / "not-a-bundle.json"
    bad.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator"}]}))
    monkeypatch.setenv("RINGWATCH_SHARE_KEY", KEY)
    res = cli("indicators", "import", str(bad), "--source", "x")
    assert res.returncode == 1 and "not a valid STIX 2.1 bundle" in res.stderr and res.stderr.count("\n") == 1
    huge = lab2.folder / "huge.json"
    with huge.open("wb") as f:
        f.truncate(50 * 2**20 + 1)
    res = cli("indicators", "import", str(huge), "--source", "x")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "is over the 50 MB a bundle may have" in res.stderr
