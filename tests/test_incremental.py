"""Incremental detection: after a small second delivery, re-detecting the region it touched
flags the accounts a full run of the same graph flags, and leaves the other rings alone."""

from __future__ import annotations

import pytest
from conftest import run_cli
from delivery import farm_delivery, write_delivery

from graph.db import server
from graph.db.connection import open_driver, read, write
from graph.detection.detect import detect
from graph.detection.evaluate import flagged_set
from graph.detection.incremental import MAX_REGION
from graph.detection.scoring import DEFAULT_THRESHOLD
from ingest.generate import generate_world
from ingest.generate.split import pick_later, split_delivery
from ingest.load import ingest

RINGS = """
MATCH (r:Ring)
RETURN r.id AS id, r.score AS score, r.size AS size, r.status AS status, r.last_run AS run, r.retired_run AS retired
"""
LAST_RUN = """
MATCH (r:DetectionRun) WITH r ORDER BY r.at DESC LIMIT 1
RETURN r.id AS id, r.kind AS kind, r.delivery AS delivery, r.region AS region, r.touched AS touched,
       r.replaced AS replaced, r.rings AS rings, r.flagged AS flagged, r.communities AS communities
"""


def rings(driver) -> dict[str, dict]:
    return {r["id"]: r for r in read(driver, RINGS)}


def quiet(_: str) -> None:
    pass


# Larger than the session's small world: in a world of 4,000 the background population (the
# ordinary users popular templates glue together) is below drop_background's 1,000 accounts,
# stays a watch ring, and any delivery touches it, so the region is most of the world.
ACCOUNTS = 10_000


@pytest.fixture(scope="module")
def runs(neo4j_server, tmp_path_factory):
    """A world of ACCOUNTS as two deliveries (about 1% of its accounts later, some of them
    members of three farms): the first loaded and detected in full, the second loaded,
    detected incrementally, then the same graph detected in full. What each step left."""
    tmp = tmp_path_factory.mktemp("incremental")
    generate_world(tmp / "world", accounts=ACCOUNTS, seed=11)
    later, farm = pick_later(tmp / "world" / "truth", 0.01, seed=3)
    split_delivery(tmp / "world", later, tmp / "first", tmp / "second")
    server.reset()
    driver = open_driver()
    try:
        ingest(driver, tmp / "first", tmp / "first.json")
        first = detect(driver, log=quiet)
        before = rings(driver)
        ingest(driver, tmp / "second", tmp / "second.json")
        lines: list[str] = []
        incremental = detect(driver, incremental=True, log=lines.append)
        after = rings(driver)
        incremental_run = read(driver, LAST_RUN)[0]
        flagged_incremental = flagged_set(driver, DEFAULT_THRESHOLD)
        full = detect(driver, log=quiet)
        flagged_full = flagged_set(driver, DEFAULT_THRESHOLD)
    finally:
        driver.close()
    return {
        "later": later,
        "farm": farm,
        "first": first,
        "before": before,
        "incremental": incremental,
        "lines": lines,
        "after": after,
        "incremental_run": incremental_run,
        "flagged_incremental": flagged_incremental,
        "full": full,
        "flagged_full": flagged_full,
    }


def test_the_run_after_a_small_delivery_is_incremental_and_says_so(runs):
    assert runs["first"].plan["kind"] == "full"
    run = runs["incremental_run"]
    assert run["kind"] == "incremental", runs["lines"]
    assert run["id"] == runs["incremental"].run_id
    assert run["touched"] >= len(runs["later"])
    assert run["touched"] <= run["region"] <= MAX_REGION * ACCOUNTS
    assert any(
        line.startswith("incremental: ") and f"{run['touched']:,} accounts touched" in line for line in runs["lines"]
    )
    assert runs["full"].plan["kind"] == "full"


def test_incremental_flags_what_a_full_run_of_the_same_graph_flags(runs):
    assert runs["flagged_incremental"], "nothing flagged"
    assert runs["farm"] & runs["flagged_incremental"], "no farm member of the second delivery was flagged"
    assert runs["flagged_incremental"] == runs["flagged_full"]


def test_incremental_totals_are_those_of_all_rings(runs):
    """The run records the flagged rings and accounts over the whole graph, as a full run does."""
    run = runs["incremental_run"]
    flagged = [r for r in runs["after"].values() if r["score"] >= DEFAULT_THRESHOLD and r["status"] != "retired"]
    assert run["rings"] == len(flagged)
    assert run["flagged"] == len(runs["flagged_incremental"])


def test_rings_outside_the_region_are_not_rewritten(runs):
    before, after = runs["before"], runs["after"]
    run_id = runs["incremental"].run_id
    # a ring of the region the run no longer finds is retired by it (its last_run stays)
    untouched = [rid for rid, r in after.items() if run_id not in (r["run"], r["retired"]) and rid in before]
    rewritten = [rid for rid, r in after.items() if r["run"] == run_id]
    assert untouched and rewritten
    assert len(rewritten) <= runs["incremental_run"]["replaced"] + len(runs["incremental"].rings)
    for rid in untouched:
        assert after[rid] == before[rid], rid
    # rings the region re-detected that existed before kept their ids
    assert set(rewritten) & set(before)
    assert len(set(after) - set(before)) < len(rewritten)


def test_nothing_delivered_changes_nothing_and_other_parameters_or_hand_edits_force_a_full_run(runs, tmp_path):
    driver = open_driver()
    try:
        detect(driver, log=quiet)  # whatever ran last, a run with the defaults now
        before = rings(driver)
        lines: list[str] = []
        again = detect(driver, incremental=True, log=lines.append)
        assert again.plan["kind"] == "incremental" and again.plan["region"] == 0
        assert rings(driver) == before
        lines.clear()
        other = detect(driver, params={"resolution": 1.1}, incremental=True, log=lines.append)
        assert other.plan["kind"] == "full"
        assert "full run: the previous run used other parameters or weights" in lines
        detect(driver, log=quiet)  # the default parameters again (full), then a link deleted by hand
        write(driver, "MATCH ()-[e:USED_TEMPLATE]->() WITH e LIMIT 1 DELETE e")
        lines.clear()
        assert detect(driver, incremental=True, log=lines.append).plan["kind"] == "full"
        assert "full run: the graph changed other than by ingest since the previous run" in lines
    finally:
        driver.close()
    full = run_cli("detect", "--full", "--top", "1")
    assert full.returncode == 0, full.stderr
    assert "full run\n" in full.stderr
    asked = run_cli("detect", "--incremental", "--top", "1")  # nothing delivered since
    assert asked.returncode == 0, asked.stderr
    assert "incremental: nothing delivered since run" in asked.stderr


def plan_operators(statement: str, **params) -> list[str]:
    """Each operator of the plan the database picks for `statement`, with its details (EXPLAIN:
    nothing runs)."""
    driver = open_driver()
    try:
        with driver.session() as s:
            plan = s.run("EXPLAIN " + statement, **params).consume().plan
    finally:
        driver.close()
    operators, stack = [], [plan]
    while stack:
        op = stack.pop()
        operators.append(f"{op['operatorType'].split('@')[0]} {op.get('args', {}).get('Details', '')}")
        stack.extend(op.get("children", []))
    return operators


def test_what_a_delivery_touched_is_found_by_index_seeks(runs):
    """The touched accounts come from the `delivery` indexes of accounts, links and entities,
    never from a scan of every account and its links (what the planner picked at 1,000,000
    accounts without the hints: 9.4 s instead of 0.13 s)."""
    from graph.detection.incremental import TOUCHED

    since = runs["incremental_run"]["delivery"] - 1
    operators = plan_operators(TOUCHED, since=since)
    assert not [op for op in operators if "Scan" in op.split()[0]], operators
    seeks = [op for op in operators if op.startswith("DirectedRelationshipIndexSeekByRange")]
    assert sorted(s.split("[e:")[1].split("(")[0] for s in seeks) == ["PAID_WITH", "USED_IP", "USED_TEMPLATE"]


def test_a_regions_links_carry_their_degree_in_the_whole_graph(runs):
    """Read for a region, the links are the full read's rows of its accounts, each with how
    many accounts of the whole graph use its entity; the population is every account."""
    from graph.detection.evidence import entity_degrees, read_evidence, read_region_evidence

    driver = open_driver()
    try:
        whole = read_evidence(driver)
        some = sorted(runs["later"])[:20] + sorted(whole.accounts["account"])[:200]
        region = read_region_evidence(driver, some)
    finally:
        driver.close()
    assert region.n_accounts == whole.n_accounts and len(region.accounts) == len(set(some))
    for name in ("payments", "ips", "templates"):
        full, part = getattr(whole, name), getattr(region, name)
        assert len(part) and set(part["account"]) <= set(some)
        mine = full[full["account"].isin(some)]
        assert len(part) == len(mine), name
        degree = entity_degrees(full)
        assert (part["degree"].to_numpy() == part["entity"].map(degree).to_numpy()).all(), name
        assert entity_degrees(part).to_dict() == degree.reindex(part["entity"].unique()).to_dict(), name


def test_networkx_runs_incrementally_and_numbers_its_communities_apart(runs, tmp_path):
    """Louvain (networkx) cannot be seeded: a region's communities get ids no earlier run
    used, so they never merge with a community outside as seeds of a later run."""
    driver = open_driver()
    try:
        assert detect(driver, backend="networkx", incremental=True, log=quiet).plan["kind"] == "full"  # new backend
        first = read(driver, LAST_RUN)[0]
        farm = [f"late_farm_{i:02d}" for i in range(8)]
        ingest(driver, write_delivery(farm_delivery(farm, day=20, benign=12), tmp_path / "d3"), tmp_path / "d3.json")
        lines: list[str] = []
        result = detect(driver, backend="networkx", incremental=True, log=lines.append)
        assert result.plan["kind"] == "incremental", lines
        assert result.plan["touched"] == 20
        stored = read(
            driver,
            "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN a.community AS c",
            ids=list(farm),
        )
        next_free = read(driver, "MATCH (r:DetectionRun) RETURN max(r.communities) AS n")[0]["n"]
        assert all(r["c"] is not None and r["c"] >= first["communities"] for r in stored)
        assert next_free > max(r["c"] for r in stored)
        assert set(farm) <= flagged_set(driver, DEFAULT_THRESHOLD)
        flagged = flagged_set(driver, DEFAULT_THRESHOLD)
        detect(driver, backend="networkx", log=quiet)
        assert flagged_set(driver, DEFAULT_THRESHOLD) == flagged
    finally:
        driver.close()
