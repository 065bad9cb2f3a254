"""A block list you can trust, against the real database: decisions cover exactly what was
decided, re-detection never destroys one, roles and four eyes hold where the change is
made, the audit chain catches edits, deletions and reordering, one detection at a time.

Each test builds its own small graph in an emptied database (a hand-made farm of prepaid
cards, datacenter exits and private eliciting templates, among unrelated accounts).
"""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest
from conftest import run_cli
from delivery import farm_delivery, write_delivery

from graph.db import locks
from graph.db.connection import read, write
from graph.detection.detect import detect
from graph.library.export import block_list
from graph.review import audit
from graph.review.actors import Actor, PermissionDenied
from graph.review.decisions import DecisionError, approve, awaiting, decide, extend, history, undo
from graph.review.users import add_user, authenticate, disable_user
from ingest.load import ingest

ALICE = Actor(name="alice", role="analyst")
BOB = Actor(name="bob", role="lead")
CAROL = Actor(name="carol", role="lead")
VIEWER = Actor(name="vic", role="viewer")


def load(driver, tmp_path, name: str, frames: dict[str, pd.DataFrame]) -> None:
    ingest(driver, write_delivery(frames, tmp_path / name), tmp_path / f"{name}.json")


def ring_of(driver, account: str) -> str:
    rows = read(
        driver,
        """
        MATCH (:Account {id: $a})-[m:MEMBER_OF]->(r:Ring) WHERE m.active RETURN r.id AS id""",
        a=account,
    )
    assert len(rows) == 1, f"{account} is in {len(rows)} active rings"
    return rows[0]["id"]


@pytest.fixture()
def farm10(empty_db, tmp_path):
    """Ten farm accounts among 150 unrelated ones, detected: returns (driver, ring id, the ten ids)."""
    ids = [f"farm_{i:03d}" for i in range(10)]
    load(empty_db, tmp_path, "d1", farm_delivery(ids, day=1, benign=150))
    detect(empty_db, log=lambda _: None)
    ring = ring_of(empty_db, ids[0])
    members = read(empty_db, "MATCH (a)-[:MEMBER_OF]->(:Ring {id: $r}) RETURN a.id AS id ORDER BY id", r=ring)
    assert [m["id"] for m in members] == ids, "the hand-made farm should be found whole, and alone"
    return empty_db, ring, ids


def test_a_block_covers_the_accounts_decided_and_new_ones_await_review(farm10, tmp_path, monkeypatch):
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", "500")
    driver, ring, ten = farm10
    event = decide(driver, ALICE, ring, "blocked", "prepaid cards, one hosting range, private templates")
    assert event["member_count"] == 10 and not event["pending"]

    grown = [f"farm_{i:03d}" for i in range(10, 210)]
    load(driver, tmp_path, "d2", farm_delivery(grown, day=9, with_intel=False))
    detect(driver, log=lambda _: None)
    assert ring_of(driver, grown[0]) == ring  # the same farm, the same ring id

    listed = block_list(driver)
    assert sorted(listed["account_id"]) == ten
    assert set(listed["decided_by"]) == {"alice"}
    assert sorted(awaiting(driver, ring)) == sorted(grown)
    waiting = block_list(driver, ["awaiting"])
    assert sorted(waiting["account_id"]) == sorted(grown) and set(waiting["status"]) == {"awaiting review"}
    state = read(driver, "MATCH (r:Ring {id: $r}) RETURN r.status AS s, r.awaiting AS n, r.needs_review AS nr", r=ring)[
        0
    ]
    assert state == {"s": "blocked", "n": 200, "nr": True}  # 10 decided of 210 now: Jaccard 0.05

    with pytest.raises(DecisionError, match="changed since you loaded it"):
        extend(driver, BOB, ring, "same cards and templates", seen=grown[:50])
    extension = extend(driver, BOB, ring, "same cards and templates", seen=grown)
    assert extension["action"] == "extend" and extension["member_count"] == 200
    listed = block_list(driver)
    assert len(listed) == 210
    by = dict(zip(listed["account_id"], listed["decided_by"], strict=True))
    assert {by[a] for a in ten} == {"alice"} and {by[a] for a in grown} == {"bob"}
    assert awaiting(driver, ring) == []


def test_a_member_block_survives_redetections_that_drop_its_ring(farm10):
    driver, ring, ten = farm10
    picked = ten[:2]
    event = decide(driver, ALICE, ring, "blocked", "these two paid with the farm's card", members=picked)
    # the farm stops sharing anything: its cards, exits and templates are gone from the graph
    write(driver, "MATCH (a:Account)-[e:PAID_WITH|USED_IP|USED_TEMPLATE]->() WHERE a.id IN $ids DELETE e", ids=ten)
    for _ in range(3):
        detect(driver, log=lambda _: None)
    listed = block_list(driver)
    assert sorted(listed["account_id"]) == picked
    assert set(listed["decided_by"]) == {"alice"} and set(listed["decision_id"]) == {event["id"]}
    kept = read(driver, "MATCH (r:Ring {id: $r}) RETURN r.status AS s, r.retired_run IS NOT NULL AS retired", r=ring)
    assert kept == [{"s": "retired", "retired": True}]
    assert [h["id"] for h in history(driver, ring)] == [event["id"]]
    assert audit.verify(driver)[1] is None


def test_a_large_block_waits_for_a_second_lead(farm10, monkeypatch):
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", "5")
    driver, ring, ten = farm10
    pending = decide(driver, BOB, ring, "blocked", "the whole farm")
    assert pending["pending"] and block_list(driver).empty
    with pytest.raises(PermissionDenied, match="author"):
        approve(driver, BOB, pending["id"], "looks right to me")
    with pytest.raises(PermissionDenied, match="needs a lead"):
        approve(driver, ALICE, pending["id"], "an analyst cannot approve")
    with pytest.raises(DecisionError, match="waiting for approval"):
        decide(driver, ALICE, ring, "dismissed", "a second decision must wait")
    approval = approve(driver, CAROL, pending["id"], "checked every member")
    listed = block_list(driver)
    assert sorted(listed["account_id"]) == ten
    assert set(listed["decided_by"]) == {"bob"} and set(listed["approved_by"]) == {"carol"}
    with pytest.raises(DecisionError, match="not waiting"):
        approve(driver, CAROL, pending["id"], "twice")
    assert approval["approval_of"] == pending["id"]


def test_roles_are_checked_where_the_change_is_made(farm10):
    driver, ring, ten = farm10
    with pytest.raises(PermissionDenied, match="viewer"):
        decide(driver, VIEWER, ring, "blocked", "a viewer tries")
    mine = decide(driver, ALICE, ring, "confirmed", "confirmed farm")
    other = Actor(name="dora", role="analyst")
    with pytest.raises(PermissionDenied, match="needs a lead"):
        undo(driver, other, mine["id"], "not yours to undo")
    undone = undo(driver, BOB, mine["id"], "a lead may")
    assert undone["undo_of"] == mine["id"]
    assert read(driver, "MATCH (r:Ring {id: $r}) RETURN r.status AS s", r=ring)[0]["s"] == "suspected"
    assert (
        read(
            driver, "MATCH ()-[m:MEMBER_OF]->(:Ring {id: $r}) WHERE m.status IS NOT NULL RETURN count(*) AS n", r=ring
        )[0]["n"]
        == 0
    )
    assert [h["actor"] for h in history(driver, ring)] == ["bob", "alice"]


def test_a_decision_refuses_a_view_older_than_the_ring(farm10):
    driver, ring, _ = farm10
    with pytest.raises(DecisionError, match="re-detected"):
        decide(driver, ALICE, ring, "blocked", "stale page", seen_run="run-from-yesterday")
    assert block_list(driver).empty


def test_local_users_log_in_with_argon2_passwords(empty_db):
    add_user(empty_db, BOB, "erin", "analyst", "correct horse battery")
    stored = read(empty_db, "MATCH (u:User {name: 'erin'}) RETURN u.password_hash AS h")[0]["h"]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert authenticate(empty_db, "erin", "correct horse battery") == Actor("erin", "analyst", "app")
    assert authenticate(empty_db, "erin", "wrong horse battery") is None
    assert authenticate(empty_db, "nobody", "correct horse battery") is None
    disable_user(empty_db, BOB, "erin")
    assert authenticate(empty_db, "erin", "correct horse battery") is None
    actions = [e["action"] for e in audit.events(empty_db)]
    assert actions == ["user.add", "user.disable"]


def test_cli_users_read_the_password_from_stdin_and_decisions_name_the_os_user(farm10, tmp_path):
    driver, ring, ten = farm10
    res = run_cli("users", "add", "frank", "--role", "viewer", "--password-stdin", input="a long enough secret\n")
    assert res.returncode == 0, res.stderr
    assert authenticate(driver, "frank", "a long enough secret").role == "viewer"
    res = run_cli("users", "add", "gina", "--role", "superuser", "--password-stdin", input="x" * 20)
    assert res.returncode == 2 and "superuser" in res.stderr and "Traceback" not in res.stderr
    members = tmp_path / "members.txt"
    members.write_text("\n".join(ten[:3]) + "\n")
    res = run_cli("decide", ring, "--status", "blocked", "--reason", "bulk from a list", "--members", str(members))
    assert res.returncode == 0, res.stderr
    listed = block_list(driver)
    assert sorted(listed["account_id"]) == ten[:3]
    (who,) = set(listed["decided_by"])
    assert who.startswith("os:")
    event = history(driver, ring)[0]
    assert (event["channel"], event["member_count"]) == ("cli", 3)
    res = run_cli("decide", "R-999999", "--status", "blocked", "--reason", "no such ring")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "no ring" in res.stderr


@pytest.fixture()
def trail(farm10):
    """Five decisions on the farm's ring: a chain of audit events to tamper with."""
    driver, ring, ten = farm10
    for i, status in enumerate(["confirmed", "blocked", "dismissed", "blocked", "confirmed"]):
        decide(driver, ALICE, ring, status, f"look number {i}", members=ten[i : i + 2])
    count, problem = audit.verify(driver)
    assert (count, problem) == (5, None)
    return driver


def seq_of(driver, n: int) -> str:
    return read(driver, "MATCH (e:AuditEvent {seq: $n}) RETURN e.id AS id", n=n)[0]["id"]


def test_audit_verify_names_an_edited_event(trail):
    write(trail, "MATCH (e:AuditEvent {seq: 3}) SET e.reason = 'nothing to see'")
    _, problem = audit.verify(trail)
    assert problem.seq == 3 and "edited" in str(problem)


def test_audit_verify_names_a_deleted_event(trail):
    write(trail, "MATCH (e:AuditEvent {seq: 2}) DETACH DELETE e")
    _, problem = audit.verify(trail)
    assert problem.seq == 2 and "deleted" in str(problem)


def test_audit_verify_names_a_deleted_last_event(trail):
    write(trail, "MATCH (e:AuditEvent {seq: 5}) DETACH DELETE e")
    _, problem = audit.verify(trail)
    assert problem.seq == 5 and "deleted" in str(problem)


def test_audit_verify_names_swapped_events(trail):
    write(
        trail,
        """
        MATCH (a:AuditEvent {seq: 2}), (b:AuditEvent {seq: 4})
        SET a.seq = -1 SET b.seq = 2 SET a.seq = 4""",
    )
    _, problem = audit.verify(trail)
    assert problem.seq == 2


def test_a_consistently_rewritten_trail_is_caught_by_the_exported_copy(trail, tmp_path):
    copy = tmp_path / "trail.jsonl"
    res = run_cli("audit", "export", "--out", str(copy))
    assert res.returncode == 0, res.stderr
    assert len(copy.read_text().splitlines()) == 5 and not (tmp_path / "trail.jsonl.part").exists()
    # an attacker with the admin password edits event 4 and re-hashes every event after it
    write(trail, "MATCH (e:AuditEvent {seq: 4}) SET e.reason = 'rewritten'")
    prev = read(trail, "MATCH (e:AuditEvent {seq: 3}) RETURN e.hash AS h")[0]["h"]
    for seq in (4, 5):
        props = read(trail, "MATCH (e:AuditEvent {seq: $s}) RETURN properties(e) AS p", s=seq)[0]["p"]
        props["prev"] = prev
        prev = audit.event_hash(props)
        write(trail, "MATCH (e:AuditEvent {seq: $s}) SET e.prev = $p, e.hash = $h", s=seq, p=props["prev"], h=prev)
    write(trail, "MATCH (h:AuditHead) SET h.hash = $h", h=prev)
    assert audit.verify(trail)[1] is None  # the chain alone cannot tell
    res = run_cli("audit", "verify", "--against", str(copy))
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "audit event 4" in res.stderr and "reason" in res.stderr


def test_audit_cli_verifies_an_untouched_trail(trail):
    res = run_cli("audit", "verify")
    assert res.returncode == 0 and "intact: 5 events" in res.stderr


def test_exports_are_audit_events_and_files_appear_whole(farm10, tmp_path):
    driver, ring, ten = farm10
    decide(driver, ALICE, ring, "blocked", "farm")
    out = tmp_path / "block.json"
    res = run_cli("export", "--out", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert sorted(r["account_id"] for r in json.loads(out.read_text())) == ten
    last = list(audit.events(driver))[-1]
    assert (last["action"], last["rows"], last["channel"]) == ("export", 10, "cli")
    assert not (tmp_path / "block.json.part").exists()


def test_one_detection_at_a_time(farm10):
    driver, ring, ten = farm10
    with locks.hold(driver, "detect", "a test holding the lock"):
        with pytest.raises(locks.LockBusy, match="a test holding the lock"):
            detect(driver, log=lambda _: None)
        res = run_cli("detect")
        assert res.returncode == 1 and res.stderr.count("\n") == 1 and "in progress" in res.stderr
    errors: list[Exception] = []

    def run() -> None:
        try:
            detect(driver, log=lambda _: None, wait_s=300)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rings = read(
        driver,
        """
        MATCH (r:Ring) WHERE r.status <> 'retired'
        RETURN r.id AS id, COLLECT { MATCH (a)-[m:MEMBER_OF]->(r) WHERE m.active RETURN a.id } AS members""",
    )
    assert [r["id"] for r in rings] == [ring]
    assert sorted(rings[0]["members"]) == ten


def test_db_reset_refuses_a_remote_target_without_its_name(empty_db, neo4j_server):
    port = neo4j_server["RINGWATCH_BOLT_PORT"]
    from graph.db.connection import local_password

    env = {"NEO4J_URI": f"bolt://127.0.0.1:{port}", "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": local_password()}
    write(empty_db, "CREATE (:Account {id: 'keep-me', created_at: 0})")
    res = run_cli("db", "reset", "--yes", env=env)
    assert res.returncode == 1 and "--i-mean-remote neo4j" in res.stderr and res.stderr.count("\n") == 1
    assert read(empty_db, "MATCH (a:Account {id: 'keep-me'}) RETURN count(a) AS n")[0]["n"] == 1
    res = run_cli("db", "reset", "--yes", "--i-mean-remote", "neo4j", env=env)
    assert res.returncode == 0, res.stderr
    assert read(empty_db, "MATCH (a:Account {id: 'keep-me'}) RETURN count(a) AS n")[0]["n"] == 0


def test_a_status_set_behind_ringwatchs_back_fails_verification(trail):
    assert audit.verify(trail)[1] is None
    write(
        trail,
        """
        MATCH (a:Account {id: 'farm_009'})-[m:MEMBER_OF]->() SET m.status = 'blocked', m.decision = 'made-up'""",
    )
    _, problem = audit.verify(trail)
    assert problem.seq == 0 and "farm_009" in str(problem) and "no recorded decision" in str(problem)


def test_a_membership_moved_to_another_decision_fails_verification(trail):
    first = read(trail, "MATCH (d:Decision {seq: 1}) RETURN d.id AS id")[0]["id"]
    write(
        trail,
        """
        MATCH (a:Account {id: 'farm_008'})-[m:MEMBER_OF]->() SET m.status = 'confirmed', m.decision = $d""",
        d=first,
    )
    _, problem = audit.verify(trail)
    assert "farm_008" in str(problem) and "does not name them" in str(problem)
