"""The Cypher query library, `ringwatch query` and `ringwatch export` (CSV/JSON) on a real world.

Each library query is checked against what its header promises, computed independently
from the generated delivery files (pandas) and the truth of the planted farms.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import neo4j.time
import pandas as pd
import pytest
from conftest import run_cli

from graph.db.connection import open_driver, read, session, write
from graph.library import catalog as library
from graph.library.export import block_list, block_list_query
from graph.review.actors import Actor
from graph.review.decisions import decide
from graph.vocabulary import canonical_ip

ALL_STATUSES = ["suspected", "watch", "confirmed", "blocked", "dismissed"]


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


def run_query(driver, name, **values):
    q = library.load(name)
    params = library.bind(q, values=values)
    with session(driver) as s:
        keys, rows = library.stream(s, q, params)
        return keys, list(rows)


def counts(driver):
    return read(driver, "RETURN COUNT { MATCH (n) } AS nodes, COUNT { MATCH ()-[r]->() } AS rels")[0]


def block(driver, ring_id, analyst, reason="test block"):
    """An analyst's block of the whole ring, through the same call the app makes."""
    decide(driver, Actor(name=analyst, role="analyst"), ring_id, "blocked", reason)


def delivery(world, name):
    return pd.read_csv(world["folder"] / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def farm(world):
    """Two detected rings that are each (>= 90 %) one planted farm, and the graph's memberships."""
    truth = pd.read_csv(world["truth"] / "accounts.csv", dtype=str, keep_default_na=False)
    truth_ring = dict(zip(truth["account_id"], truth["ring_id"], strict=True))
    d = open_driver()
    try:
        rows = read(
            d,
            """
            MATCH (a:Account)-[:MEMBER_OF]->(r:Ring)
            RETURN r.id AS ring, r.status AS status, collect(a.id) AS members
        """,
        )
    finally:
        d.close()
    pure = []
    for r in rows:
        top, n = Counter(truth_ring[a] for a in r["members"]).most_common(1)[0]
        if top and r["status"] == "suspected" and n / len(r["members"]) >= 0.9 and len(r["members"]) >= 5:
            pure.append({**r, "truth": top, "members": sorted(r["members"])})
    assert len(pure) >= 2, "the world should have at least two cleanly detected farms"
    pure.sort(key=lambda r: (len(r["members"]), r["ring"]))
    member_of = defaultdict(set)
    for r in rows:
        for a in r["members"]:
            member_of[a].add((r["ring"], r["status"]))
    return {"a": pure[0], "b": pure[1], "truth": truth, "truth_ring": truth_ring, "member_of": member_of}


# ---------------------------------------------------------------------------------------
# the library files and the parameter types (no database)


def test_every_library_file_has_a_complete_header():
    queries = library.list_queries()
    assert len(queries) >= 12
    names = {q.name for q in queries}
    assert {
        "rings-sharing-payment",
        "proxy-exits-across-rings",
        "young-account-templates",
        "signup-bursts",
        "within-k-hops",
        "ring-members",
        "new-ring-members",
        "ring-capability-mix",
        "addresses-across-rings",
        "bins-behind-rings",
        "partner-flagged-accounts",
        "block-list",
    } <= names
    for q in queries:
        assert q.path.stem == q.name
        assert q.description and q.returns, q.name
        assert q.writes is False, q.name
        assert q.text.lstrip().startswith(f"// @name: {q.name}")
        for p in q.params.values():
            assert p.type in library.TYPES
            assert f"${p.name}" in q.text, f"{q.name} declares {p.name} but never uses it"
    # graph.library.export (CLI export, the app) runs the library's block list, not a copy
    assert block_list_query() == library.load("block-list").text
    assert library.load("within-k-hops").params["k"].default == 2
    assert library.load("new-ring-members").params["since"].default == neo4j.time.Date(2026, 1, 1)
    assert library.load("block-list").params["statuses"].default == ["blocked"]
    assert library.load("ring-members").params["ring_id"].required


def test_parameter_text_becomes_typed_values():
    c = library.coerce
    assert c("42", "int") == 42 and c("0.25", "float") == 0.25
    assert c("yes", "bool") is True and c("False", "bool") is False
    assert c("2026-01-31", "date") == neo4j.time.Date(2026, 1, 31)
    assert c("2026-01-31T10:00:00Z", "datetime") == neo4j.time.DateTime(2026, 1, 31, 10, 0, 0, tzinfo=UTC)
    assert c("2026-01-31T10:00:00", "datetime").tzinfo is not None  # no zone = UTC
    assert c('["a", 2]', "list") == ["a", 2]
    assert c("blocked, confirmed", "list") == ["blocked", "confirmed"]
    assert c("x' }) DETACH DELETE n //", "string") == "x' }) DETACH DELETE n //"
    assert c("null", "int") is None and c("null", "list") is None
    bad_values = (("1.5", "int"), ("abc", "float"), ("maybe", "bool"), ("2026-13-01", "date"), ('{"a": 1}', "list"))
    for bad, type_ in bad_values:
        with pytest.raises(library.LibraryError):
            c(bad, type_)
    q = library.load("within-k-hops")
    assert library.bind(q, ["account_id=acct_1", "k=3"]) == {"account_id": "acct_1", "k": 3, "max_fanout": 200}
    with pytest.raises(library.LibraryError, match="needs --param account_id"):
        library.bind(q, ["k=1"])
    with pytest.raises(library.LibraryError, match="no parameter 'depth'"):
        library.bind(q, ["account_id=a", "depth=1"])
    adhoc = library.parse("MATCH (n) WHERE n.x > $x RETURN n")
    assert library.bind(adhoc, ["x:int=5", "name=bob"]) == {"x": 5, "name": "bob"}


# ---------------------------------------------------------------------------------------
# every query on the generated world


def test_every_query_returns_the_columns_its_header_names(world, driver, farm):
    required = {"ring_id": farm["a"]["ring"], "account_id": farm["a"]["members"][0]}
    nonempty = set()
    for q in library.list_queries():
        values = {k: required[k] for k, p in q.params.items() if p.required}
        keys, rows = run_query(driver, q.name, **values)
        assert keys == q.returns, q.name
        if rows:
            nonempty.add(q.name)
    assert {
        "rings",
        "ring-members",
        "within-k-hops",
        "ring-capability-mix",
        "signup-bursts",
        "young-account-templates",
    } <= nonempty


def test_list_and_show_and_ring_members_through_the_cli(world, driver, farm):
    listed = cli("query", "list")
    assert listed.returncode == 0, listed.stderr
    for name in library.names():
        assert name in listed.stdout
    shown = cli("query", "show", "within-k-hops")
    assert shown.returncode == 0 and "k: int = 2" in shown.stdout and "MATCH (start:Account" in shown.stdout

    ring = farm["a"]
    res = cli("query", "run", "ring-members", "--param", f"ring_id={ring['ring']}", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert sorted(r["account_id"] for r in rows) == ring["members"]
    in_farm = sum(farm["truth_ring"][r["account_id"]] == ring["truth"] for r in rows)
    assert in_farm / len(rows) >= 0.9
    assert all(r["evidence"] and r["status"] == "suspected" for r in rows)
    assert all(r["created_at"].endswith("Z") for r in rows)  # DateTime -> ISO text
    acc = delivery(world, "payment_methods")
    n_cards = acc[acc["account_id"] == rows[0]["account_id"]]["payment_fingerprint"].nunique()
    assert rows[0]["payment_methods"] == n_cards


def test_within_k_hops_lists_each_node_at_its_distance(world, driver, farm):
    ring = farm["a"]
    start = ring["members"][0]
    pay, ips, tpl = (delivery(world, n) for n in ("payment_methods", "ip_sightings", "prompt_templates"))
    expected1 = {("PaymentMethod", v) for v in pay.loc[pay["account_id"] == start, "payment_fingerprint"]}
    expected1 |= {("IP", canonical_ip(v)) for v in ips.loc[ips["account_id"] == start, "ip"]}
    expected1 |= {("PromptTemplate", v) for v in tpl.loc[tpl["account_id"] == start, "template_hash"]}
    expected1 |= {("Ring", r) for r, _ in farm["member_of"][start]}

    _, one = run_query(driver, "within-k-hops", account_id=start, k=1)
    assert {(r["kind"], r["key"]) for r in one} == expected1
    assert {r["hops"] for r in one} == {1} and not any(r["expanded"] for r in one)

    _, two = run_query(driver, "within-k-hops", account_id=start, k=2, max_fanout=200)
    assert [r for r in two if r["hops"] == 1] == [{**r, "expanded": r["degree"] <= 200} for r in one]
    second = {(r["kind"], r["key"]) for r in two if r["hops"] == 2}
    # cross-check with a plain two-step pattern: through non-hub neighbours, not already adjacent
    plain = read(
        driver,
        """
        MATCH (s:Account {id: $start})--(x)--(n)
        WHERE n <> s AND COUNT { (x)--() } <= 200 AND NOT EXISTS { (s)--(n) }
        RETURN DISTINCT labels(n)[0] AS kind,
               coalesce(n.id, n.fingerprint, n.address, n.hash, n.name, toString(n.number)) AS key
    """,
        start=start,
    )
    assert second == {(r["kind"], r["key"]) for r in plain}
    mates = {key for kind, key in second if kind == "Account"}
    assert set(ring["members"]) - {start} <= mates  # through the ring node
    truth_mates = {a for a, r in farm["truth_ring"].items() if r == ring["truth"] and a != start}
    assert len(mates & truth_mates) >= 0.8 * len(truth_mates)  # the planted farm is two hops away

    _, three = run_query(driver, "within-k-hops", account_id=start, k=3)
    assert max(r["hops"] for r in three) == 3
    assert {(r["kind"], r["key"], r["hops"]) for r in three if r["hops"] <= 2} == {
        (r["kind"], r["key"], r["hops"]) for r in two
    }


def test_capability_mix_matches_the_delivery(world, driver, farm):
    ring = farm["a"]
    _, rows = run_query(driver, "ring-capability-mix")
    mine = [r for r in rows if r["ring_id"] == ring["ring"]]
    assert mine and {r["status"] for r in rows} <= {"suspected", "confirmed", "blocked"}
    tpl = delivery(world, "prompt_templates")
    # a row without capability takes the template's (from any row), as the graph does
    known = tpl[tpl["capability"] != ""].groupby("template_hash")["capability"].last()
    tpl = tpl[tpl["account_id"].isin(ring["members"])].copy()
    tpl["requests"] = tpl["requests"].astype(int)
    tpl["capability"] = tpl["capability"].where(tpl["capability"] != "", tpl["template_hash"].map(known))
    tpl["capability"] = tpl["capability"].fillna("unknown")
    expected = tpl.groupby("capability").agg(requests=("requests", "sum"), accounts=("account_id", "nunique"))
    assert {r["capability"]: (r["requests"], r["accounts"]) for r in mine} == {
        c: (int(v.requests), int(v.accounts)) for c, v in expected.iterrows()
    }
    assert abs(sum(r["share"] for r in mine) - 1) < 0.01
    # a distillation farm asks mostly for capability-eliciting work
    eliciting = sum(
        r["share"] for r in mine if r["capability"] in ("reasoning", "coding", "tool_use", "agentic", "extraction")
    )
    assert eliciting >= 0.6


def test_young_account_templates_match_the_delivery(world, driver, farm):
    days, least, share = 7, 5, 0.8
    _, rows = run_query(driver, "young-account-templates", max_age_days=days, min_accounts=least, min_young_share=share)
    acc = delivery(world, "accounts")
    tpl = delivery(world, "prompt_templates")
    tpl["first_seen"] = pd.to_datetime(tpl["first_seen"], utc=True)
    pairs = tpl.groupby(["template_hash", "account_id"], as_index=False)["first_seen"].min()
    pairs = pairs.merge(acc.assign(created=pd.to_datetime(acc["created_at"], utc=True))[["account_id", "created"]])
    pairs["young"] = (pairs["first_seen"] - pairs["created"]).dt.total_seconds() <= days * 86400
    g = pairs.groupby("template_hash").agg(accounts=("account_id", "size"), young=("young", "sum"))
    g = g[(g["accounts"] >= least) & (g["young"] >= share * g["accounts"])]
    assert {r["template_hash"]: (r["accounts"], r["young_accounts"]) for r in rows} == {
        h: (int(v.accounts), int(v.young)) for h, v in g.iterrows()
    }
    assert all(r["young_share"] >= share for r in rows)
    # planted farms burn fresh accounts on their templates: some listed templates are theirs
    users = pairs.groupby("template_hash")["account_id"].apply(list)
    farm_templates = [h for h in g.index if sum(bool(farm["truth_ring"][a]) for a in users[h]) >= 0.8 * len(users[h])]
    assert farm_templates


def test_signup_bursts_match_the_delivery(world, driver, farm):
    hours, least, ratio = 24, 5, 5.0
    _, rows = run_query(
        driver, "signup-bursts", since=date(2025, 1, 1), hours=hours, by="country", min_accounts=least, min_ratio=ratio
    )
    acc = delivery(world, "accounts")
    created = pd.to_datetime(acc["created_at"], utc=True)
    acc = acc[created >= pd.Timestamp("2025-01-01", tz="UTC")].copy()
    acc["w"] = ((created[acc.index] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)) // (hours * 3600)
    windows = acc["w"].max() - acc["w"].min() + 1
    per = acc.groupby(["country", "w"]).size()
    mean = acc.groupby("country").size() / windows
    expected = {
        (datetime.fromtimestamp(int(w) * hours * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), c, int(n))
        for (c, w), n in per.items()
        if n >= least and n >= ratio * mean[c]
    }
    assert {(r["window_start"], r["group"], r["accounts"]) for r in rows} == expected
    # a planted farm that signed up in a run shows as a burst of its country
    acc["farm"] = acc["account_id"].map(farm["truth_ring"]).astype(bool)
    farm_share = acc.groupby(["country", "w"])["farm"].mean()
    burst_keys = {(c, int(w)) for (c, w), n in per.items() if n >= least and n >= ratio * mean[c]}
    assert max(farm_share[k] for k in burst_keys) >= 0.8
    assert any(r["in_rings"] >= least for r in rows)


def _rings_per(frame, key, member_of, statuses):
    out = defaultdict(set)
    for account, value in zip(frame["account_id"], frame[key], strict=True):
        for ring, status in member_of.get(account, ()):
            if status in statuses:
                out[value].add(ring)
    return {v: sorted(r) for v, r in out.items() if len(r) >= 2}


def test_cross_ring_queries_match_the_delivery_and_find_planted_links(world, driver, farm):
    member_of = farm["member_of"]
    pay = delivery(world, "payment_methods")
    ips = delivery(world, "ip_sightings")
    ips["ip"] = ips["ip"].map(canonical_ip)
    intel = delivery(world, "ip_intel")
    intel["ip"] = intel["ip"].map(canonical_ip)
    proxy_of = dict(zip(intel["ip"], intel["proxy_provider"], strict=True))

    _, rows = run_query(driver, "bins-behind-rings", statuses=ALL_STATUSES)
    with_bin = pay[pay["bin"] != ""]
    assert rows and {r["bin"]: r["rings"] for r in rows} == _rings_per(with_bin, "bin", member_of, ALL_STATUSES)

    _, rows = run_query(driver, "addresses-across-rings", statuses=ALL_STATUSES)
    assert rows and {r["address"]: r["rings"] for r in rows} == _rings_per(ips, "ip", member_of, ALL_STATUSES)

    _, rows = run_query(driver, "proxy-exits-across-rings", statuses=ALL_STATUSES)
    exits = ips[ips["ip"].map(lambda ip: bool(proxy_of.get(ip)))]
    assert rows and {(r["proxy"], r["address"]): r["rings"] for r in rows} == {
        (proxy_of[ip], ip): rings for ip, rings in _rings_per(exits, "ip", member_of, ALL_STATUSES).items()
    }

    _, rows = run_query(driver, "rings-sharing-payment", statuses=ALL_STATUSES)
    pairs = defaultdict(set)
    for fp, rings in _rings_per(pay, "payment_fingerprint", member_of, ALL_STATUSES).items():
        for i, a in enumerate(rings):
            for b in rings[i + 1 :]:
                pairs[(a, b)].add(fp)
    assert {(r["ring_a"], r["ring_b"]): r["fingerprints"] for r in rows} == {k: sorted(v) for k, v in pairs.items()}

    # plant one card (of a fresh BIN) and one proxy exit shared by the two farms
    a, b = farm["a"], farm["b"]
    x, y = a["members"][-1], b["members"][-1]
    write(
        driver,
        """
        MATCH (x:Account {id: $x}), (y:Account {id: $y})
        MERGE (p:PaymentMethod {fingerprint: $fp}) SET p.bin = '99999901', p.method_type = 'prepaid_card'
        MERGE (x)-[:PAID_WITH]->(p) MERGE (y)-[:PAID_WITH]->(p)
        MERGE (i:IP {address: '203.0.113.77'}) SET i.ip_type = 'proxy', i.proxy_provider = 'PlantedProxy'
        MERGE (v:Proxy {name: 'PlantedProxy'}) MERGE (i)-[:EXIT_OF]->(v)
        MERGE (x)-[:USED_IP {requests: 3}]->(i) MERGE (y)-[:USED_IP {requests: 5}]->(i)
    """,
        x=x,
        y=y,
        fp="planted-fingerprint-0001",
    )
    pair = sorted([a["ring"], b["ring"]])
    _, rows = run_query(driver, "rings-sharing-payment")
    assert {
        "ring_a": pair[0],
        "status_a": "suspected",
        "ring_b": pair[1],
        "status_b": "suspected",
        "shared_methods": 1,
        "fingerprints": ["planted-fingerprint-0001"],
    } in rows
    _, rows = run_query(driver, "bins-behind-rings")
    assert [r["rings"] for r in rows if r["bin"] == "99999901"] == [pair]
    _, rows = run_query(driver, "proxy-exits-across-rings")
    assert [(r["address"], r["rings"], r["accounts"]) for r in rows if r["proxy"] == "PlantedProxy"] == [
        ("203.0.113.77", pair, 2)
    ]
    _, rows = run_query(driver, "addresses-across-rings", ip_types=["proxy"])
    assert "203.0.113.77" in {r["address"] for r in rows} and all(r["ip_type"] == "proxy" for r in rows)
    _, rows = run_query(driver, "addresses-across-rings", min_rings=3, ip_types=["proxy"])
    assert "203.0.113.77" not in {r["address"] for r in rows}


def test_new_ring_members_lists_an_account_that_joined_a_known_ring(world, driver, farm):
    ring = farm["b"]
    first = read(driver, "MATCH (r:Ring {id: $r}) RETURN r.first_detected AS t", r=ring["ring"])[0]["t"].to_native()
    since = first.date()
    _, rows = run_query(driver, "new-ring-members", since=since)
    assert rows == []  # the first run founded every ring: nobody joined a known one yet
    late = ring["members"][1]
    # what graph.detection.rings writes when a later run adds an account to a ring it matched
    write(
        driver,
        """
        MATCH (:Account {id: $a})-[m:MEMBER_OF]->(r:Ring {id: $r})
        SET m.joined_at = r.first_detected + duration('PT6H'), m.joined_run = 'run-later', m.is_new = true
    """,
        a=late,
        r=ring["ring"],
    )
    _, rows = run_query(driver, "new-ring-members", since=since)
    assert [(r["ring_id"], r["account_id"], r["joined_run"]) for r in rows] == [(ring["ring"], late, "run-later")]
    _, rows = run_query(driver, "new-ring-members", since=since + timedelta(days=2))
    assert rows == []
    _, rows = run_query(driver, "new-ring-members", since=since, statuses=["blocked"])
    assert rows == []


def test_a_query_that_writes_needs_write(world, driver, tmp_path):
    f = tmp_path / "create.cypher"
    f.write_text("CREATE (n:QueryTestScratch {v: $v}) RETURN n.v AS v\n")
    before = counts(driver)
    refused = run_cli("query", "run", "--file", str(f), "--param", "v=1")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: this query writes; rerun with --write if you mean it"
    assert counts(driver) == before
    done = cli("query", "run", "--file", str(f), "--param", "v:int=7", "--write", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"v": 7}]
    assert read(driver, "MATCH (n:QueryTestScratch) RETURN n.v AS v") == [{"v": 7}]
    write(driver, "MATCH (n:QueryTestScratch) DELETE n")
    # the read session is the safety net under the planner check
    q = library.parse("MATCH (n:QueryTestScratch) DETACH DELETE n")
    with session(driver) as s, pytest.raises(library.WritesError):
        library.stream(s, q, {})


def test_a_parameter_holding_cypher_is_only_a_value(world, driver, tmp_path):
    evil = "x' }) DETACH DELETE n //"
    before = counts(driver)
    res = cli("query", "run", "ring-members", "--param", f"ring_id={evil}", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    f = tmp_path / "echo.cypher"
    f.write_text(
        "// @param id: string\nMATCH (a:Account) WHERE a.id = $id OR $id = 'never'\nRETURN a.id AS id, $id AS given"
    )
    res = cli(
        "query", "run", "--file", str(f), "--param", "id=' OR 1=1 MATCH (n) DETACH DELETE n //", "--format", "json"
    )
    assert res.returncode == 0 and json.loads(res.stdout) == []
    _, rows = run_query(driver, "block-list", statuses=[evil, "blocked') OR true //"])
    assert rows == []
    _, rows = run_query(driver, "within-k-hops", account_id=evil, k=4)
    assert rows == []
    assert counts(driver) == before


def test_output_streams_csv_and_json_safely(world, driver, tmp_path):
    f = tmp_path / "values.cypher"
    f.write_text(
        "RETURN $a AS a, $b AS b, $c AS c, -1 AS n, [$a] AS l, date('2026-01-02') AS d, "
        "datetime('2026-01-02T03:04:05Z') AS t"
    )
    args = [
        "query",
        "run",
        "--file",
        str(f),
        "--param",
        'a==HYPERLINK("http://x")',
        "--param",
        "b=@SUM(A1)",
        "--param",
        "c=plain",
    ]
    res = cli(*args, "--format", "csv")
    assert res.returncode == 0, res.stderr
    header, row = list(csv.reader(io.StringIO(res.stdout)))
    assert header == ["a", "b", "c", "n", "l", "d", "t"]
    assert row == [
        '\'=HYPERLINK("http://x")',
        "'@SUM(A1)",
        "plain",
        "-1",
        '["=HYPERLINK(\\"http://x\\")"]',
        "2026-01-02",
        "2026-01-02T03:04:05Z",
    ]
    res = cli(*args, "--format", "json")
    assert json.loads(res.stdout) == [
        {
            "a": '=HYPERLINK("http://x")',
            "b": "@SUM(A1)",
            "c": "plain",
            "n": -1,
            "l": ['=HYPERLINK("http://x")'],
            "d": "2026-01-02",
            "t": "2026-01-02T03:04:05Z",
        }
    ]
    out = tmp_path / "hops.json"
    res = cli("query", "run", "signup-bursts", "--param", "hours=6", "--out", str(out))
    assert res.returncode == 0, res.stderr
    _, rows = run_query(driver, "signup-bursts", hours=6)
    got = json.loads(out.read_text())
    assert rows and [list(r) for r in got] == [list(r) for r in rows]
    assert [(r["window_start"], r["group"], r["accounts"]) for r in got] == [
        (r["window_start"], r["group"], r["accounts"]) for r in rows
    ]
    assert not (tmp_path / "hops.json.part").exists()


def test_block_list_exports_round_trip(world, driver, farm, tmp_path):
    ring = farm["a"]
    analyst = '=HYPERLINK("http://evil.example","click")'
    block(driver, ring["ring"], analyst, reason="+farm of prepaid cards")
    frame = block_list(driver)
    assert sorted(frame["account_id"]) == ring["members"] and set(frame["status"]) == {"blocked"}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")

    out = tmp_path / "block.json"
    res = cli("export", "--out", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text()) == records
    assert {r["decided_by"] for r in records} == {analyst}  # JSON is exact

    out = tmp_path / "block.csv"
    res = run_cli("export", "--out", str(out))
    assert res.returncode == 0, res.stderr
    with out.open(newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [r["account_id"] for r in back] == list(frame["account_id"])
    assert {r["decided_by"] for r in back} == {"'" + analyst}  # CSV cell is text, never a formula
    for got, want in zip(back, records, strict=True):
        assert (got["ring_id"], got["status"], got["decided_at"], got["decision_id"]) == (
            want["ring_id"],
            want["status"],
            want["decided_at"],
            want["decision_id"],
        )
        assert float(got["ring_score"]) == pytest.approx(want["ring_score"])
    assert all(r["decided_at"] for r in back)

    res = cli("query", "run", "block-list", "--format", "json")
    rows = json.loads(res.stdout)
    assert [(r["account_id"], r["ring_id"], r["decided_by"]) for r in rows] == [
        (r["account_id"], r["ring_id"], r["decided_by"]) for r in records
    ]

    _, rows = run_query(driver, "ring-decisions", ring_id=ring["ring"])
    assert [(r["actor"], r["previous_status"], r["status"]) for r in rows] == [(analyst, "suspected", "blocked")]
    _, rows = run_query(driver, "rings", statuses=["blocked"])
    assert [r["ring_id"] for r in rows] == [ring["ring"]] and rows[0]["decided_by"] == analyst
    res = cli("export", "--out", str(tmp_path / "x.csv"), "--status", "nonsense")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "--status" in res.stderr
