"""TAXII 2.1 sharing against a real server on loopback (OASIS medallion): a lab pushes the
indicators of a blocked farm to a collection, a partner pulls them and flags the same
entities; bad addresses and refused credentials end in one line."""

from __future__ import annotations

import pytest
from conftest import run_cli
from delivery import FARM_IPS, farm_delivery, write_delivery
from taxii_server import PASSWORD, USER, run_taxii_server

from graph.db.connection import read
from graph.detection.detect import detect
from graph.review import audit
from graph.review.actors import Actor
from graph.review.decisions import decide
from graph.sharing.indicators import clear_flags
from ingest.load import ingest

KEY = "a share key agreed between the two labs, long enough"
LEAD = Actor(name="lee", role="lead", channel="cli")


@pytest.fixture(scope="module")
def taxii(tmp_path_factory):
    with run_taxii_server(tmp_path_factory.mktemp("taxii")) as url:
        yield url


@pytest.fixture()
def blocked_farm(empty_db, tmp_path):
    ids = [f"farm_{i:03d}" for i in range(10)]
    ingest(empty_db, write_delivery(farm_delivery(ids, day=1, benign=40), tmp_path / "d"), tmp_path / "r.json")
    detect(empty_db, log=lambda _: None)
    ring = read(empty_db, "MATCH (r:Ring) RETURN r.id AS id")[0]["id"]
    decide(empty_db, LEAD, ring, "blocked", "the farm")
    return empty_db


def test_push_then_pull_flags_the_farms_entities(blocked_farm, taxii, monkeypatch):
    from graph.sharing.taxii import pull, push

    driver = blocked_farm
    pushed = push(driver, LEAD, taxii, ["blocked"], KEY, USER, PASSWORD)
    assert pushed["objects"] > 0 and pushed["status"] == "complete" and pushed["failed"] == 0
    summary = pull(driver, LEAD, taxii, "partner-lab", KEY, USER, PASSWORD)
    assert summary["objects"] == pushed["objects"]
    flagged = read(driver, "MATCH (i:IP) WHERE i.partner_flags IS NOT NULL RETURN i.address AS ip ORDER BY ip")
    assert [r["ip"] for r in flagged] == sorted(FARM_IPS)
    actions = [e["action"] for e in audit.events(driver)]
    assert "taxii.push" in actions and "taxii.pull" in actions
    assert clear_flags(driver, "partner-lab", actor=LEAD) > 0


def test_the_cli_reads_secrets_from_the_environment_and_fails_in_one_line(blocked_farm, taxii):
    env = {"RINGWATCH_SHARE_KEY": KEY, "RINGWATCH_TAXII_PASSWORD": PASSWORD}
    res = run_cli("taxii", "push", taxii, "--user", USER, env=env)
    assert res.returncode == 0, res.stderr
    res = run_cli("taxii", "pull", taxii, "--user", USER, "--source", "lab-two", env=env)
    assert res.returncode == 0 and "indicators matched" in res.stderr, res.stderr
    res = run_cli(
        "taxii", "pull", taxii, "--user", USER, "--source", "x", env={**env, "RINGWATCH_TAXII_PASSWORD": "wrong"}
    )
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "TAXII pull" in res.stderr
    res = run_cli("taxii", "push", "http://127.0.0.1:9/not-a-collection", env=env)
    assert res.returncode == 1 and "collections/ID" in res.stderr
