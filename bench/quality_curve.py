"""Detection quality from easy to hard worlds: precision, recall and F1 per generator difficulty.

    RINGWATCH_STATE=/tmp/rw-bench RINGWATCH_BOLT_PORT=7793 python bench/quality_curve.py \\
        [--levels 0 0.25 0.5 0.75 1] [--seeds 3] [--accounts 20000] [--train 0:11 1:12] [--decisions 50]

For each difficulty level and seed, a world is generated (`ingest.generate`, difficulty in
[0, 1]) and loaded into the emptied local database; `detect` runs once on it (nothing
written, timed), and its evidence and communities are kept, so the variants below differ
only in what follows community detection (scoring, setting the background aside,
expansion), run in this process on the same communities:

    before      today's pipeline: no expansion, the default weights
    after       with membership expansion (graph.detection.expand), default weights
    calibrated  expansion, and the behaviour model fitted (graph.detection.calibrate) on
                decisions simulated on *other* worlds (--train LEVEL:SEED ...): on each,
                the top --decisions rings by score (or, with --sample queue-and-watch,
                half from the top of the queue and half from the top of the watch list,
                the rings just below the threshold), a ring with a farm majority
                confirmed, any other dismissed; the model carries the threshold calibrate
                suggests for precision 0.95 (0.5 with --no-suggested-threshold), and rings
                are scored as `detect` scores them with it: the larger of the default
                weights' score and the model's (graph.detection.scoring.ring_score)
    calibrated@T  the same model carrying threshold T instead, for each T of --sweep:
                the precision-recall trade-off on worlds the decisions did not come from,
                against the one point the suggested threshold picks

The `after` variant must flag the same accounts as the real `detect` run (checked). Each
variant is scored against the world's truth: precision, recall and F1 over farm accounts,
recall and misses per farm style, and benign accounts flagged per category. Results go to
bench/results/quality_curve.json (--out) and a chart beside it, quality_curve.png (drawn
with Pillow, which the app's dependencies bring); the tables for the README are printed.

Uses the configured local server (RINGWATCH_STATE, RINGWATCH_BOLT_PORT) and empties it; it
refuses a remote target. Worlds and their evidence are kept in --workdir, so a rerun with
--reuse skips generating and loading. About 2 minutes per 20,000-account world on 2 shared
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from graph.detection.calibrate import BEHAVIOURS, fit_report  # noqa: E402
from graph.detection.detect import drop_background  # noqa: E402
from graph.detection.evaluate import quality, read_truth  # noqa: E402
from graph.detection.expand import expand_found_rings  # noqa: E402
from graph.detection.fragments import merge_fragments  # noqa: E402
from graph.detection.scoring import DEFAULT_PARAMS, DEFAULT_THRESHOLD, score_communities  # noqa: E402

METHODS = ("before", "after", "calibrated")
STYLES = ("farm_small_prepaid", "farm_resproxy_pool", "farm_virtual_cards", "farm_hydra", "farm_company")


def _current(ev):
    """Evidence unpickled from an older cache, in today's shape (unpickling skips
    Evidence.__post_init__: links saved before they carried a degree get one, and a cache
    of every link, saved before evidence kept the shared ones, gets its totals counted)."""
    from graph.detection.evidence import Evidence

    return Evidence(ev.accounts, ev.payments, ev.ips, ev.templates, ev.population, getattr(ev, "private", None))


class World:
    """A generated world, loaded once: its truth, evidence, communities and a real detect run."""

    def __init__(self, args, level: float, seed: int, driver):
        from ingest.generate import generate_world

        self.level, self.seed = level, seed
        self.folder = Path(args.workdir) / f"world-{args.accounts}-{seed}-d{level:g}"
        if not (self.folder / "truth" / "rings.csv").exists():
            generate_world(self.folder, args.accounts, seed, difficulty=level)
        self.truth = read_truth(self.folder / "truth")
        cache = self.folder / "evidence.pkl"
        if args.reuse and cache.exists():
            ev, self.community, self.detected, self.timings = pickle.loads(cache.read_bytes())
            self.ev = _current(ev)
            return
        self._load_and_detect(driver)
        cache.write_bytes(pickle.dumps((self.ev, self.community, self.detected, self.timings)))

    def _load_and_detect(self, driver) -> None:
        from graph.db import server
        from graph.detection.communities import detect_communities
        from graph.detection.detect import detect
        from graph.detection.evidence import read_evidence
        from ingest.load import ingest

        server.reset()
        t0 = time.monotonic()
        ingest(driver, self.folder, self.folder.parent / f"{self.folder.name}-ingest.json", console=Console(quiet=True))
        ingest_s = time.monotonic() - t0
        result = detect(driver, write=False, log=lambda _: None)
        self.detected = set(flagged(result.rings, result.members, result.threshold)["account"])
        self.timings = {"ingest": round(ingest_s, 1), **{k: round(v, 1) for k, v in result.timings.items()}}
        self.ev = read_evidence(driver)
        self.community, _ = detect_communities(driver, self.ev, "gds", DEFAULT_PARAMS)

    def run(self, params: dict) -> tuple[pd.DataFrame, pd.DataFrame, float]:
        """(rings, members, seconds) of detection after community detection, with `params`
        (flagged at DEFAULT_THRESHOLD: a calibrated model carries its own threshold)."""
        threshold = DEFAULT_THRESHOLD
        t0 = time.monotonic()
        p = {**DEFAULT_PARAMS, **params}
        community = merge_fragments(self.ev, self.community, p)[0] if p["merge_fragments"] else self.community
        rings, members = score_communities(self.ev, community, p, threshold=threshold)
        rings, members, _ = drop_background(rings, members, self.ev.n_accounts, threshold, p)
        if p["expand"]:
            rings, members, _ = expand_found_rings(self.ev, community, rings, members, threshold, p)
        return rings, members, time.monotonic() - t0


def flagged(rings: pd.DataFrame, members: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """(account, ring) of the members of rings at or above the threshold."""
    found = rings.loc[rings["score"] >= threshold, "community"]
    return members[members["community"].isin(found)].rename(columns={"community": "ring"})[["account", "ring"]]


def summary(truth: pd.DataFrame, rings: pd.DataFrame, members: pd.DataFrame, threshold: float) -> dict:
    """The figures a curve point keeps."""
    found = flagged(rings, members, threshold)
    q = quality(truth, found)
    farms = truth[truth["ring_id"] != ""]
    missed = farms[~farms["account_id"].isin(set(found["account"]))].groupby("category").size()
    return {
        "precision": q["precision"],
        "recall": q["recall"],
        "f1": q["f1"],
        "flagged": q["flagged"],
        "threshold": threshold,
        "mean_best_jaccard": q["mean_best_jaccard"],
        "recall_by_style": {s: v["recall"] for s, v in q["recall_by_style"].items()},
        "missed_by_style": {s: int(missed.get(s, 0)) for s in q["recall_by_style"]},
        "benign_flagged": {c: v["flagged"] for c, v in q["benign_flagged"].items()},
        "benign_rate": {c: v["rate"] for c, v in q["benign_flagged"].items()},
    }


def decided(world: World, n: int, sample: str = "top") -> pd.DataFrame:
    """Simulated analysts: `n` rings, a farm majority confirmed, any other dismissed. Which
    rings (`sample`): `top`, the queue's first `n` by score; `queue-and-watch`, the queue's
    first n/2 and the watch list's first n/2 (the highest-scoring rings below the threshold),
    as a team that also reviews what the score only watches. The other rings come back as
    `undecided` (status)."""
    rings, members, _ = world.run({})
    farm_of = world.truth.set_index("account_id")["ring_id"].ne("")
    share = members.assign(farm=members["account"].map(farm_of)).groupby("community")["farm"].mean()
    by_score = rings.sort_values("score", ascending=False)
    top = by_score.head(n)
    if sample == "queue-and-watch":
        above = by_score["score"] >= DEFAULT_THRESHOLD
        top = pd.concat([by_score[above].head(n - n // 2), by_score[~above].head(n // 2)])
    columns = ["community", "score", "partner_flagged", "private_share", *BEHAVIOURS]
    out = top[columns].copy()
    out["status"] = ["confirmed" if share.get(c, 0) >= 0.5 else "dismissed" for c in top["community"]]
    rest = by_score.loc[~by_score["community"].isin(top["community"]), columns].assign(status="undecided")
    return pd.concat([out, rest], ignore_index=True)


def calibration(args, driver) -> tuple[dict | None, dict | None]:
    """Fit the behaviour model on decisions simulated on the training worlds."""
    if not args.train:
        return None, None
    frames = []
    for spec in args.train:
        level, seed = spec.split(":")
        frame = decided(World(args, float(level), int(seed), driver), args.decisions, args.sample)
        frames.append(frame.assign(ring=spec + ":" + frame["community"].astype(str)))
        print(f"training world {spec}: {frames[-1]['status'].value_counts().to_dict()}", flush=True)
    rings = pd.concat(frames, ignore_index=True)
    undecided = rings["status"].eq("undecided")
    fit = fit_report(rings[~undecided])
    if fit.fitted and not args.suggested_threshold:
        fit.suggested_threshold = None  # the model then flags at 0.5
    keys = (
        "fitted",
        "message",
        "decisions",
        "positives",
        "negatives",
        "intercept",
        "coef",
        "penalty",
        "cv",
        "suggested_threshold",
    )
    info = {k: getattr(fit, k) for k in keys} | {"train": args.train}
    print(json.dumps({k: info[k] for k in ("message", "coef", "intercept", "penalty")}), flush=True)
    return (fit.model if fit.fitted else None), info


def curve(args, driver, model: dict | None) -> list[dict]:
    variants = {"before": {"expand": False}, "after": {}}
    if model is not None:
        variants["calibrated"] = {"behaviour_model": model}
        for at in args.sweep:
            variants[f"calibrated@{at:g}"] = {"behaviour_model": {**model, "threshold": at}}
    rows = []
    for level in args.levels:
        for seed in args.seeds:
            world = World(args, level, seed, driver)
            for method, params in variants.items():
                rings, members, seconds = world.run(params)
                row = {
                    "level": level,
                    "seed": seed,
                    "accounts": args.accounts,
                    "method": method,
                    "model_threshold": (params.get("behaviour_model") or {}).get("threshold"),
                    "after_detect_seconds": round(seconds, 1),
                    "timings": world.timings,
                    **summary(world.truth, rings, members, DEFAULT_THRESHOLD),
                }
                if method == "after":
                    same = set(flagged(rings, members)["account"]) == world.detected
                    assert same, f"level {level} seed {seed}: the bench's pipeline and detect() disagree"
                rows.append(row)
                print(
                    json.dumps({k: row[k] for k in ("level", "seed", "method", "precision", "recall", "f1")}),
                    flush=True,
                )
            save(args, rows, None)
    return rows


def save(args, rows: list[dict], calibration_info: dict | None) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keys = ("levels", "seeds", "accounts", "train", "decisions", "sample", "suggested_threshold", "sweep")
    out = {"config": {k: getattr(args, k) for k in keys}, "rows": rows, "calibration": calibration_info}
    args.out.write_text(json.dumps(out, indent=2))


def mean_rows(rows: list[dict]) -> pd.DataFrame:
    """One row per (level, method): means over seeds; misses and benign flags summed."""
    frame = pd.DataFrame(rows)
    # the sweep's variants (calibrated@T) after the methods, by threshold
    order = {m: float(i) for i, m in enumerate(METHODS)}
    frame["order"] = [order.get(m, len(METHODS) + float(m.partition("@")[2] or 0)) for m in frame["method"]]
    out = []
    for (level, _, method), g in frame.groupby(["level", "order", "method"], sort=True):
        missed = pd.DataFrame(list(g["missed_by_style"])).sum()
        benign = pd.DataFrame(list(g["benign_flagged"])).sum()
        out.append(
            {
                "level": level,
                "method": method,
                "precision": g["precision"].mean(),
                "recall": g["recall"].mean(),
                "f1": g["f1"].mean(),
                "missed": ", ".join(f"{s.removeprefix('farm_')} {int(n)}" for s, n in missed.items() if n) or "none",
                "benign": ", ".join(f"{c} {int(n)}" for c, n in benign.items() if n) or "none",
            }
        )
    return pd.DataFrame(out)


def print_table(rows: list[dict]) -> None:
    print("\n| level | method | precision | recall | F1 | farm accounts missed, by style | benign accounts flagged |")
    print("| ---: | --- | ---: | ---: | ---: | --- | --- |")
    for r in mean_rows(rows).itertuples():
        print(
            f"| {r.level:g} | {r.method} | {r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} | {r.missed} | {r.benign} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    world_options(parser, levels=[0.0, 0.25, 0.5, 0.75, 1.0], seeds=[3], accounts=20_000)
    parser.add_argument(
        "--train",
        nargs="*",
        default=["0:11", "1:12"],
        metavar="LEVEL:SEED",
        help="worlds whose simulated decisions calibrate the model (none: skip calibration)",
    )
    parser.add_argument("--decisions", type=int, default=50, help="rings decided per training world")
    parser.add_argument(
        "--sample",
        choices=("top", "queue-and-watch"),
        default="top",
        help="which rings the simulated analysts decide (see above)",
    )
    parser.add_argument(
        "--suggested-threshold",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="calibrated: the model carries the threshold calibrate suggests for precision 0.95 (else 0.5)",
    )
    parser.add_argument(
        "--sweep",
        type=float,
        nargs="*",
        default=[],
        metavar="T",
        help="calibrated: also with the model carrying each of these thresholds (a variant calibrated@T per T)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "quality_curve.json", help="results (the chart goes beside it, .png)"
    )
    parser.add_argument("--chart-only", action="store_true", help="redraw the chart from the saved JSON")
    args = parser.parse_args()
    if args.chart_only:
        draw(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return
    run(args)


def world_options(parser: argparse.ArgumentParser, levels: list[float], seeds: list[int], accounts: int) -> None:
    """The options of a bench that generates and loads worlds: which, how big, and where they are kept."""
    parser.add_argument("--levels", type=float, nargs="+", default=levels)
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--accounts", type=int, default=accounts)
    parser.add_argument(
        "--workdir", default=os.environ.get("RINGWATCH_BENCH_DIR", tempfile.gettempdir() + "/ringwatch-bench")
    )
    parser.add_argument("--reuse", action="store_true", help="reuse worlds loaded and detected by an earlier run")


def scratch_driver(args, bench: str):
    """A driver on the local scratch server the bench empties (refusing any other target)."""
    from graph.db.connection import open_driver, resolve_target

    if not resolve_target().local:
        raise SystemExit(f"{bench} empties the database: point it at a local scratch server (RINGWATCH_STATE)")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    return open_driver()


def run(args) -> None:
    t0 = time.monotonic()
    driver = scratch_driver(args, "quality_curve")
    try:
        model, info = calibration(args, driver)
        rows = curve(args, driver, model)
    finally:
        driver.close()
    save(args, rows, info)
    draw(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
    print_table(rows)
    print(f"\n{time.monotonic() - t0:.0f} s in all")


# --- the chart (Pillow) -----------------------------------------------------------------------

COLOURS = {"before": (150, 150, 150), "after": (31, 119, 180), "calibrated": (44, 160, 44)}
STYLE_COLOURS = {
    "farm_small_prepaid": (148, 103, 189),
    "farm_resproxy_pool": (255, 127, 14),
    "farm_virtual_cards": (140, 86, 75),
    "farm_hydra": (214, 39, 40),
    "farm_company": (23, 190, 207),
}
PANEL_W, PANEL_H, MARGIN = 620, 380, 60


def _font(size: int):
    return ImageFont.load_default(size=size)


class Panel:
    """One chart: x = difficulty level in [0, 1], y in [0, 1], with grid, axes and a title."""

    def __init__(self, draw: ImageDraw.ImageDraw, left: int, top: int, title: str, low: float = 0.0):
        self.d, self.left, self.top, self.low = draw, left, top, low
        self.x0, self.y0 = left + MARGIN, top + PANEL_H - 40
        self.w, self.h = PANEL_W - MARGIN - 20, PANEL_H - 110
        draw.text((left + MARGIN, top + 8), title, fill="black", font=_font(17))
        step = 0.2 if low < 0.5 else 0.1
        for i in range(round((1 - low) / step) + 1):
            value = low + step * i
            y = self.y(value)
            draw.line([(self.x0, y), (self.x0 + self.w, y)], fill=(225, 225, 225))
            draw.text((self.x0 - 44, y - 8), f"{value:.2f}", fill="black", font=_font(13))
        draw.rectangle([self.x0, self.y(1), self.x0 + self.w, self.y0], outline="black")
        draw.text((self.x0 + self.w // 2 - 70, self.y0 + 14), "generator difficulty", fill="black", font=_font(13))

    def x(self, level: float) -> float:
        return self.x0 + level * self.w

    def y(self, value: float) -> float:
        return self.y0 - (value - self.low) / (1 - self.low) * self.h

    def series(self, points: list[tuple[float, float]], colour, width: int = 3, dotted: bool = False) -> None:
        xy = [(self.x(a), self.y(b)) for a, b in sorted(points)]
        for (a, b), (c, e) in zip(xy, xy[1:], strict=False):
            if dotted:
                for k in range(0, 10, 2):
                    self.d.line(
                        [
                            (a + (c - a) * k / 10, b + (e - b) * k / 10),
                            (a + (c - a) * (k + 1) / 10, b + (e - b) * (k + 1) / 10),
                        ],
                        fill=colour,
                        width=width,
                    )
            else:
                self.d.line([(a, b), (c, e)], fill=colour, width=width)
        for a, b in xy:
            self.d.ellipse([a - 4, b - 4, a + 4, b + 4], fill=colour)
        for level, _ in points:
            self.d.text((self.x(level) - 10, self.y0 + 2), f"{level:g}", fill="black", font=_font(12))

    def legend(self, entries: list[tuple[str, tuple]], row: int = 0) -> None:
        x = self.x0
        for name, colour in entries:
            y = self.top + 32 + 18 * row
            self.d.line([(x, y + 7), (x + 22, y + 7)], fill=colour, width=4)
            self.d.text((x + 28, y), name, fill="black", font=_font(13))
            x += 40 + 8 * len(name)


def draw(saved: dict, path: Path) -> None:
    """A 2 x 2 chart: F1, recall and precision per method, and recall per farm style."""
    frame = pd.DataFrame(saved["rows"])
    means = frame.groupby(["method", "level"])[["precision", "recall", "f1"]].mean().reset_index()
    image = Image.new("RGB", (2 * PANEL_W, 2 * PANEL_H + 40), "white")
    canvas = ImageDraw.Draw(image)
    seeds, accounts = saved["config"]["seeds"], saved["config"]["accounts"]
    canvas.text(
        (20, 10),
        f"ringwatch detection quality by generator difficulty ({accounts:,} accounts, "
        f"seeds {', '.join(map(str, seeds))})",
        fill="black",
        font=_font(18),
    )
    methods = [m for m in METHODS if m in set(means["method"])]
    low = min(0.8, float(np.floor(means[["precision", "recall", "f1"]].min().min() * 5) / 5))
    for i, metric in enumerate(("f1", "recall", "precision")):
        title = metric if metric != "f1" else "F1"
        panel = Panel(canvas, (i % 2) * PANEL_W, 40 + (i // 2) * PANEL_H, title, low)
        for m in methods:
            part = means[means["method"] == m]
            panel.series(list(zip(part["level"], part[metric], strict=True)), COLOURS[m])
        panel.legend([(m, COLOURS[m]) for m in methods])
    _styles_panel(canvas, frame, "after")
    image.save(path)


def _styles_panel(canvas: ImageDraw.ImageDraw, frame: pd.DataFrame, best: str) -> None:
    panel = Panel(canvas, PANEL_W, 40 + PANEL_H, f"recall by farm style: {best} (solid), before (dotted)")
    for method, dotted in (("before", True), (best, False)):
        part = frame[frame["method"] == method]
        for style in STYLES:
            points = part.groupby("level")["recall_by_style"].apply(
                lambda s, style=style: sum(r.get(style, 1.0) for r in s) / len(s)
            )
            panel.series(list(points.items()), STYLE_COLOURS[style], width=2 if dotted else 3, dotted=dotted)
    entries = [(s.removeprefix("farm_"), STYLE_COLOURS[s]) for s in STYLES]
    panel.legend(entries[:3], row=0)
    panel.legend(entries[3:], row=1)


if __name__ == "__main__":
    main()
