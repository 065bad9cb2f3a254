"""Incremental detection after a 1% delivery against a full run of the same graph.

    RINGWATCH_STATE=/tmp/rw-bench RINGWATCH_BOLT_PORT=7793 python bench/incremental.py \\
        [--world /tmp/ringwatch-bench/world-100000-7-d0] [--share 0.01] [--seed 1]

A generated world (`ringwatch generate DIR --accounts N --seed S`) is cut in two
(ingest.generate.split): about `share` of its accounts, some members of three farms and
benign accounts at random, make the second delivery, the rest the first. The first is bulk
loaded into the emptied database and detected in full; the second is loaded online; then
`detect --incremental` runs (the plan line says whether it was) and, on the same final graph,
a full `detect`. Recorded per run: seconds (as `detect` measures itself, lock to commit, and
its steps), the region, the flagged accounts; then whether the flagged sets are equal, and
whether the rings outside the region kept their id, score, size, status and last run.

Both detections run on a warm server (the first full run read the store once already).
Uses the configured local server (RINGWATCH_STATE, RINGWATCH_BOLT_PORT); it empties it.
Results: bench/results/incremental.json (--out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.db import server  # noqa: E402
from graph.db.connection import open_driver, read  # noqa: E402
from graph.detection.detect import detect  # noqa: E402
from graph.detection.evaluate import flagged_set  # noqa: E402
from graph.detection.scoring import DEFAULT_THRESHOLD  # noqa: E402
from ingest.bulk import bulk_ingest  # noqa: E402
from ingest.generate.split import pick_later, split_delivery  # noqa: E402
from ingest.load import ingest  # noqa: E402

RINGS = """
MATCH (r:Ring)
RETURN r.id AS id, r.score AS score, r.size AS size, r.status AS status, r.last_run AS last_run,
       r.retired_run AS retired_run
"""


def rings(driver) -> dict[str, tuple]:
    """Each ring's (score, size, status, last run, run that retired it)."""
    return {r["id"]: (r["score"], r["size"], r["status"], r["last_run"], r["retired_run"]) for r in read(driver, RINGS)}


def categories(world: Path, accounts: set[str]) -> dict[str, int]:
    """How many of `accounts` are of each truth category (farm style, ring, or benign kind)."""
    truth = pd.read_csv(world / "truth" / "accounts.csv", dtype=str, keep_default_na=False)
    picked = truth[truth["account_id"].isin(accounts)]
    return {f"{c} {r}".strip(): int(n) for (c, r), n in picked.groupby(["category", "ring_id"]).size().items()}


def timed_detect(driver, incremental: bool) -> tuple[dict, object]:
    began = time.monotonic()
    result = detect(driver, threshold=DEFAULT_THRESHOLD, incremental=incremental, log=lambda line: print("  " + line))
    wall = time.monotonic() - began
    flagged = flagged_set(driver, DEFAULT_THRESHOLD)
    row = {
        "run": result.run_id,
        "kind": result.plan.get("kind"),
        "seconds": round(wall, 2),
        "steps": {k: round(v, 2) for k, v in result.timings.items()},
        "flagged_accounts": len(flagged),
        **{k: v for k, v in result.plan.items() if k in ("region", "touched", "replaced")},
    }
    return row, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=Path(tempfile.gettempdir()) / "ringwatch-bench/world-100000-7-d0")
    parser.add_argument("--share", type=float, default=0.01, help="Share of accounts in the second delivery.")
    parser.add_argument("--seed", type=int, default=1, help="Which accounts the second delivery holds.")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ringwatch-bench/incremental")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/incremental.json")
    args = parser.parse_args()

    later, farm = pick_later(args.world / "truth", args.share, args.seed)
    first, second = args.workdir / "first", args.workdir / "second"
    rows = split_delivery(args.world, later, first, second)
    second_rows = {name: r[1] for name, r in rows.items()}
    print(f"second delivery: {len(later):,} accounts ({len(farm)} of three farms), {sum(second_rows.values()):,} rows")

    server.reset()
    driver = open_driver()
    try:
        began = time.monotonic()
        bulk_ingest(driver, first, args.workdir / "first-report.json")
        print(f"first delivery bulk loaded in {time.monotonic() - began:.0f} s")
    finally:
        driver.close()
    driver = open_driver()  # the bulk load restarted the server
    try:
        print("full detection of the first delivery")
        before_row, _ = timed_detect(driver, incremental=False)
        before = rings(driver)
        began = time.monotonic()
        ingest(driver, second, args.workdir / "second-report.json")
        loaded = time.monotonic() - began
        print(f"second delivery loaded online in {loaded:.1f} s; incremental detection")
        incremental, flagged_incremental = timed_detect(driver, incremental=True)
        after = rings(driver)
        print("full detection of the same graph")
        full, flagged_full = timed_detect(driver, incremental=False)
    finally:
        driver.close()

    # outside the region: neither written (last run) nor retired by the incremental run
    run = incremental["run"]
    untouched = {rid: v for rid, v in before.items() if run not in after[rid][3:]}
    kept_outside = all(after[rid] == v for rid, v in untouched.items())
    result = {
        "world": args.world.name,
        "accounts": sum(1 for _ in open(args.world / "accounts.csv")) - 1,
        "second_delivery": {
            "accounts": len(later),
            "farm_members": len(farm),
            "rows": {k: v[1] for k, v in rows.items()},
        },
        "second_delivery_online_seconds": round(loaded, 2),
        "first_full": before_row,
        "incremental": incremental,
        "full": full,
        "ratio": round(incremental["seconds"] / full["seconds"], 3),
        "flagged_equal": flagged_incremental == flagged_full,
        "flagged_only_incremental": categories(args.world, flagged_incremental - flagged_full),
        "flagged_only_full": categories(args.world, flagged_full - flagged_incremental),
        "rings_outside_region": len(untouched),
        "rings_outside_region_unchanged": kept_outside,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
