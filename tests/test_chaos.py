"""Chaos: processes and the database killed at random points, then the same command again.

- `ringwatch ingest` SIGKILLed at CHAOS_INGEST_KILLS random points of a load (a random
  number of committed batches, seeded), and the Neo4j server SIGKILLed at
  CHAOS_SERVER_KILLS: each time the load is run again and the graph compared with one
  clean load (counts, summed requests, a fingerprint of every template edge).
- `ringwatch detect` SIGKILLed mid-run, and the server killed under it: the rings,
  memberships and decisions are exactly as before, and the detection lock left by the dead
  run does not block the next one.

bench/chaos.py runs the long version (20 + 5 kills on a generated world).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli
from delivery import farm_delivery, graph_digest, small_delivery, write_delivery

from graph.db import locks, server
from graph.db.connection import local_bolt_port, open_driver, read, session
from graph.review.actors import Actor
from graph.review.decisions import decide
from ingest.load import ingest

SEED = int(os.environ.get("CHAOS_SEED", "2026"))
INGEST_KILLS = int(os.environ.get("CHAOS_INGEST_KILLS", "3"))
SERVER_KILLS = int(os.environ.get("CHAOS_SERVER_KILLS", "1"))
BATCH = 50
MARKERS = "MATCH (b:IngestBatch) RETURN count(b) AS n"


def cli(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ringwatch.cli", *args], cwd=ROOT, env=os.environ.copy(), text=True, **popen
    )


def wait_for(driver, query: str, done, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll `query` until `done(row)`; False if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if done(read(driver, query)[0]):
                return True
        except Exception:  # noqa: BLE001 - the server may be restarting
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {query}")


def restart_server_after_kill() -> None:
    pid = server.running_pid()
    assert pid, "the test server is not running"
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # this session started it: reap it
    except ChildProcessError:
        pass
    port, deadline = local_bolt_port(), time.monotonic() + 60
    while server.port_in_use(port) and time.monotonic() < deadline:  # a dying JVM still holds its port
        time.sleep(0.2)
    server.start()
    assert server.running_pid(), "the server must be running again for the later tests"


@pytest.fixture(scope="module")
def chaos_delivery(tmp_path_factory):
    """A delivery of 250 accounts (about 60 batches of 50 lines), written once."""
    folder = write_delivery(small_delivery(250, seed=31), tmp_path_factory.mktemp("chaos") / "d")
    return folder


def load(folder, report, batch_size: int = BATCH) -> None:
    """The load in this process, on a fresh driver (the server may have been restarted)."""
    driver = open_driver()
    try:
        ingest(driver, folder, report, batch_size=batch_size)
    finally:
        driver.close()


def test_ingest_killed_at_random_points_resumes_to_the_clean_graph(empty_db, chaos_delivery, tmp_path):
    load(chaos_delivery, tmp_path / "clean.json")
    clean, batches = graph_digest(empty_db), read(empty_db, MARKERS)[0]["n"]
    assert batches > 20
    rng = random.Random(SEED)
    kills = [("ingest", rng.randrange(1, batches - 3)) for _ in range(INGEST_KILLS)]
    kills += [("server", rng.randrange(1, batches - 3)) for _ in range(SERVER_KILLS)]
    for i, (victim, after) in enumerate(kills):
        server.reset()
        driver = open_driver()
        try:
            proc = cli(
                "ingest",
                str(chaos_delivery),
                "--report",
                str(tmp_path / f"k{i}.json"),
                "--batch-size",
                str(BATCH),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            reached = wait_for(driver, MARKERS, lambda row, after=after: row["n"] >= after, proc)
            assert reached, f"kill {i} ({victim} after {after} batches): the load ended first"
            if victim == "ingest":
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            else:
                restart_server_after_kill()
            _, stderr = proc.communicate(timeout=120)
            assert "Traceback" not in stderr, (i, victim, stderr)
            assert proc.returncode in (-signal.SIGKILL, 0, 1), (i, victim, stderr)
        finally:
            driver.close()
        partial = read(empty_db, MARKERS)[0]["n"]
        load(chaos_delivery, tmp_path / f"r{i}.json", batch_size=10_000)  # resumes the recorded batches
        assert graph_digest(empty_db) == clean, (i, victim, after, partial)


# --------------------------------------------------------------------------- detection

SNAPSHOT = """
RETURN
  COLLECT { MATCH (r:Ring) RETURN [r.id, properties(r)] } AS rings,
  COLLECT { MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring) RETURN [a.id, r.id, properties(m)] } AS members,
  COLLECT { MATCH (d:Decision)-[:ON]->(r:Ring) RETURN [r.id, properties(d)] } AS decisions,
  COLLECT { MATCH (run:DetectionRun) RETURN run.id } AS runs
"""
LOCK = "MATCH (l:Lock {name: 'detect'}) RETURN l.holder AS holder"


def snapshot(driver) -> dict:
    row = read(driver, SNAPSHOT)[0]
    return {k: sorted(map(repr, v)) for k, v in row.items()}


@pytest.fixture(scope="module")
def decided_world(neo4j_server, tmp_path_factory):
    """Two farms among benign accounts, detected once, one ring decided. Shared by the
    detection tests: each compares with its own snapshot, taken as it starts."""
    tmp_path = tmp_path_factory.mktemp("decided")
    server.reset()
    a, b = [f"farm_a_{i:03d}" for i in range(12)], [f"farm_b_{i:03d}" for i in range(8)]
    load(write_delivery(farm_delivery(a, day=1, benign=600), tmp_path / "d1"), tmp_path / "d1.json", 10_000)
    load(write_delivery(farm_delivery(b, day=2, with_intel=False), tmp_path / "d2"), tmp_path / "d2.json", 10_000)
    started = time.monotonic()
    first = run_cli("detect")
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    driver = open_driver()
    ring = read(driver, "MATCH (:Account {id: $a})-[:MEMBER_OF]->(r:Ring) RETURN r.id AS id", a=a[0])[0]["id"]
    decide(driver, Actor("alice", "analyst"), ring, "blocked", "a farm: prepaid cards, one hosting range")
    yield driver, took
    driver.close()


def detect_killed(driver, victim: str, delay: float) -> subprocess.Popen:
    proc = cli("detect", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    held = wait_for(driver, LOCK, lambda row: bool(row["holder"]), proc)
    assert held, f"detect ended before it took the lock: {proc.communicate()[1]}"
    time.sleep(delay)  # somewhere in reading, community detection, scoring or persisting
    assert proc.poll() is None, "detect finished before it could be killed"
    if victim == "detect":
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    else:
        restart_server_after_kill()
    proc.communicate(timeout=120)
    return proc


@pytest.mark.parametrize("victim", ["detect", "server"])
def test_killed_detection_changes_nothing_and_leaves_no_lock(decided_world, victim):
    driver, took = decided_world
    before = snapshot(driver)
    assert before["decisions"] and before["rings"]
    delay = random.Random(f"{SEED}-{victim}").uniform(0.0, 0.3)
    proc = detect_killed(driver, victim, delay)
    d = open_driver()
    try:
        now = snapshot(d)
        # a run lands whole or not at all: a killed one changed nothing; the driver may also carry a run
        # through a quick server restart (its transactions are retried), and then it landed as one run
        untouched = proc.returncode != 0 and now == before
        whole = (
            victim == "server"
            and proc.returncode == 0
            and now["decisions"] == before["decisions"]
            and len(now["runs"]) == len(before["runs"]) + 1
        )
        assert untouched or whole, (proc.returncode, proc.stderr)
        started = time.monotonic()
        again = run_cli("detect")  # not blocked by the dead run's lock
        assert again.returncode == 0, again.stderr
        assert time.monotonic() - started < took + 60
        assert read(d, LOCK)[0]["holder"] is None
        after = snapshot(d)
    finally:
        d.close()
    assert after["decisions"] == before["decisions"]  # the decision survives the next run too


# --------------------------------------------------------------------------- the lock itself


def _holder_process() -> subprocess.Popen:
    """A process that takes the `detect` lock and sleeps holding it."""
    code = (
        "import time\n"
        "from graph.db.connection import open_driver\n"
        "from graph.db import locks\n"
        "with open_driver() as d, locks.hold(d, 'detect', 'sleeper', ttl_s=4):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True
    )


def test_a_live_holder_keeps_the_lock_past_its_ttl_and_a_killed_one_frees_it_at_once(empty_db):
    holder = _holder_process()
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(6)  # longer than its ttl of 4 s: renewed, still held
        with pytest.raises(locks.LockBusy, match="sleeper"), locks.hold(empty_db, "detect", "me"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locks.hold(empty_db, "detect", "me"):  # its pid is gone: free at once, well before expiry
        assert read(empty_db, LOCK)[0]["holder"] == "me"
    assert read(empty_db, LOCK)[0]["holder"] is None


def test_a_dead_holder_on_another_host_is_waited_out(empty_db):
    with session(empty_db, write=True) as s:  # as a holder elsewhere leaves it when it dies
        s.run(
            "MERGE (l:Lock {name: 'detect'}) SET l.holder = 'far away', l.since = datetime(), "
            "l.expires = timestamp() + 3000, l.host = $host, l.pid = 1",
            host=f"not-{socket.gethostname()}",
        ).consume()
    with pytest.raises(locks.LockBusy, match="far away"), locks.hold(empty_db, "detect", "me"):
        pass
    started = time.monotonic()
    with locks.hold(empty_db, "detect", "me", wait_s=30):
        waited = time.monotonic() - started
    assert 1.0 < waited < 10
