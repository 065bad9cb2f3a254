"""Chaos: a load and detection killed at random points, and what the same command recovers.

    RINGWATCH_STATE=.ringwatch-bench RINGWATCH_BOLT_PORT=7787 python bench/chaos.py \\
        [--accounts 5000] [--seed 1] [--ingest-kills 20] [--server-kills 5] [--detect-kills 2] [--batch-size 1000]

A world is generated (`ingest.generate`, --accounts, --seed) and loaded once into the
emptied local database with `ringwatch ingest` (the clean graph). Then, each kill on an
emptied database:

    ingest   `ringwatch ingest` SIGKILLed once a random number of its batches committed
    server   the Neo4j server SIGKILLed at such a point (and started again)

and the same `ringwatch ingest` is run again; the graph is compared with the clean one
(node and relationship counts per type, summed requests, a fingerprint of every
USED_TEMPLATE edge). Rows lost is the sum over the counts of what the recovered graph has
fewer than the clean one; rows doubled, of what it has more (summed requests included).
Recovery time is the rerun's wall time (for a server kill, after the server is back; the
restart is reported apart).

Detection: on the clean graph `ringwatch detect` runs once and one ring is blocked
(graph.review.decisions.decide); then `ringwatch detect` is SIGKILLed (--detect-kills
times) and the server killed under it (as many times), each at a random moment after it
took its lock. After each kill the rings, memberships, decisions and detection runs must
be exactly as before, and the next `ringwatch detect` must run at once (the dead run's
lock does not hold it up).

Uses the configured local server (RINGWATCH_STATE, which must be set: it is emptied and
killed) and refuses a remote target. Writes bench/results/chaos.json. The random points
come from --seed. About 15 minutes for the defaults on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from graph.db import server  # noqa: E402
from graph.db.connection import local_bolt_port, open_driver, read, resolve_target  # noqa: E402

MARKERS = "MATCH (b:IngestBatch) RETURN count(b) AS n"
LOCK = "MATCH (l:Lock {name: 'detect'}) RETURN l.holder AS holder"
DIGEST = """
RETURN
  COUNT { MATCH (:Account) } AS accounts,
  COUNT { MATCH (:PaymentMethod) } AS payment_methods,
  COUNT { MATCH (:IP) } AS ips,
  COUNT { MATCH (:Proxy) } AS proxies,
  COUNT { MATCH (:ASN) } AS asns,
  COUNT { MATCH (:PromptTemplate) } AS templates,
  COUNT { MATCH ()-[:PAID_WITH]->() } AS paid_with,
  COUNT { MATCH ()-[:USED_IP]->() } AS used_ip,
  COUNT { MATCH ()-[:USED_TEMPLATE]->() } AS used_template,
  COUNT { MATCH ()-[:EXIT_OF]->() } AS exit_of,
  COUNT { MATCH ()-[:IN_ASN]->() } AS in_asn,
  COLLECT { MATCH ()-[e:USED_IP]->() RETURN sum(e.requests) }[0] AS ip_requests,
  COLLECT { MATCH ()-[e:USED_TEMPLATE]->() RETURN sum(e.requests) }[0] AS template_requests,
  COLLECT { MATCH (a:Account)-[e:USED_TEMPLATE]->(t)
            WITH a.id + '|' + t.hash + '|' + toString(e.requests) + '|' + toString(e.first_seen)
                 + '|' + toString(e.last_seen) AS line ORDER BY line
            RETURN size(reduce(s = '', l IN collect(line) | s + l)) }[0] AS template_fingerprint
"""
SNAPSHOT = """
RETURN
  COLLECT { MATCH (r:Ring) RETURN [r.id, properties(r)] } AS rings,
  COLLECT { MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring) RETURN [a.id, r.id, properties(m)] } AS members,
  COLLECT { MATCH (d:Decision)-[:ON]->(r:Ring) RETURN [r.id, properties(d)] } AS decisions,
  COLLECT { MATCH (run:DetectionRun) RETURN run.id } AS runs
"""
# A run that committed: one new DetectionRun, and every ring it kept carries it.
LANDED = """
MATCH (run:DetectionRun) WHERE NOT run.id IN $runs
WITH collect(run.id) AS new
RETURN size(new) = 1 AND all(r IN COLLECT { MATCH (r:Ring) WHERE r.status <> 'retired' RETURN r }
                             WHERE r.last_run = new[0] OR r.retired_run = new[0]) AS whole
"""
COUNTED = (
    "accounts",
    "payment_methods",
    "ips",
    "proxies",
    "asns",
    "templates",
    "paid_with",
    "used_ip",
    "used_template",
    "exit_of",
    "in_asn",
)


def q(query: str, **params) -> list[dict]:
    """A query on a fresh driver (the server may have been restarted since the last one)."""
    driver = open_driver()
    try:
        return read(driver, query, **params)
    finally:
        driver.close()


def cli(*args: str) -> subprocess.Popen:
    """`ringwatch ARGS` in the background; its stderr goes to a file (read with `said`)."""
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringwatch.cli", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def said(proc: subprocess.Popen) -> str:
    proc.wait(timeout=600)
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def run(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ringwatch.cli", *args], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True
    )
    return time.monotonic() - started, done


def wait_until(query: str, done, proc: subprocess.Popen, timeout: float = 600) -> bool:
    """Poll until done(row); False when `proc` ends first."""
    driver, deadline = open_driver(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if done(read(driver, query)[0]):
                    return True
            except Exception:  # noqa: BLE001 - a query racing the process is retried
                pass
            time.sleep(0.01)
    finally:
        driver.close()
    raise SystemExit(f"timed out waiting for {query}")


def kill_server() -> float:
    """SIGKILL the server and start it again; returns the restart's seconds."""
    pid = server.running_pid()
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    started = time.monotonic()
    while server.port_in_use(local_bolt_port()) and time.monotonic() - started < 60:
        time.sleep(0.2)
    server.start()
    return time.monotonic() - started


def strike(victim: str, proc: subprocess.Popen) -> tuple[float | None, str]:
    """SIGKILL the server (`victim` "server", restarted: its restart's seconds) or else the client
    process `proc`; returns (restart seconds or None, what the client said on stderr)."""
    restart = None
    if victim == "server":
        restart = kill_server()
    else:
        os.kill(proc.pid, signal.SIGKILL)
    return restart, said(proc)


def compare(clean: dict, got: dict) -> dict:
    lost = sum(max(0, clean[k] - got[k]) for k in COUNTED)
    doubled = sum(max(0, got[k] - clean[k]) for k in COUNTED)
    doubled += max(0, got["ip_requests"] - clean["ip_requests"]) + max(
        0, got["template_requests"] - clean["template_requests"]
    )
    lost += max(0, clean["ip_requests"] - got["ip_requests"]) + max(
        0, clean["template_requests"] - got["template_requests"]
    )
    return {"same_graph": got == clean, "rows_lost": lost, "rows_doubled": doubled}


def ingest_kills(args, folder: Path, work: Path, clean: dict, batches: int, rng: random.Random) -> list[dict]:
    plan = [("ingest", rng.randrange(1, batches - 2)) for _ in range(args.ingest_kills)]
    plan += [("server", rng.randrange(1, batches - 2)) for _ in range(args.server_kills)]
    rng.shuffle(plan)
    out = []
    for i, (victim, after) in enumerate(plan):
        server.reset()
        proc = cli("ingest", str(folder), "--report", str(work / f"kill{i}.json"), "--batch-size", str(args.batch_size))
        if not wait_until(MARKERS, lambda row, after=after: row["n"] >= after, proc):
            out.append({"victim": victim, "after_batches": after, "killed": False})
            continue
        restart, stderr = strike(victim, proc)
        committed = q(MARKERS)[0]["n"]
        seconds, rerun = run("ingest", str(folder), "--report", str(work / f"rerun{i}.json"))
        result = {
            "victim": victim,
            "after_batches": after,
            "killed": True,
            "committed_at_kill": committed,
            "exit_status": proc.returncode,
            "traceback": "Traceback" in stderr,
            "rerun_exit_status": rerun.returncode,
            "recovery_seconds": round(seconds, 2),
            **compare(clean, q(DIGEST)[0]),
        }
        if restart is not None:
            result["server_restart_seconds"] = round(restart, 2)
        out.append(result)
        print(json.dumps(result), flush=True)
    return out


def snapshot() -> dict:
    return {k: sorted(map(repr, v)) for k, v in q(SNAPSHOT)[0].items()}


def detect_kills(args, rng: random.Random) -> tuple[float, list[dict]]:
    from graph.review.actors import Actor
    from graph.review.decisions import decide

    first = cli("detect")
    if not wait_until(LOCK, lambda row: bool(row["holder"]), first):
        raise SystemExit(f"detect failed: {said(first)}")
    held = time.monotonic()
    if first.wait(timeout=1800) != 0:
        raise SystemExit(f"detect failed: {said(first)}")
    # A second, warm run (the first compiles and caches): from taking the lock to the end is
    # where the kills fall.
    again = cli("detect")
    if not wait_until(LOCK, lambda row: bool(row["holder"]), again):
        raise SystemExit(f"detect failed: {said(again)}")
    held = time.monotonic()
    if again.wait(timeout=1800) != 0:
        raise SystemExit(f"detect failed: {said(again)}")
    held = time.monotonic() - held
    ring = q("MATCH (r:Ring {status: 'suspected'}) RETURN r.id AS id ORDER BY r.score DESC LIMIT 1")[0]["id"]
    driver = open_driver()
    try:
        decide(driver, Actor("chaos", "lead"), ring, "blocked", "bench/chaos.py: a decision that must survive")
    finally:
        driver.close()
    out: list[dict] = []
    plan = ["detect"] * args.detect_kills + ["server"] * args.detect_kills
    for victim in plan:
        before = snapshot()
        runs_before = [r["id"] for r in q("MATCH (run:DetectionRun) RETURN run.id AS id")]
        proc = cli("detect")
        if not wait_until(LOCK, lambda row: bool(row["holder"]), proc):
            out.append({"victim": victim, "killed": False})
            continue
        time.sleep(rng.uniform(0.0, 0.7 * held))
        if proc.poll() is not None:
            out.append({"victim": victim, "killed": False})
            continue
        restart, stderr = strike(victim, proc)
        now = snapshot()
        unchanged = now == before
        # killed after its commit, before it exited: the run landed whole (one transaction)
        landed = q(LANDED, runs=runs_before)[0]["whole"]
        seconds, again = run("detect")
        result = {
            "victim": victim,
            "killed": True,
            "exit_status": proc.returncode,
            "traceback": "Traceback" in stderr,
            "unchanged": unchanged,
            "landed_whole": bool(landed and not unchanged),
            "next_run_exit_status": again.returncode,
            "next_run_seconds": round(seconds, 2),
            "lock_free_after": q(LOCK)[0]["holder"] is None,
            "decision_kept": snapshot()["decisions"] == now["decisions"] == before["decisions"],
        }
        if restart is not None:
            result["server_restart_seconds"] = round(restart, 2)
        out.append(result)
        print(json.dumps(result), flush=True)
    return held, out


def detect_summary(held_s: float, detections: list[dict]) -> dict:
    killed = [k for k in detections if k["killed"]]
    survived = [
        k
        for k in killed
        if (k["unchanged"] or k["landed_whole"])
        and k["next_run_exit_status"] == 0
        and k["lock_free_after"]
        and k["decision_kept"]
        and not k["traceback"]
    ]
    return {
        "kills": len(killed),
        "kills_of_detect": sum(k["victim"] == "detect" for k in killed),
        "kills_of_server": sum(k["victim"] == "server" for k in killed),
        "survived": len(survived),
        "unchanged": sum(k["unchanged"] for k in killed),
        "landed_whole": sum(k["landed_whole"] for k in killed),
        "next_run_seconds": spread([k["next_run_seconds"] for k in killed]),
        "lock_held_seconds_of_a_warm_run": round(held_s, 2),
        "not_killed": len(detections) - len(killed),
        "runs": detections,
    }


def spread(values: list[float]) -> dict:
    return (
        {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}
        if values
        else {}
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ingest-kills", type=int, default=20)
    p.add_argument("--server-kills", type=int, default=5)
    p.add_argument("--detect-kills", type=int, default=2, help="kills of detect, and as many of the server under it")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--workdir", default=None)
    p.add_argument("--out", default=str(RESULTS / "chaos.json"))
    p.add_argument("--detect-only", action="store_true", help="rerun the detection part into an existing --out")
    args = p.parse_args()
    if not os.environ.get("RINGWATCH_STATE"):
        raise SystemExit("chaos kills and empties its server: set RINGWATCH_STATE (and RINGWATCH_BOLT_PORT)")
    if os.environ.get("NEO4J_URI"):
        raise SystemExit("chaos empties the database: unset NEO4J_URI, use a local scratch server (RINGWATCH_STATE)")
    print(server.start(), flush=True)
    if not resolve_target().local:
        raise SystemExit("chaos empties the database: point it at a local scratch server (RINGWATCH_STATE)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ringwatch-chaos-"))
    folder = work / f"world-{args.accounts}-{args.seed}"
    from ingest.generate import generate_world

    if not (folder / "truth").exists():
        generate_world(folder, args.accounts, args.seed)
    rows = sum(max(0, sum(1 for _ in f.open("rb")) - 1) for f in folder.glob("*.csv"))
    rng = random.Random(args.seed)

    if args.detect_only:
        server.reset()
        run("ingest", str(folder), "--report", str(work / "for-detect.json"))
        held_s, detections = detect_kills(args, rng)
        result = json.loads(Path(args.out).read_text())
        result["detect"] = detect_summary(held_s, detections)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result["detect"].items() if k != "runs"}, indent=2))
        return
    server.reset()
    clean_seconds, done = run(
        "ingest", str(folder), "--report", str(work / "clean.json"), "--batch-size", str(args.batch_size)
    )
    if done.returncode != 0:
        raise SystemExit(f"the clean load failed: {done.stderr}")
    clean, batches = q(DIGEST)[0], q(MARKERS)[0]["n"]
    print(f"clean load: {rows:,} rows, {batches} batches, {clean_seconds:.1f} s", flush=True)

    loads = ingest_kills(args, folder, work, clean, batches, rng)
    server.reset()
    run("ingest", str(folder), "--report", str(work / "for-detect.json"))
    held_s, detections = detect_kills(args, rng)

    killed = [k for k in loads if k["killed"]]
    survived = [k for k in killed if k["same_graph"] and k["rerun_exit_status"] == 0 and not k["traceback"]]
    result = {
        "config": {
            "accounts": args.accounts,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "rows": rows,
            "batches": batches,
            "cpus": os.cpu_count(),
        },
        "clean_load_seconds": round(clean_seconds, 2),
        "ingest": {
            "kills": len(killed),
            "kills_of_ingest": sum(k["victim"] == "ingest" for k in killed),
            "kills_of_server": sum(k["victim"] == "server" for k in killed),
            "survived": len(survived),
            "rows_lost": sum(k["rows_lost"] for k in killed),
            "rows_doubled": sum(k["rows_doubled"] for k in killed),
            "recovery_seconds": spread([k["recovery_seconds"] for k in killed]),
            "recovery_seconds_after_ingest_kill": spread(
                [k["recovery_seconds"] for k in killed if k["victim"] == "ingest"]
            ),
            "recovery_seconds_after_server_kill": spread(
                [k["recovery_seconds"] for k in killed if k["victim"] == "server"]
            ),
            "server_restart_seconds": spread([k["server_restart_seconds"] for k in killed if k["victim"] == "server"]),
            "not_killed": len(loads) - len(killed),
            "runs": loads,
        },
        "detect": detect_summary(held_s, detections),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result["ingest"].items() if k != "runs"}
    print(
        json.dumps({"ingest": summary, "detect": {k: v for k, v in result["detect"].items() if k != "runs"}}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
