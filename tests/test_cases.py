"""Case work against the real database: assignment (bulk), states, comments apart from
decisions, the "assigned to me" queue, and every change an audit event naming its author."""

from __future__ import annotations

import pytest
from conftest import run_cli
from delivery import farm_delivery, write_delivery

from graph.detection.detect import detect
from graph.review import audit
from graph.review.actors import Actor, PermissionDenied
from graph.review.cases import CaseError, assign, case_queue, comment, comments, set_state
from graph.review.decisions import decide, history
from ingest.load import ingest

ALICE = Actor(name="alice", role="analyst")
VIEWER = Actor(name="vic", role="viewer")


@pytest.fixture()
def ring(empty_db, tmp_path):
    ids = [f"farm_{i:03d}" for i in range(10)]
    ingest(empty_db, write_delivery(farm_delivery(ids, day=1, benign=40), tmp_path / "d"), tmp_path / "r.json")
    detect(empty_db, log=lambda _: None)
    (row,) = case_queue(empty_db, ["suspected"])
    return empty_db, row["ring"]


def test_a_case_is_assigned_worked_commented_and_decided(ring):
    driver, ring_id = ring
    assert case_queue(driver, ["suspected"], unassigned=True)[0]["state"] == "open"
    assert assign(driver, ALICE, [ring_id], "alice") == 1
    assert assign(driver, ALICE, [ring_id], "alice") == 0  # no change, no event
    mine = case_queue(driver, ["suspected"], assignee="alice")
    assert [(r["ring"], r["state"]) for r in mine] == [(ring_id, "in progress")]
    assert case_queue(driver, ["suspected"], unassigned=True) == []
    comment(driver, ALICE, ring_id, "asked payments about the BIN")
    comment(driver, Actor("bob", "lead"), ring_id, "=cmd|' /C calc'!A0")  # stored as text, as typed
    assert [(c["actor"], c["text"]) for c in comments(driver, ring_id)] == [
        ("bob", "=cmd|' /C calc'!A0"),
        ("alice", "asked payments about the BIN"),
    ]
    assert history(driver, ring_id) == []  # comments are not decisions
    decide(driver, ALICE, ring_id, "blocked", "the farm")
    assert case_queue(driver, ["blocked"], state="decided")[0]["comments"] == 2
    actions = [(e["action"], e["actor"]) for e in audit.events(driver)]
    assert actions == [
        ("case.assign", "alice"),
        ("case.comment", "alice"),
        ("case.comment", "bob"),
        ("decide", "alice"),
    ]
    assert audit.verify(driver)[1] is None


def test_viewers_read_cases_but_do_not_work_them(ring):
    driver, ring_id = ring
    with pytest.raises(PermissionDenied):
        assign(driver, VIEWER, [ring_id], "vic")
    with pytest.raises(PermissionDenied):
        comment(driver, VIEWER, ring_id, "hello")
    with pytest.raises(CaseError, match="no ring"):
        set_state(driver, ALICE, "R-999999", "in progress")
    with pytest.raises(CaseError, match="case state"):
        set_state(driver, ALICE, ring_id, "closed")
    assert list(audit.events(driver)) == []


def test_the_case_cli(ring):
    driver, ring_id = ring
    res = run_cli("case", "assign", ring_id, "--to", "alice")
    assert res.returncode == 0, res.stderr
    res = run_cli("case", "comment", ring_id, "--text", "from the command line")
    assert res.returncode == 0, res.stderr
    res = run_cli("case", "list", "--assignee", "alice")
    assert ring_id in res.stdout and "in progress" in res.stdout
    res = run_cli("case", "state", ring_id, "--set", "closed")
    assert res.returncode == 2 and "closed" in res.stderr
    res = run_cli("case", "assign", "R-999999", "--to", "alice")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert [c["actor"].startswith("os:") for c in comments(driver, ring_id)] == [True]
