"""Latency of the investigator app's own queries (graph/investigate/) on a generated world.

    python bench/app_latency.py [--accounts 100000] [--expansions 100] [--prepare]

Assumes the configured database (NEO4J_* or the local server) already holds a world that
was ingested and detected (`ringwatch generate`, `ingest`, `detect`). With --prepare and
an empty database, it generates a world of --accounts accounts (seed 1), ingests and
detects it first.

Times, as the app runs them:
  queue         the queue page: status counts, last run, population (filter options),
                queue count and the first page of rings
  ring view     everything the ring page runs (`investigate.ring.ring_view`: ring, drawn graph,
                members page, timeline, population, decision history), for the top rings
                by score and the largest ring
  expansion     `investigate.subgraph.expand` of ~N random drawn nodes (members, cards, IPs,
                templates, proxies) of random rings: p50 / p95
  search        an IP, an account id, a template-hash prefix, a proxy name

Each query is run once cold (plan compilation) before the timed runs. Targets: queue and
ring view < 1 s, expansion p95 < 100 ms (issue 16's; an earlier issue asked 300 ms).
Prints a table; writes bench/results/app_latency.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from graph.db.connection import open_driver, read  # noqa: E402
from graph.investigate import queue as iq  # noqa: E402
from graph.investigate import ring as ir  # noqa: E402
from graph.investigate import search as isr  # noqa: E402
from graph.investigate import subgraph as sg  # noqa: E402

TARGETS = {"queue": 1.0, "ring view": 1.0, "expansion": 0.1, "search": 1.0}


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def queue_page(driver) -> None:
    """What the queue page runs on load (default filter)."""
    iq.last_run(driver)
    iq.status_counts(driver)
    iq.capabilities(driver)
    flt = iq.QueueFilter()
    iq.queue_count(driver, flt)
    iq.queue(driver, flt)


def prepare(driver, accounts: int) -> None:
    from graph.db.schema import ensure_schema
    from graph.detection.detect import detect
    from ingest.generate import generate_world
    from ingest.load import ingest

    ensure_schema(driver)
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        print(f"generating {accounts:,} accounts ...", flush=True)
        generate_world(world, accounts=accounts, seed=1)
        print("ingesting ...", flush=True)
        ingest(driver, world, Path(tmp) / "ingest-report.json")
        print("detecting ...", flush=True)
        detect(driver, log=lambda line: print("  " + line, flush=True))


def measure_queue(driver, repeat: int) -> dict:
    """The queue page: once cold, then `repeat` timed runs."""
    cold, _ = timed(queue_page, driver)
    runs = [timed(queue_page, driver)[0] for _ in range(repeat)]
    return {"cold_s": cold, "p50_s": statistics.median(runs), "max_s": max(runs), "n": len(runs)}


def measure_ring_view(driver, rings: int, repeat: int) -> dict:
    """The ring page of the top `rings` rings by score and of the largest ring, `repeat` times each."""
    top = [r["id"] for r in read(driver, "MATCH (r:Ring) RETURN r.id AS id ORDER BY r.score DESC LIMIT $n", n=rings)]
    largest = read(driver, "MATCH (r:Ring) RETURN r.id AS id, r.size AS size ORDER BY r.size DESC LIMIT 1")[0]
    ring_ids = list(dict.fromkeys([*top, largest["id"]]))
    per_ring, parts = {}, {}
    cold, _ = timed(ir.ring_view, driver, ring_ids[0])
    all_runs = []
    for rid in ring_ids:
        runs = []
        for _ in range(repeat):
            seconds, view = timed(ir.ring_view, driver, rid)
            runs.append(seconds)
            for k, v in view["timings"].items():
                parts.setdefault(k, []).append(v)
        per_ring[rid] = {
            "size": int(view["ring"].get("size") or 0),
            "p50_s": statistics.median(runs),
            "max_s": max(runs),
        }
        all_runs += runs
    return {
        "cold_s": cold,
        "p50_s": statistics.median(all_runs),
        "p95_s": pct(all_runs, 95),
        "max_s": max(all_runs),
        "n": len(all_runs),
        "rings": per_ring,
        "parts_p50_s": {k: statistics.median(v) for k, v in parts.items()},
        "largest_ring": largest,
    }


def measure_expansion(driver, expansions: int, rnd: random.Random) -> dict:
    """`expansions` expansions of random drawn nodes of random top-200 rings, each into a copy of the
    ring's graph; the first expansion of each node kind compiles its statements and is not counted."""
    pool = [r["id"] for r in read(driver, "MATCH (r:Ring) RETURN r.id AS id ORDER BY r.score DESC LIMIT 200")]
    samples, kinds, cold = [], {}, {}
    graphs: dict[str, sg.Subgraph] = {}
    while len(samples) < expansions:
        rid = rnd.choice(pool)
        if rid not in graphs:
            graphs[rid] = sg.ring_graph(driver, ir.ring(driver, rid))
        g = graphs[rid]
        nid = rnd.choice(list(g.nodes))
        fresh = sg.Subgraph(max_nodes=g.max_nodes, ring_id=rid, nodes=dict(g.nodes))  # expand into a copy
        seconds, _ = timed(sg.expand, driver, fresh, nid)
        kind = nid.split(":")[0]
        if kind not in cold:
            cold[kind] = seconds
            continue
        samples.append(seconds)
        kinds.setdefault(kind, []).append(seconds)
    return {
        "cold_s": max(cold.values()),
        "p50_s": pct(samples, 50),
        "p95_s": pct(samples, 95),
        "max_s": max(samples),
        "n": len(samples),
        "by_kind_p95_s": {k: pct(v, 95) for k, v in kinds.items()},
    }


SEARCH_PROBE = """
MATCH (a:Account)-[:USED_IP]->(i:IP) WITH a, i LIMIT 1
MATCH (t:PromptTemplate) WITH a, i, t LIMIT 1
OPTIONAL MATCH (p:Proxy) WITH a, i, t, p LIMIT 1
RETURN a.id AS account, i.address AS ip, t.hash AS template, p.name AS proxy
"""


def measure_search(driver, repeat: int) -> dict:
    """Search for an IP, an account id, a template-hash prefix and a proxy name, with the entity and
    the rings it touches for the first hit; once cold, then `repeat` rounds."""
    probe = read(driver, SEARCH_PROBE)[0]
    terms = [probe["ip"], probe["account"], probe["template"][:10], probe["proxy"] or "proxy"]
    for term in terms:
        isr.search(driver, term)  # cold
    runs = []
    for _ in range(repeat):
        for term in terms:
            seconds, hits = timed(isr.search, driver, term)
            if len(hits):
                kind, key = hits.iloc[0]["kind"], hits.iloc[0]["key"]
                seconds += timed(isr.entity, driver, kind, key)[0] + timed(isr.rings_touching, driver, kind, key)[0]
            runs.append(seconds)
    return {"p50_s": statistics.median(runs), "p95_s": pct(runs, 95), "max_s": max(runs), "n": len(runs)}


def world_size(driver, accounts: int, prepare_it: bool) -> tuple[int, int]:
    """(accounts, rings) the database holds, after generating, ingesting and detecting a world if asked
    and empty; exits when there are no rings to measure."""
    held = read(driver, "MATCH (a:Account) RETURN count(a) AS n")[0]["n"]
    if held == 0 and prepare_it:
        prepare(driver, accounts)
        held = read(driver, "MATCH (a:Account) RETURN count(a) AS n")[0]["n"]
    n_rings = read(driver, "MATCH (r:Ring) RETURN count(r) AS n")[0]["n"]
    if n_rings == 0:
        raise SystemExit("no rings in the database: ingest and detect a world first (or pass --prepare)")
    if abs(held - accounts) > 0.05 * accounts:
        print(f"note: the database holds {held:,} accounts (expected about {accounts:,})", file=sys.stderr)
    return held, n_rings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000, help="world size the database is expected to hold")
    ap.add_argument("--expansions", type=int, default=100, help="random node expansions to time")
    ap.add_argument("--rings", type=int, default=5, help="top rings (by score) whose ring view is timed")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per queue/ring measurement")
    ap.add_argument("--prepare", action="store_true", help="generate + ingest + detect if the database is empty")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS / "app_latency.json")
    args = ap.parse_args()

    driver = open_driver()
    try:
        held, n_rings = world_size(driver, args.accounts, args.prepare)
        m = {
            "queue": measure_queue(driver, args.repeat),
            "ring view": measure_ring_view(driver, args.rings, args.repeat),
            "expansion": measure_expansion(driver, args.expansions, random.Random(args.seed)),
            "search": measure_search(driver, args.repeat),
        }
    finally:
        driver.close()
    results = {"accounts": held, "rings": n_rings, "targets_s": TARGETS, "measurements": m}
    for name, target in TARGETS.items():
        key = "p95_s" if name in ("expansion", "search") else "max_s"
        m[name]["target_s"] = target
        m[name]["meets_target"] = bool(m[name][key] < target)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    print(f"\nwritten {args.out}")


def print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = results["measurements"]
    table = Table(title=f"app query latency: {results['accounts']:,} accounts, {results['rings']:,} rings")
    for col in ("measurement", "n", "cold", "p50", "p95", "max", "target", "ok"):
        table.add_column(col, justify="left" if col == "measurement" else "right")

    def ms(v):
        return "" if v is None else f"{1000 * v:.0f} ms"

    for name, row in m.items():
        table.add_row(
            name,
            str(row["n"]),
            ms(row.get("cold_s")),
            ms(row.get("p50_s")),
            ms(row.get("p95_s")),
            ms(row.get("max_s")),
            f"< {ms(row['target_s'])}" + (" p95" if "p95_s" in row and name in ("expansion", "search") else " max"),
            "yes" if row["meets_target"] else "NO",
        )
    console = Console()
    console.print(table)
    parts = m["ring view"]["parts_p50_s"]
    console.print("ring view, p50 per part: " + ", ".join(f"{k} {ms(v)}" for k, v in parts.items()))
    console.print(
        "ring view per ring: "
        + ", ".join(f"{rid} ({r['size']:,} members) {ms(r['p50_s'])}" for rid, r in m["ring view"]["rings"].items())
    )
    console.print(
        "expansion p95 by node kind: " + ", ".join(f"{k} {ms(v)}" for k, v in m["expansion"]["by_kind_p95_s"].items())
    )


if __name__ == "__main__":
    main()
