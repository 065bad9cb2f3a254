"""`python -m ingest.generate OUT_DIR --accounts N --seed S --format csv`: write a synthetic
delivery with ground truth and print the row count of every file as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ingest.files import FORMATS

from .writing import generate_world

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, generate the world, print the row counts as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.generate", description="Write a synthetic delivery with ground truth."
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--accounts", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", dest="fmt", default="csv", choices=sorted(FORMATS))
    parser.add_argument("--difficulty", type=float, default=0.0, help="0 (default) to 1: how hard the farms are")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        counts = generate_world(
            args.out_dir, args.accounts, args.seed, args.fmt, progress=not args.quiet, difficulty=args.difficulty
        )
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    sys.stdout.write(json.dumps(counts, indent=2) + "\n")


if __name__ == "__main__":
    main()
