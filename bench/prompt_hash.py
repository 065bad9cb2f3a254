"""How long prompt-template hashing takes on prompts written to make it slow.

    .venv/bin/python bench/prompt_hash.py [--sizes 4000,16000,65536,1048576] [--literal-max 65536]

For each adversarial prompt shape and size, prints the seconds `template_hash` takes
(`after`) and the seconds the published patterns take when applied literally with
Python's `re`, as ringwatch did before (`before`). The literal run is quadratic on these
shapes, so it is only timed up to --literal-max characters; beyond that the table shows an
extrapolation, marked `~`, with the growth measured between the two largest timed sizes
(t ~ n^k, k between 1 and 2).
Each figure is the best of --repeat runs (the machine's other load only adds to a run).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.prompts import MASKS, template_hash  # noqa: E402

_LITERAL = [(re.compile(p, f), r) for _, p, r, f in MASKS]


def literal_hash(text: str) -> str:
    """The published procedure, applied literally (the code before the linear masks)."""
    import hashlib

    for pattern, repl in _LITERAL:
        text = pattern.sub(repl, text)
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


SHAPES = {
    "one word, no @": lambda n: _fill("a", n),
    "digits and dots, no @": lambda n: _fill("1.a_", n),
    "unclosed “": lambda n: _fill("“", n),
    "unclosed ‘": lambda n: _fill("‘ ", n),
    "all attacks mixed": lambda n: _fill("‘“a.b_c-d%e+f", n),
    "many e-mails": lambda n: _fill("a@b.cd ", n),
    "many quotes": lambda n: _fill("'x' “y” ", n),
    "ordinary prose": lambda n: _fill('Summarise "this" at https://example.com/a?id=7 in 3 points. ', n),
}


def extrapolate(timed: list[tuple[int, float]], size: int) -> float | None:
    """Seconds at `size` from t ~ n^k through the two largest timed sizes (1 <= k <= 2)."""
    if len(timed) < 2:
        return None
    (n1, t1), (n2, t2) = timed[-2:]
    k = min(2.0, max(1.0, math.log(max(t2, 1e-9) / max(t1, 1e-9)) / math.log(n2 / n1)))
    return t2 * (size / n2) ** k


def best_of(fn, text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4000,16000,65536,1048576")
    ap.add_argument("--literal-max", type=int, default=65_536, help="largest size timed with the literal patterns")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    print(f"{'prompt':24} {'chars':>9} {'before s':>10} {'after s':>9}")
    for name, make in SHAPES.items():
        timed: list[tuple[int, float]] = []  # (size, seconds) of the literal runs
        for size in sizes:
            text = make(size)
            after = best_of(template_hash, text, args.repeat)
            if size <= args.literal_max:
                before = best_of(literal_hash, text, 1 if size > 20_000 else args.repeat)
                assert literal_hash(text) == template_hash(text), name
                timed.append((size, before))
                shown = f"{before:10.3f}"
            else:
                before = extrapolate(timed, size)
                shown = f"~{before:9.0f}" if before is not None else f"{'':>10}"
            rows.append(
                {
                    "prompt": name,
                    "chars": size,
                    "before_s": before,
                    "after_s": after,
                    "before_extrapolated": size > args.literal_max,
                }
            )
            print(f"{name:24} {size:9,} {shown} {after:9.3f}")
    worst = max(r["after_s"] for r in rows if r["chars"] == max(sizes))
    print(f"\nslowest {max(sizes):,}-character prompt: {worst:.3f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
