"""The scale benchmark: every step a lab runs, at each size, the ratios taken in one run.

    RINGWATCH_STATE=/tmp/rw-scale RINGWATCH_BOLT_PORT=7797 python bench/scale.py \\
        [--sizes 100000 300000 1000000] [--seed 1] [--workdir /tmp/ringwatch-scale]

Per size, on a generated world (`ringwatch generate`, cached in --workdir) and the
configured local server, which it empties; the server runs with the sized memory plan
(RINGWATCH_HEAP and RINGWATCH_PAGECACHE are removed from the environment of every step):

  1. bulk first load   `ringwatch ingest DIR --bulk` into an emptied, restarted server
  2. online load       `ringwatch ingest DIR` into an emptied, restarted server
  3. full detect       `ringwatch detect --full` on the online-loaded store
  4. quality           `ringwatch evaluate DIR/truth`
  5. app latency       bench/app_latency.py on that graph (queue, ring view, expansion, search)
  6. incremental       bench/incremental.py: the world cut into a first delivery and a 1 %
                       second one, incremental detect after the second against a full one

Each ringwatch step runs in its own process, as a user would run it, with its peak RSS;
the server's peak RSS (VmHWM) is read after the detect of step 3, so it covers the online
load and the detect. Results go to bench/results/scale_suite.json (--out) after each size
(a long run that dies keeps what it measured) and are printed as the README's table.
About 4 minutes at 100,000 accounts and 40 at 1,000,000 on this project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "bench"))

from run import child_peak_rss_kib, empty_and_restart_server, neo4j_peak_rss_mib, ringwatch, world  # noqa: E402


def load(folder: Path, report: Path, bulk: bool) -> dict:
    """One first load into an emptied, restarted server: seconds, rows/s, client peak RSS."""
    empty_and_restart_server()
    args = ["ingest", str(folder), "--report", str(report), *(["--bulk"] if bulk else [])]
    seconds, rss_kib, _ = child_peak_rss_kib(args)
    return {
        "seconds": round(seconds, 1),
        "rows_per_second": json.loads(report.read_text())["rows_per_second"],
        "client_peak_rss_mib": round(rss_kib / 1024, 1),
    }


def python_step(script: str, *args: str) -> None:
    """Run a bench script of this directory (its output goes to the JSON file it is given)."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench/{script} failed:\n{result.stderr[-3000:]}")


def run_size(accounts: int, seed: int, base: Path) -> dict:
    folder, counts = world(accounts, seed, base)
    rows = sum(counts.values())
    row: dict = {"accounts": accounts, "seed": seed, "rows": rows}
    print(f"{accounts:,} accounts, {rows:,} rows", flush=True)
    row["bulk"] = load(folder, base / f"bulk-{accounts}.json", bulk=True)
    print(f"  bulk {row['bulk']}", flush=True)
    row["online"] = load(folder, base / f"online-{accounts}.json", bulk=False)
    print(f"  online {row['online']}", flush=True)
    row["bulk_over_online"] = round(row["bulk"]["rows_per_second"] / row["online"]["rows_per_second"], 2)

    seconds, rss_kib, _ = child_peak_rss_kib(["detect", "--full", "--top", "0"])
    row["detect"] = {
        "seconds": round(seconds, 1),
        "client_peak_rss_mib": round(rss_kib / 1024, 1),
        "neo4j_peak_rss_mib": round(neo4j_peak_rss_mib() or 0, 1),
    }
    print(f"  detect {row['detect']}", flush=True)
    _, out = ringwatch("evaluate", str(folder / "truth"), "--json")
    q = json.loads(out)["ringwatch"]
    row["quality"] = {k: q[k] for k in ("precision", "recall", "f1")} | {
        "recall_by_style": {s: v["recall"] for s, v in q["recall_by_style"].items()},
        "worst_benign_rate": max((v["rate"] for v in q["benign_flagged"].values()), default=0.0),
    }
    print(f"  quality {row['quality']['precision']:.3f} / {row['quality']['recall']:.3f}", flush=True)

    app = base / f"app-{accounts}.json"
    python_step("app_latency.py", "--accounts", str(accounts), "--out", str(app))
    row["app"] = json.loads(app.read_text())
    print(f"  app {app}", flush=True)

    incremental = base / f"incremental-{accounts}.json"
    split = base / f"split-{accounts}"
    python_step("incremental.py", "--world", str(folder), "--workdir", str(split), "--out", str(incremental))
    row["incremental"] = json.loads(incremental.read_text())
    print(f"  incremental {incremental}", flush=True)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| accounts | rows | bulk rows/s | online rows/s | bulk / online | detect | detect client peak "
        "| Neo4j peak | incremental / full | same flagged set | F1 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        inc, detect = r["incremental"], r["detect"]
        lines.append(
            f"| {r['accounts']:,} | {r['rows']:,} | {r['bulk']['rows_per_second']:,.0f} "
            f"| {r['online']['rows_per_second']:,.0f} | {r['bulk_over_online']:.2f}x | {detect['seconds']:.0f} s "
            f"| {detect['client_peak_rss_mib'] / 1024:.2f} GiB | {detect['neo4j_peak_rss_mib'] / 1024:.2f} GiB "
            f"| {inc['ratio']:.2f} | {'yes' if inc['flagged_equal'] else 'NO'} | {r['quality']['f1']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ringwatch-scale"))
    parser.add_argument("--out", type=Path, default=RESULTS / "scale_suite.json")
    parser.add_argument("--table-only", action="store_true", help="print the table from the saved JSON (--out)")
    args = parser.parse_args()
    if args.table_only:
        print(table(json.loads(args.out.read_text())["rows"]))
        return
    for name in ("RINGWATCH_HEAP", "RINGWATCH_PAGECACHE"):  # the sized plan, as a user gets it
        os.environ.pop(name, None)
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0, rows = time.monotonic(), []
    for accounts in args.sizes:
        rows.append(run_size(accounts, args.seed, args.workdir))
        payload = {"config": {"sizes": args.sizes, "seed": args.seed}, "rows": rows}
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(table(rows))
    print(f"\n{time.monotonic() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
