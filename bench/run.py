"""Benchmarks: ingest throughput and memory, detection time and database memory, detection quality.

    python bench/run.py scale   [--sizes 25000 100000 400000]   ingest + detect per world size
    python bench/run.py quality [--sizes 25000 100000] [--seeds 2 3 4] [--networkx-up-to 100000]

Each world is generated (`ringwatch generate`), loaded into an emptied local database
(`ringwatch ingest`) and detected (`ringwatch detect`), every step in its own process as a
user would run it. Results go to bench/results/*.json and are printed as Markdown tables
for the README. The local server is restarted before each world so the database's peak
resident memory (VmHWM of the Neo4j process) belongs to that world alone.

Uses the configured local server (RINGWATCH_STATE, RINGWATCH_BOLT_PORT); it empties it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))


def ringwatch(*args: str) -> tuple[float, str]:
    """Run `ringwatch ARGS`; returns (seconds, stdout)."""
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ringwatch.cli", *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"ringwatch {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - t0, result.stdout


def child_peak_rss_kib(args: list[str]) -> tuple[float, int, str]:
    """Like ringwatch(), plus the peak RSS (KiB) of that process, read by a wrapper process."""
    code = (
        "import resource, subprocess, sys, json, time;"
        "t=time.monotonic();"
        "r=subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "print(json.dumps({'rc': r.returncode, 's': time.monotonic()-t,"
        " 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'out': r.stdout, 'err': r.stderr[-3000:]}))"
    )
    wrapped = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "ringwatch.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    info = json.loads(wrapped.stdout)
    if info["rc"] != 0:
        raise SystemExit(f"ringwatch {' '.join(args)} failed:\n{info['err']}")
    return info["s"], info["rss"], info["out"]


def neo4j_peak_rss_mib() -> float | None:
    from graph.db import server

    pid = server.running_pid()
    if not pid:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def empty_and_restart_server() -> None:
    """An empty database in a fresh server process, so its peak memory is the next world's alone."""
    from graph.db import server

    if not server.running_pid():
        server.start()
    ringwatch("db", "reset", "--yes")
    server.stop()
    server.start()


def world(accounts: int, seed: int, base: Path) -> tuple[Path, dict]:
    out = base / f"world-{accounts}-{seed}"
    if not (out / "truth" / "accounts.csv").exists():
        ringwatch("generate", str(out), "--accounts", str(accounts), "--seed", str(seed))
    counts = {}
    for f in sorted(out.glob("*.csv")):
        with f.open("rb") as fh:
            counts[f.name.removesuffix(".csv")] = sum(1 for _ in fh) - 1
    return out, counts


def flagged_accounts() -> set[str]:
    from graph.db.connection import open_driver, resolve_target
    from graph.detection.evaluate import flagged_accounts as flagged

    driver = open_driver(resolve_target())
    try:
        return set(flagged(driver)["account"])
    finally:
        driver.close()


def backend_agreement(folder: Path) -> dict:
    """Rerun detection with networkx on the same graph: its quality, and how far it agrees with GDS."""
    gds_flagged = flagged_accounts()
    seconds, _ = ringwatch("detect", "--backend", "networkx", "--top", "0")
    _, out = ringwatch("evaluate", str(folder / "truth"), "--json")
    nx_flagged = flagged_accounts()
    union = gds_flagged | nx_flagged
    return {
        "detect_seconds": round(seconds, 1),
        "quality": json.loads(out)["ringwatch"],
        "agreement_jaccard": round(len(gds_flagged & nx_flagged) / len(union), 4) if union else 1.0,
    }


def run_world(accounts: int, seed: int, base: Path, evaluate: bool, networkx: bool = False, warm: bool = False) -> dict:
    folder, counts = world(accounts, seed, base)
    empty_and_restart_server()
    report = base / f"ingest-{accounts}-{seed}.json"
    ingest_s, ingest_rss, _ = child_peak_rss_kib(["ingest", str(folder), "--report", str(report)])
    ingest_report = json.loads(report.read_text())
    detect_s, detect_rss, _ = child_peak_rss_kib(["detect", "--top", "0"])
    row = {
        "accounts": accounts,
        "seed": seed,
        "rows": counts,
        "total_rows": sum(counts.values()),
        "ingest_seconds": round(ingest_s, 1),
        "ingest_rows_per_second": ingest_report["rows_per_second"],
        "ingest_peak_rss_mib": round(ingest_rss / 1024, 1),
        "detect_seconds": round(detect_s, 1),
        "detect_process_peak_rss_mib": round(detect_rss / 1024, 1),
        "neo4j_peak_rss_mib": round(neo4j_peak_rss_mib() or 0, 1),
    }
    row["ingest_files"] = {
        name: {"rows": f["read"], "seconds": f["seconds"], "rows_per_second": f["rows_per_second"]}
        for name, f in ingest_report["files"].items()
    }
    if warm:
        # The same load again into the emptied database of the same server process: the rate
        # of a running server, without the JVM's first-minute compilation of hot code.
        ringwatch("db", "reset", "--yes")
        again = base / f"ingest-warm-{accounts}-{seed}.json"
        warm_s, _, _ = child_peak_rss_kib(["ingest", str(folder), "--report", str(again)])
        row["ingest_warm_seconds"] = round(warm_s, 1)
        row["ingest_warm_rows_per_second"] = json.loads(again.read_text())["rows_per_second"]
    if evaluate:
        _, out = ringwatch("evaluate", str(folder / "truth"), "--json")
        row["quality"] = json.loads(out)
    if networkx:
        row["networkx"] = backend_agreement(folder)
    print(json.dumps({k: v for k, v in row.items() if k not in ("quality", "networkx")}), flush=True)
    return row


def scale(args) -> None:
    base = Path(args.workdir)
    rows = []
    for n in args.sizes:
        rows.append(run_world(n, 1, base, evaluate=False, warm=True))
        save("scale.json", rows)  # after each world, so a long run that dies keeps what it measured
    print(
        "\n| accounts | rows | ingest s | ingest rows/s, just started | ingest rows/s, warm | ingest peak RSS "
        "| detect s | Neo4j peak RSS |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['accounts']:,} | {r['total_rows']:,} | {r['ingest_seconds']} | {r['ingest_rows_per_second']:,.0f} "
            f"| {r['ingest_warm_rows_per_second']:,.0f} | {r['ingest_peak_rss_mib']:.0f} MiB | {r['detect_seconds']} "
            f"| {r['neo4j_peak_rss_mib']:.0f} MiB |"
        )


def quality(args) -> None:
    base = Path(args.workdir)
    rows = []
    for n in args.sizes:
        for s in args.seeds:
            rows.append(run_world(n, s, base, evaluate=True, networkx=n <= args.networkx_up_to))
            save("quality.json", rows)
    print("\n| world | method | precision | recall | F1 | worst benign category (flagged) | mean best Jaccard |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        for method, q in r["quality"].items():
            print(
                f"| {r['accounts']:,} seed {r['seed']} | {method} | {q['precision']:.3f} | {q['recall']:.3f} "
                f"| {q['f1']:.3f} | {worst_benign(q)} | {q['mean_best_jaccard']} |"
            )
    print("\n| world | networkx precision | recall | F1 | worst benign | agreement with GDS (Jaccard) | nx detect s |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for r in rows:
        if "networkx" not in r:
            continue
        x, q = r["networkx"], r["networkx"]["quality"]
        print(
            f"| {r['accounts']:,} seed {r['seed']} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} "
            f"| {worst_benign(q)} | {x['agreement_jaccard']} | {x['detect_seconds']} |"
        )


def worst_benign(q: dict) -> str:
    cat, worst = max(q["benign_flagged"].items(), key=lambda kv: kv[1]["rate"])
    return f"{cat} {100 * worst['rate']:.2f}%" if worst["rate"] else "none (0.00%)"


def save(name: str, rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    for name, sizes, seeds in (("scale", [25_000, 100_000, 400_000], [1]), ("quality", [25_000, 100_000], [2, 3, 4])):
        p = sub.add_parser(name)
        p.add_argument("--sizes", type=int, nargs="+", default=sizes)
        p.add_argument("--seeds", type=int, nargs="+", default=seeds)
        default_dir = os.environ.get("RINGWATCH_BENCH_DIR", tempfile.gettempdir() + "/ringwatch-bench")
        p.add_argument("--workdir", default=default_dir)
        p.add_argument(
            "--networkx-up-to",
            type=int,
            default=100_000 if name == "quality" else 0,
            help="also run the networkx backend on worlds up to this size (quality only)",
        )
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    scale(args) if args.what == "scale" else quality(args)


if __name__ == "__main__":
    main()
