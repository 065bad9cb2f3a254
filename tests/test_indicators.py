"""Indicator sharing: STIX 2.1 export of blocked rings, and a second lab importing it.

Lab one is the `world` fixture (generated, ingested, detected) with two planted farms
blocked by an analyst. Lab two is the same database emptied and loaded with part of the
same world (the accounts of the blocked rings and of their planted farms, plus 200
benign accounts), as a partner that sees the same cards, addresses and templates
would.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from unittest import mock

import pandas as pd
import pytest
import stix2
from conftest import run_cli

from graph.db import server
from graph.db.connection import open_driver, read, session
from graph.detection.evidence import read_evidence
from graph.library import catalog as library
from graph.review.actors import Actor
from graph.review.decisions import decide
from graph.sharing.indicators import clear_flags, flagged_entities, import_bundle, key_id, keyed_hash, ring_entities
from graph.vocabulary import canonical_ip
from ingest.load import ingest

KEY = "correct horse battery staple"
OTHER_KEY = "a key the partner never agreed to"
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
    for name, kind, col in (("payment_methods", "payment", "payment_fingerprint"), ("ip_sightings", "ip", "ip"),
                            ("prompt_templates", "template", "template_hash")):
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
        rows = read(d, "MATCH (a:Account)-[:MEMBER_OF]->(r:Ring {status: 'suspected'}) "
                       "RETURN r.id AS ring, collect(a.id) AS members ORDER BY size(members) DESC")
        pure = [r for r in rows
                if Counter(truth_ring[a] for a in r["members"]).most_common(1)[0][1] >= 0.9 * len(r["members"])
                and Counter(truth_ring[a] for a in r["members"]).most_common(1)[0][0]]
        assert len(pure) >= 2
        blocked = {r["ring"]: sorted(r["members"]) for r in pure[:2]}
        for ring in blocked:
            decide(d, Actor(name="tester", role="analyst"), ring, "blocked", "indicator test")
        rings = ring_entities(d, ["blocked"])
    finally:
        d.close()
    out = tmp_path_factory.mktemp("lab1") / "bundle.json"
    res = run_cli("export", "--out", str(out), "--format", "stix", "--producer", "lab one",
                  env={"RINGWATCH_SHARE_KEY": KEY})
    assert res.returncode == 0, res.stderr
    entities = {(e["kind"], e["value"]) for r in rings for e in r["entities"]}
    proxies = {p["name"] for r in rings for p in r["proxies"]}
    return SimpleNamespace(bundle=out, blocked=blocked, rings=rings, entities=entities, proxies=proxies,
                           truth=truth, folder=world["folder"])


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
    return read(driver, """
        RETURN COUNT { MATCH (n) } AS nodes, COUNT { MATCH ()-[r]->() } AS rels,
               COLLECT { MATCH (e) WHERE e.partner_flags IS NOT NULL
                         RETURN [elementId(e), e.partner_flags] ORDER BY elementId(e) } AS flags,
               COLLECT { MATCH (p:PartnerIndicator) RETURN properties(p) ORDER BY p.key } AS indicators
    """)[0]


def test_another_key_matches_no_hashed_indicator(lab1, lab2, driver):
    summary = import_bundle(driver, lab1.bundle, "wrong-key-lab", OTHER_KEY)
    hashed = sum(1 for kind, _ in lab1.entities if kind != "ip")
    assert summary["payment"]["matched"] == 0 and summary["template"]["matched"] == 0
    assert summary["payment"]["indicators"] + summary["template"]["indicators"] == hashed
    assert summary["key_mismatch"] == hashed
    # addresses are shared in the clear: they match whatever the key
    assert flagged_entities(driver, "wrong-key-lab") == {("ip", v) for k, v in lab1.entities if k == "ip"} | {
        ("proxy", p) for p in lab1.proxies}
    assert clear_flags(driver, "wrong-key-lab") == summary["ip"]["matched"] + summary["proxy"]["matched"]
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

    before = snapshot(driver)
    again = import_bundle(driver, lab1.bundle, "lab one", KEY)
    assert again["changes"] == 0
    assert snapshot(driver) == before
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


def test_import_refuses_hashed_indicators_without_a_key(lab1, lab2, monkeypatch):
    monkeypatch.delenv("RINGWATCH_SHARE_KEY", raising=False)
    res = cli("indicators", "import", str(lab1.bundle), "--source", "keyless")
    assert res.returncode == 1 and "--share-key" in res.stderr and res.stderr.count("\n") == 1
    bad = lab2.folder / "not-a-bundle.json"
    bad.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator"}]}))
    res = cli("indicators", "import", str(bad), "--source", "x", "--share-key", KEY)
    assert res.returncode == 1 and "not a valid STIX 2.1 bundle" in res.stderr
